"""PDF and DOCX loading, the problems of files that are skipped, and the one summary line
that reports them (`load_files`, `llmkit ingest`, a corpus building itself for a run)."""

from __future__ import annotations

import io
import logging
import sys
import zipfile

import pytest

from llmkit.cli import main
from llmkit.nodes.generation.context import build_context
from llmkit.nodes.retrieval.corpus import Corpus
from llmkit.nodes.retrieval.documents import load_files, read_chunks, split
from llmkit.nodes.retrieval.embedders import HashingEmbedder
from llmkit.nodes.retrieval.skipped import skipped_summary
from tests.extras import require


def pdf_bytes(pages: list[str]) -> bytes:
    """A PDF whose pages show the given lines in Helvetica, written by hand (xref and all)."""
    n = len(pages)
    objects = ["<< /Type /Catalog /Pages 2 0 R >>",
               f"<< /Type /Pages /Kids [{' '.join(f'{4 + 2 * i} 0 R' for i in range(n))}] "
               f"/Count {n} >>",
               "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"]
    for i, text in enumerate(pages):
        shown = " ".join(f"({line}) Tj T*" for line in text.split("\n"))
        stream = f"BT /F1 12 Tf 72 720 Td 14 TL {shown} ET"
        objects.append(f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources "
                       f"<< /Font << /F1 3 0 R >> >> /Contents {5 + 2 * i} 0 R >>")
        objects.append(f"<< /Length {len(stream)} >>\nstream\n{stream}\nendstream")
    out, offsets = io.BytesIO(), []
    out.write(b"%PDF-1.4\n")
    for number, body in enumerate(objects, 1):
        offsets.append(out.tell())
        out.write(f"{number} 0 obj\n{body}\nendobj\n".encode())
    xref = out.tell()
    out.write(f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode())
    out.write("".join(f"{o:010d} 00000 n \n" for o in offsets).encode())
    out.write(f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n"
              f"%%EOF\n".encode())
    return out.getvalue()


def encrypted(data: bytes, password: str) -> bytes:
    pypdf = require("pypdf", "pdf")
    writer = pypdf.PdfWriter(clone_from=pypdf.PdfReader(io.BytesIO(data)))
    writer.encrypt(password, algorithm="RC4-128")  # pure Python: no cryptography package
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


PAGES = ["Llamas live in the Andes.\nThey carry loads.",
         "Alpacas give fine wool.\nThey are smaller than llamas.",
         "Vicunas are wild.\nTheir wool is the finest of all."]

W = 'xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"'


def docx_bytes() -> bytes:
    """A Word document with a heading, paragraphs, a list item and a table."""
    def p(text: str, style: str = "", numbered: bool = False) -> str:
        props = (f'<w:pStyle w:val="{style}"/>' if style else "") + (
            '<w:numPr><w:numId w:val="1"/></w:numPr>' if numbered else "")
        return (f"<w:p><w:pPr>{props}</w:pPr><w:r><w:t>{text}</w:t></w:r></w:p>" if props
                else f"<w:p><w:r><w:t xml:space=\"preserve\">{text}</w:t></w:r></w:p>")

    cells = [["Animal", "Wool"], ["Alpaca", "fine"]]
    table = "<w:tbl>" + "".join(
        "<w:tr>" + "".join(f"<w:tc>{p(c)}</w:tc>" for c in row) + "</w:tr>"
        for row in cells) + "</w:tbl>"
    body = (p("Camelids", "Heading1") + p("Llamas live in the Andes.")
            + '<w:p><w:r><w:t>Tabs</w:t></w:r><w:r><w:tab/><w:t>and breaks</w:t><w:br/>'
              '<w:t>here.</w:t></w:r></w:p>'
            + p("carry loads", numbered=True) + table + p(""))
    styles = (f'<w:styles {W}><w:style w:type="paragraph" w:styleId="Heading1">'
              '<w:name w:val="heading 1"/></w:style></w:styles>')
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("word/document.xml",
                         f"<w:document {W}><w:body>{body}<w:sectPr/></w:body></w:document>")
        archive.writestr("word/styles.xml", styles)
    return out.getvalue()


def test_a_pdf_is_read_page_by_page_and_its_chunks_cite_their_page(tmp_path):
    require("pypdf", "pdf")
    (tmp_path / "animals.pdf").write_bytes(pdf_bytes(PAGES))
    (doc,), problems = load_files(tmp_path)
    assert problems == [] and doc["format"] == "pdf"
    texts = [doc["text"][start:end].strip() for start, end in
             zip(doc["pages"], [*doc["pages"][1:], len(doc["text"])], strict=True)]
    assert texts == PAGES
    chunks = split(doc, size=60, overlap=0)
    assert [c["page"] for c in chunks] == [1, 2, 3]
    assert chunks[1]["text"].startswith("Alpacas")
    assert list(read_chunks(tmp_path / "animals.pdf", "animals.pdf", 60, 0)) == chunks

    corpus = Corpus(None, embedder=HashingEmbedder(dim=64), chunk_size=60, overlap=0)
    corpus.ingest(tmp_path)
    (hit,) = corpus.keyword_search(["vicunas"], 1)[0]
    assert hit["metadata"]["page"] == 3
    (source,) = build_context([hit])["sources"]
    assert (source["source"], source["page"]) == ("animals.pdf", 3)


