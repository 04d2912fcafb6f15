"""load_files and split: problems per file, HTML text, chunk bounds, overlap, ids, headings."""

from __future__ import annotations

import re
from itertools import pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llmkit.nodes.retrieval.documents import DocumentsNotFoundError, load_files, sentences, split


@pytest.fixture
def corpus(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / ".git").mkdir()
    (tmp_path / "a.md").write_text("# Title\n\nHello world.", encoding="utf-8")
    (tmp_path / "sub" / "b.txt").write_text("plain text", encoding="utf-8")
    (tmp_path / "page.html").write_text(
        "<html><head><title>My  Page</title><style>p {color: red}</style></head><body>"
        "<h2>Intro</h2><p>First &amp; foremost.</p><script>alert('x')</script>"
        "<ul><li>one</li><li>two</li></ul></body></html>", encoding="utf-8")
    (tmp_path / "binary.txt").write_bytes(b"abc\x00\x01\x02")
    (tmp_path / "latin1.md").write_bytes("caf\xe9".encode("latin-1"))
    (tmp_path / "utf16.txt").write_text("wide text", encoding="utf-16")
    (tmp_path / ".git" / "hidden.md").write_text("secret", encoding="utf-8")
    (tmp_path / "image.png").write_bytes(b"\x89PNG")
    return tmp_path


def test_load_directory_reports_problems_per_file(corpus):
    docs, problems = load_files(corpus)
    by_id = {d["id"]: d for d in docs}
    assert sorted(by_id) == ["a.md", "page.html", "sub/b.txt", "utf16.txt"]
    assert by_id["a.md"]["text"] == "# Title\n\nHello world."
    assert by_id["a.md"]["source"] == "a.md" and len(by_id["a.md"]["sha256"]) == 64
    assert by_id["utf16.txt"]["text"] == "wide text"
    page = by_id["page.html"]
    assert page["title"] == "My Page" and page["format"] == "html"
    assert page["text"] == "## Intro\n\nFirst & foremost.\n\n- one\n\n- two"
    kinds = {p["source"]: p["kind"] for p in problems}
    assert kinds == {"binary.txt": "binary", "latin1.md": "encoding", "image.png": "unsupported"}


def test_load_single_file_and_glob(corpus):
    docs, problems = load_files(corpus / "a.md")
    assert [d["id"] for d in docs] == ["a.md"] and problems == []
    docs, _ = load_files(str(corpus) + "/**/*.txt")
    assert sorted(d["id"] for d in docs) == ["sub/b.txt", "utf16.txt"]


def test_missing_path_raises_file_not_found(tmp_path):
    with pytest.raises(DocumentsNotFoundError, match="no such file"):
        load_files(tmp_path / "missing")
    with pytest.raises(FileNotFoundError, match="no files match"):
        load_files(str(tmp_path / "*.nothing"))


def test_sentences():
    assert sentences('He said "hi." Then left! Really? (Yes.) End') == [
        'He said "hi."', "Then left!", "Really?", "(Yes.)", "End"]


def markdown(sections: int, sentences_per_section: int) -> str:
    parts = []
    for s in range(sections):
        body = " ".join(f"Sentence {i} of section {s} talks about topic {i * s}."
                        for i in range(sentences_per_section))
        parts.append(f"## Section {s}\n\n{body}\n\nA second paragraph for section {s}.")
    return "\n\n".join(parts)


def test_chunks_within_bounds_overlapping_and_stable():
    doc = {"id": "doc.md", "source": "doc.md", "format": "md", "text": markdown(6, 14)}
    chunks = split(doc, size=400, overlap=80)
    assert len(chunks) > 6
    for c in chunks:
        assert 0 < len(c["text"]) <= 400
        assert doc["text"][c["start"]:c["end"]] == c["text"]
    for a, b in pairwise(chunks):
        assert a["start"] < b["start"] and b["start"] >= a["end"] - 80
    overlapping = [b for a, b in pairwise(chunks) if b["start"] < a["end"]]
    assert overlapping and all(re.match(r"[A-Z#]", b["text"]) for b in overlapping)
    assert [c["id"] for c in split(dict(doc), size=400, overlap=80)] == [c["id"] for c in chunks]
    assert len({c["id"] for c in chunks}) == len(chunks)


def test_sections_start_chunks_with_their_heading():
    doc = {"id": "d", "format": "md", "text": markdown(5, 14)}
    chunks = split(doc, size=500, overlap=100)
    heading_starts = [m.start() for m in re.finditer(r"^## ", doc["text"], re.MULTILINE)]
    starts = {c["start"]: c for c in chunks}
    for position in heading_starts:
        assert position in starts, "each section begins a chunk"
        assert starts[position]["text"].startswith("## Section")
    assert all(not c["text"].rstrip().splitlines()[-1].startswith("#") for c in chunks)
    assert chunks[3]["section"].startswith("Section")


@pytest.mark.parametrize("fence", ["```", "~~~~"])
def test_lines_inside_a_code_block_are_never_headings(fence):
    # a shell comment read as a Markdown heading, and a closing fence read as the RST
    # underline of the line above it, named (and cut) sections after code lines
    # a fence line with an info string opens a block but never closes one
    code = f"{fence}bash\n{fence}py\n# a shell comment\nllmkit serve: listening\n{fence}\n"
    text = (f"# Serving\n\n{'Some prose here. ' * 20}\n\n{code}\n{'More prose. ' * 30}\n"
            f"Run this:\n{fence}\nllmkit run\n{fence}\n{'Tail prose. ' * 30}\n")
    chunks = split({"id": "d", "format": "md", "text": text}, size=200, overlap=20)
    assert {c["section"] for c in chunks} == {"Serving"}


def test_long_word_is_cut_and_plain_text_has_no_headings():
    doc = {"id": "t", "format": "txt", "text": "x" * 250 + " # not a heading\n# still text"}
    chunks = split(doc, size=100, overlap=10)
    assert all(len(c["text"]) <= 100 for c in chunks)
    assert [c["text"] for c in chunks[:2]] == ["x" * 100] * 2
    assert chunks[2]["text"] == "x" * 50 + " # not a heading\n# still text"
    assert all(c["section"] is None for c in chunks)
    with pytest.raises(ValueError):
        split(doc, size=100, overlap=100)


@settings(max_examples=120, deadline=None)
@given(words=st.lists(st.sampled_from(["alpha", "be", "c.", "delta!", "\n\n", "\n", "# H",
                                       "x" * 30, "end?"]), max_size=120),
       size=st.integers(10, 120), overlap_ratio=st.floats(0, 0.9))
def test_split_invariants(words, size, overlap_ratio):
    text = " ".join(words)
    overlap = int(size * overlap_ratio)
    doc = {"id": "p", "format": "md", "text": text}
    chunks = split(doc, size=size, overlap=overlap)
    covered = set()
    for c in chunks:
        assert 0 < len(c["text"]) <= size and text[c["start"]:c["end"]] == c["text"]
        covered.update(range(c["start"], c["end"]))
    assert all(i in covered for i, ch in enumerate(text) if not ch.isspace())
    for a, b in pairwise(chunks):
        assert a["start"] < b["start"] and b["start"] >= a["end"] - overlap
    for c in chunks:  # never cut inside a word, unless the word alone is longer than size
        for cut in (c["start"], c["end"]):
            if 0 < cut < len(text) and not text[cut - 1].isspace() and not text[cut].isspace():
                word = re.search(r"\S*$", text[:cut]).group() + re.match(r"\S*",
                                                                          text[cut:]).group()
                assert len(word) > size
