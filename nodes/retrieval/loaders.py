"""Text out of binary document formats: PDF pages (the `pdf` extra: pypdf) and DOCX
paragraphs and tables (the standard library: a .docx is a zip of XML).

A file that cannot be read raises `Unreadable`, whose `kind` and message become the skipped
file's problem record; nothing here raises anything else for a bad file.
"""

from __future__ import annotations

import io
import logging
import re
import zipfile
from collections.abc import Iterator
from xml.etree import ElementTree

__all__ = ["PDF_EXTRA", "Unreadable", "docx_text", "pdf_pages"]

PDF_EXTRA = "pip install 'llmkit[pdf]'"
_MAX_XML = 256 * 2**20  # bytes of XML inflated from one .docx part: more is a zip bomb
_W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"


class Unreadable(ValueError):
    """A file llmkit skips, and why: `kind` is "unreadable", "no text" or "needs extra"."""

    def __init__(self, message: str, kind: str = "unreadable") -> None:
        super().__init__(message)
        self.kind = kind


def pdf_pages(data: bytes) -> list[str]:
    """The text of each page of a PDF (pypdf's layout-free extraction), in page order."""
    try:
        import pypdf
    except ImportError:
        raise Unreadable(f"PDF support is not installed: {PDF_EXTRA}", "needs extra") from None
    quiet = logging.getLogger("pypdf")
    if quiet.level == logging.NOTSET:  # pypdf logs every repaired flaw of a file as a warning
        quiet.setLevel(logging.ERROR)
    try:
        reader = pypdf.PdfReader(io.BytesIO(data))  # tries the empty password by itself
        pages = [page.extract_text() or "" for page in reader.pages]
    except pypdf.errors.FileNotDecryptedError:
        raise Unreadable("encrypted: the PDF needs a password") from None
    except pypdf.errors.DependencyError as exc:
        raise Unreadable(f"encrypted: {exc}") from None
    except Exception as exc:  # a parser of untrusted bytes fails in many ways: all mean broken
        raise Unreadable(f"not a readable PDF ({type(exc).__name__}: {exc})") from None
    if not any(page.strip() for page in pages):
        raise Unreadable("no text in the PDF (scanned pages need OCR first)", "no text")
    return pages


def _xml(archive: zipfile.ZipFile, name: str) -> ElementTree.Element | None:
    """A part of the archive parsed, None when there is no such part."""
    try:
        with archive.open(name) as part:
            data = part.read(_MAX_XML + 1)
    except KeyError:
        return None
    if len(data) > _MAX_XML:
        raise Unreadable(f"{name} inflates to more than {_MAX_XML >> 20} MiB")
    return ElementTree.fromstring(data)


def _heading_levels(styles: ElementTree.Element | None) -> dict[str, int]:
    """styleId -> heading level of the paragraph styles named "heading N" or "title"."""
    levels = {}
    for style in () if styles is None else styles.iter(f"{_W}style"):
        name = style.find(f"{_W}name")
        label = (name.get(f"{_W}val", "") if name is not None else "").lower()
        match = re.fullmatch(r"heading (\d)", label)
        if match or label == "title":
            levels[style.get(f"{_W}styleId", "")] = int(match.group(1)) if match else 1
    return levels


def _paragraph(p: ElementTree.Element, levels: dict[str, int]) -> str:
    """A paragraph's text; a heading as a Markdown `#` line, a list item as a `- ` line."""
    parts = []
    for node in p.iter():
        if node.tag == f"{_W}t":
            parts.append(node.text or "")
        elif node.tag == f"{_W}tab":
            parts.append("\t")
        elif node.tag in (f"{_W}br", f"{_W}cr"):
            parts.append("\n")
    text = "".join(parts).strip()
    style = p.find(f"{_W}pPr/{_W}pStyle")
    level = levels.get(style.get(f"{_W}val", "")) if style is not None else None
    if text and level:
        return "#" * min(level, 6) + " " + text.replace("\n", " ")
    if text and p.find(f"{_W}pPr/{_W}numPr") is not None:
        return "- " + text
    return text


def _blocks(parent: ElementTree.Element) -> Iterator[ElementTree.Element]:
    """The paragraphs and tables of the body in order, also those inside content controls."""
    for child in parent:
        if child.tag == f"{_W}sdt":
            content = child.find(f"{_W}sdtContent")
            if content is not None:
                yield from _blocks(content)
        else:
            yield child


def docx_text(data: bytes) -> str:
    """A Word document's body as Markdown-like text: paragraphs separated by blank lines,
    headings as `#` lines, a table row as one line of cells joined by " | "."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            body = _xml(archive, "word/document.xml")
            levels = _heading_levels(_xml(archive, "word/styles.xml"))
    except Unreadable:
        raise
    except (zipfile.BadZipFile, ElementTree.ParseError, OSError, EOFError, RuntimeError,
            NotImplementedError) as exc:  # RuntimeError: an encrypted zip member
        raise Unreadable(f"not a readable DOCX ({type(exc).__name__}: {exc})") from None
    if body is None or body.find(f"{_W}body") is None:
        raise Unreadable("not a readable DOCX (no word/document.xml body)")
    blocks = []
    for block in _blocks(body.find(f"{_W}body")):
        if block.tag == f"{_W}p":
            blocks.append(_paragraph(block, levels))
        elif block.tag == f"{_W}tbl":
            rows = [" | ".join(" ".join(filter(None, (_paragraph(p, {}) for p in
                                                      cell.iter(f"{_W}p"))))
                               for cell in row.iter(f"{_W}tc"))
                    for row in block.iter(f"{_W}tr")]
            blocks.append("\n".join(row for row in rows if row.strip(" |")))
    text = "\n\n".join(block for block in blocks if block)
    if not text.strip():
        raise Unreadable("no text in the DOCX", "no text")
    return text