def test_encrypted_broken_and_empty_pdfs_are_skipped_with_a_reason(tmp_path):
    require("pypdf", "pdf")
    good = pdf_bytes(PAGES[:1])
    (tmp_path / "locked.pdf").write_bytes(encrypted(good, "secret"))
    (tmp_path / "open.pdf").write_bytes(encrypted(good, ""))  # no password needed to read
    (tmp_path / "broken.pdf").write_bytes(b"%PDF-1.4\nthis is not a PDF at all")
    (tmp_path / "scan.pdf").write_bytes(pdf_bytes([""]))
    docs, problems = load_files(tmp_path)
    assert [d["source"] for d in docs] == ["open.pdf"]
    assert docs[0]["text"].startswith("Llamas live")
    why = {p["source"]: (p["kind"], p["error"]) for p in problems}
    assert why["locked.pdf"] == ("unreadable", "encrypted: the PDF needs a password")
    assert why["broken.pdf"][0] == "unreadable"
    assert why["broken.pdf"][1].startswith("not a readable PDF")
    assert why["scan.pdf"][0] == "no text"
    assert "Traceback" not in str(why)


def test_without_pypdf_a_pdf_is_skipped_naming_the_extra(tmp_path, monkeypatch):
    (tmp_path / "a.pdf").write_bytes(pdf_bytes(PAGES[:1]))
    (tmp_path / "a.md").write_text("# A\n\nText.", encoding="utf-8")
    monkeypatch.setitem(sys.modules, "pypdf", None)  # makes `import pypdf` fail
    docs, problems = load_files(tmp_path)
    assert [d["source"] for d in docs] == ["a.md"]
    assert problems == [{"source": "a.pdf", "kind": "needs extra",
                         "error": "PDF support is not installed: pip install 'llmkit[pdf]'"}]


def test_a_docx_reads_headings_paragraphs_list_items_and_table_rows(tmp_path):
    (tmp_path / "camelids.docx").write_bytes(docx_bytes())
    (tmp_path / "fake.docx").write_bytes(b"PK\x03\x04 not really a zip")
    (doc,), problems = load_files(tmp_path)
    assert doc["format"] == "docx"
    assert doc["text"] == ("# Camelids\n\nLlamas live in the Andes.\n\nTabs\tand breaks\nhere."
                           "\n\n- carry loads\n\nAnimal | Wool\nAlpaca | fine")
    assert split(doc, size=400)[0]["section"] == "Camelids"
    assert [(p["source"], p["kind"]) for p in problems] == [("fake.docx", "unreadable")]
    assert problems[0]["error"].startswith("not a readable DOCX (BadZipFile")


def test_files_llmkit_cannot_read_are_reported_not_silently_dropped(tmp_path):
    (tmp_path / "a.md").write_text("text", encoding="utf-8")
    (tmp_path / "photo.png").write_bytes(b"\x89PNG")
    (tmp_path / "more.png").write_bytes(b"\x89PNG")
    (tmp_path / "bundle.zip").write_bytes(b"PK")
    (tmp_path / "notes.txt").write_text("left out on purpose", encoding="utf-8")
    (tmp_path / ".hidden.png").write_bytes(b"\x89PNG")
    _, problems = load_files(tmp_path, patterns=["**/*.md"])
    assert sorted(p["source"] for p in problems) == ["bundle.zip", "more.png", "photo.png"]
    assert {p["kind"] for p in problems} == {"unsupported"}
    _, problems = load_files(tmp_path / "a.md")  # a file, not a folder: nothing else to say
    assert problems == []


def test_the_summary_line_groups_the_skipped_files_by_why():
    problems = [{"source": "a.png", "kind": "unsupported", "error": "unsupported file type"},
                {"source": "b.zip", "kind": "unsupported", "error": "unsupported file type"},
                {"source": "c.png", "kind": "unsupported", "error": "unsupported file type"},
                {"source": "bad.pdf", "kind": "unreadable", "error": "encrypted"}]
    assert skipped_summary(problems) == (
        "skipped 4 files: 3 unsupported (.png, .zip), 1 unreadable (bad.pdf: encrypted)")
    many = [{"source": f"{i}.md", "kind": "binary", "error": "NUL"} for i in range(5)]
    assert skipped_summary(many, shown=2) == (
        "skipped 5 files: 5 binary (0.md: NUL; 1.md: NUL; +3 more)")
    assert skipped_summary([]) == ""


@pytest.fixture
def mixed(tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.md").write_text("# A\n\nLlamas carry loads.", encoding="utf-8")
    (docs / "logo.png").write_bytes(b"\x89PNG")
    (docs / "bad.txt").write_bytes(b"\x00\x01binary")
    return docs


def test_ingest_prints_one_summary_line_and_details_with_verbose(mixed, tmp_path, capsys):
    index = str(tmp_path / "index")
    assert main(["ingest", str(mixed), "--index", index]) == 0
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["llmkit: warning: skipped 2 files: 1 unsupported (.png), "
                   "1 binary (bad.txt: binary file (contains NUL bytes))"]
    assert main(["ingest", str(mixed), "--index", index, "--verbose"]) == 0
    err = capsys.readouterr().err.strip().splitlines()
    assert err[:2] == ["skipped bad.txt: binary file (contains NUL bytes)",
                       "skipped logo.png: unsupported file type (.png)"]
    assert err[2].startswith("llmkit: warning: skipped 2 files") and len(err) == 3


def test_a_corpus_building_itself_for_a_run_warns_with_the_summary(mixed, caplog):
    corpus = Corpus(None, source=str(mixed), embedder=HashingEmbedder(dim=64))
    with caplog.at_level(logging.WARNING, logger="llmkit.corpus"):
        assert len(corpus) == 1  # the first use ingests
    assert [r.getMessage() for r in caplog.records] == [
        f"llmkit: warning: {mixed}: skipped 2 files: 1 unsupported (.png), "
        "1 binary (bad.txt: binary file (contains NUL bytes))"]
