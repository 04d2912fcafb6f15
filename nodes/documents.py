"""Loading files into documents and splitting documents into chunks for indexing.

Also home of the one sentence splitter (`sentences`) that the context builder and the
extractive generator share.
"""

from __future__ import annotations

import glob
import hashlib
import re
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Iterator, Sequence
from html.parser import HTMLParser
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from llmkit.errors import LlmkitError

__all__ = ["DocumentsNotFoundError", "Loaded", "find_files", "html_to_text", "load_files",
           "sentence_ends", "sentences", "split"]

DEFAULT_PATTERNS = ("**/*.md", "**/*.txt", "**/*.rst", "**/*.html", "**/*.htm")
_FORMATS = {".md": "md", ".markdown": "md", ".rst": "rst", ".html": "html", ".htm": "html"}

# A sentence ends at . ! ? (also the ellipsis and the CJK full stop, exclamation and question
# marks), optionally followed by one closing quote or bracket, then whitespace; the next
# sentence starts after that whitespace.
_SENTENCE_END = "[.!?\u2026\u3002\uff01\uff1f]"
_CLOSER = "[\"'\u201d\u2019)\\]]"
_SENTENCE_BREAK = re.compile(f"(?:(?<={_SENTENCE_END})|(?<={_SENTENCE_END}{_CLOSER}))\\s+")
_MD_HEADING = re.compile(r"^#{1,6}[ \t]+\S.*$", re.MULTILINE)
_RST_HEADING = re.compile(r"^\S.*\n([=\-~^\"'`#*+:.])\1{2,}[ \t]*$", re.MULTILINE)


class DocumentsNotFoundError(LlmkitError, FileNotFoundError):
    """The path or glob given to `load_files` names nothing."""


class Loaded(NamedTuple):
    """What `load_files` returns: the documents, and one problem dict per file it skipped."""

    documents: list[dict[str, Any]]
    problems: list[dict[str, str]]


def sentence_ends(text: str) -> list[int]:
    """Positions just after each sentence's end punctuation (the last one is `len(text)`)."""
    ends = [m.start() for m in _SENTENCE_BREAK.finditer(text)]
    return [*ends, len(text)] if text.strip() else []


def sentences(text: str) -> list[str]:
    """Split `text` into sentences (stripped, non-empty), keeping their end punctuation."""
    return [s.strip() for s in _SENTENCE_BREAK.split(text) if s.strip()]


# --------------------------------------------------------------------------- loading

class _HTMLText(HTMLParser):
    """HTML → plain text with paragraph breaks; headings become '# ' lines like Markdown."""

    _SKIP = frozenset({"script", "style", "noscript", "template", "head", "svg"})
    _BLOCK = frozenset({"p", "div", "section", "article", "header", "footer", "main", "nav",
                        "aside", "ul", "ol", "li", "table", "tr", "pre", "blockquote", "hr",
                        "figure", "figcaption", "dl", "dt", "dd", "form", "details", "summary",
                        "h1", "h2", "h3", "h4", "h5", "h6"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.title = ""
        self._skipping = 0
        self._in_title = False
        self._pre = 0

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag in self._SKIP:
            self._skipping += 1
        elif tag == "title":
            self._in_title = True
        elif tag == "br":
            self.parts.append("\n")
        elif tag in self._BLOCK:
            self.parts.append("\n\n")
            if tag[0] == "h" and tag[1:].isdigit():
                self.parts.append("#" * int(tag[1]) + " ")
            elif tag == "li":
                self.parts.append("- ")
            elif tag == "pre":
                self._pre += 1

    def handle_endtag(self, tag: str) -> None:
        if tag in self._SKIP:
            self._skipping = max(0, self._skipping - 1)
        elif tag == "title":
            self._in_title = False
        elif tag in self._BLOCK:
            self.parts.append("\n\n")
            if tag == "pre":
                self._pre = max(0, self._pre - 1)

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title += data
        elif not self._skipping:
            self.parts.append(data if self._pre else re.sub(r"\s+", " ", data))

    def text(self) -> str:
        text = "".join(self.parts)
        text = re.sub(r"[ \t]*\n[ \t]*", "\n", text)
        return re.sub(r"\n{3,}", "\n\n", text).strip()


def html_to_text(html: str) -> tuple[str, str]:
    """(text, title) of an HTML page; script, style and other non-content tags dropped."""
    parser = _HTMLText()
    parser.feed(html)
    parser.close()
    return parser.text(), re.sub(r"\s+", " ", parser.title).strip()


def _decode(data: bytes) -> str:
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16")
    if b"\x00" in data[:8192]:
        raise ValueError("binary file (contains NUL bytes)")
    return data.decode("utf-8-sig")


def find_files(path_or_glob: str | Path,
               patterns: Sequence[str] = DEFAULT_PATTERNS) -> tuple[Path, list[Path]]:
    """(root the sources are relative to, files to read); DocumentsNotFoundError when the
    path or glob names nothing."""
    path = Path(path_or_glob)
    if path.is_file():
        return path.parent, [path]
    if path.is_dir():
        found = {p for pattern in patterns for p in path.glob(pattern)}
        return path, sorted(p for p in found if p.is_file()
                            and not any(part.startswith(".") for part in
                                        p.relative_to(path).parts))
    text = str(path_or_glob)
    if glob.has_magic(text):
        matches = sorted(Path(p) for p in glob.glob(text, recursive=True) if Path(p).is_file())
        if matches:
            prefix = Path(text.split("*")[0].split("?")[0].split("[")[0])
            root = prefix if text.split("*")[0].endswith(("/", "\\")) else prefix.parent
            return root, matches
        raise DocumentsNotFoundError(f"no files match '{text}'")
    raise DocumentsNotFoundError(f"no such file or directory: '{text}'")


def load_files(path_or_glob: str | Path,
               patterns: Sequence[str] = DEFAULT_PATTERNS) -> Loaded:
    """Read text documents from a file, a directory (files matching `patterns`, hidden
    files and folders skipped) or a glob.

    Each document is `{"id", "text", "source", "sha256", "format", "title"}`; `source` is the
    path relative to the directory given (posix), and is also the id. HTML is reduced to its
    text. A file that cannot be read, is binary or is not UTF-8 (or UTF-16 with a BOM) is
    skipped and reported in `problems` as `{"source", "kind", "error"}`; it never aborts the
    load. A path or glob that names nothing raises DocumentsNotFoundError.
    """
    root, files = find_files(path_or_glob, patterns)
    documents: list[dict[str, Any]] = []
    problems: list[dict[str, str]] = []
    for file in files:
        try:
            source = file.relative_to(root).as_posix()
        except ValueError:
            source = file.as_posix()
        try:
            data = file.read_bytes()
        except OSError as exc:
            problems.append({"source": source, "kind": "unreadable", "error": str(exc)})
            continue
        try:
            text = _decode(data)
        except UnicodeDecodeError as exc:
            problems.append({"source": source, "kind": "encoding",
                             "error": f"not UTF-8 text: {exc}"})
            continue
        except ValueError as exc:
            problems.append({"source": source, "kind": "binary", "error": str(exc)})
            continue
        kind = _FORMATS.get(file.suffix.lower(), "txt")
        title = ""
        if kind == "html":
            text, title = html_to_text(text)
        documents.append({"id": source, "text": text, "source": source,
                          "sha256": hashlib.sha256(data).hexdigest(), "format": kind,
                          "title": title})
    return Loaded(documents, problems)


# --------------------------------------------------------------------------- splitting

# Break kinds, best first. A break at position p ends a chunk before p; the next starts at p.
_SECTION, _PARAGRAPH, _LINE, _SENTENCE, _WORD = range(5)


def _table(chars: Iterable[str]) -> np.ndarray:
    """A lookup table over the Basic Multilingual Plane marking `chars`; code points above
    it are clamped to the last entry, which stays False."""
    table = np.zeros(0x10000, dtype=bool)
    table[[ord(c) for c in chars]] = True
    return table


_SPACE = _table(c for c in map(chr, range(0x3001)) if c.isspace())  # none lies above U+3000
_ENDS = _table(".!?\u2026\u3002\uff01\uff1f")
_CLOSERS = _table("\"'\u201d\u2019)]")


def _headings(text: str) -> list[tuple[int, int, str]]:
    """(start, end, title) of each Markdown or RST heading line, in order."""
    found = [(m.start(), m.end(), m.group().lstrip("#").strip())
             for m in _MD_HEADING.finditer(text)]
    found += [(m.start(), m.end(), m.group().splitlines()[0].strip())
              for m in _RST_HEADING.finditer(text)]
    return sorted(found)


def _breaks(text: str, headings: list[tuple[int, int, str]]) -> list[list[int]]:
    """Sorted break positions of each kind, plus (last) the sentence-or-better ones.

    Every break but a section start sits at the end of a whitespace run; the run's newlines
    and the character before it tell its kind (paragraph: 2+ newlines, line: 1, sentence:
    after . ! ? and the like). Runs that follow a heading line are no breaks, so a heading
    always stays with its text."""
    codes = np.minimum(np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32), 0xFFFF)
    edges = np.diff(_SPACE[codes].astype(np.int8), prepend=0, append=0)
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    keep = ends < codes.size
    if headings:
        keep &= ~np.isin(starts, [end for _, end, _ in headings])
    starts, ends = starts[keep], ends[keep]
    newlines = np.concatenate([[0], np.cumsum(codes == 10)])
    lines = newlines[ends] - newlines[starts]
    before = codes[np.maximum(starts - 1, 0)]
    sentence = (starts >= 1) & (_ENDS[before] | (
        _CLOSERS[before] & _ENDS[codes[np.maximum(starts - 2, 0)]] & (starts >= 2)))
    return [[start for start, _, _ in headings if start > 0], ends[lines >= 2].tolist(),
            ends[lines >= 1].tolist(), ends[sentence].tolist(), ends.tolist(),
            ends[(lines >= 1) | sentence].tolist()]


_SENTENCE_OR_BETTER = 5  # index of the union list in _breaks


def _pick(breaks: list[list[int]], lo: int, hi: int, latest: bool,
          kinds: Iterable[int] = range(5)) -> tuple[int, int] | None:
    """(position, kind) of the best break in [lo, hi]: the first kind of `kinds` that has one,
    then the latest (or earliest) position of that kind."""
    for kind in kinds:
        positions = breaks[kind]
        a, b = bisect_left(positions, lo), bisect_right(positions, hi)
        if a < b:
            return positions[b - 1] if latest else positions[a], kind
    return None


def _spans(text: str, size: int, overlap: int,
           headings: list[tuple[int, int, str]]) -> Iterator[tuple[int, int]]:
    """(start, end) of each raw chunk of `text`."""
    breaks = _breaks(text, headings)
    start, n = 0, len(text)
    while start < n:
        if n - start <= size:
            yield start, n
            return
        limit = start + size
        choice = (_pick(breaks, start + size // 4, limit, True, [_SECTION])
                  or _pick(breaks, start + size // 2, limit, True)
                  or _pick(breaks, start + 1, limit, True))
        end, kind = choice if choice else (limit, _WORD)  # one word longer than size
        yield start, end
        if kind == _SECTION or overlap == 0:
            start = end
            continue
        # The next chunk repeats up to `overlap` chars: from a section start if there is one,
        # else from the earliest sentence (or better) start, else the earliest word start.
        piece = text[start:end]
        lo = max(end - overlap, start + len(piece) - len(piece.lstrip()) + 1)  # move forward
        choice = _pick(breaks, lo, end - 1, False, [_SECTION, _SENTENCE_OR_BETTER, _WORD])
        start = choice[0] if choice else end


def split(doc: dict[str, Any], size: int = 800, overlap: int = 120) -> list[dict[str, Any]]:
    """Split a document into chunks of at most `size` characters.

    Chunks end at a section start (Markdown/RST heading), else a paragraph, line, sentence
    or word boundary, preferring the best kind in the second half of the size (a section
    start in the last three quarters); a word is cut only when it alone exceeds `size`.
    Consecutive chunks share at most `overlap` characters, starting at a sentence boundary
    when possible; a chunk that starts a section starts with its heading and repeats nothing.
    Each chunk is `{"id", "text", "source", "doc_id", "start", "end", "index", "section"}`,
    with `text == doc["text"][start:end]`; ids are stable across runs (source + position +
    a hash of the chunk text). Headings are detected unless `doc["format"] == "txt"`.
    """
    if size < 1 or not 0 <= overlap < size:
        raise ValueError(f"need size >= 1 and 0 <= overlap < size, got {size}, {overlap}")
    text = doc["text"]
    source = doc.get("source", doc.get("id", ""))
    doc_id = doc.get("id", source)
    headings = _headings(text) if doc.get("format") != "txt" else []
    heading_starts = [start for start, _, _ in headings]
    chunks: list[dict[str, Any]] = []
    for raw_start, raw_end in _spans(text, size, overlap, headings):
        piece = text[raw_start:raw_end]
        stripped = piece.strip()
        if not stripped:
            continue
        start = raw_start + (len(piece) - len(piece.lstrip()))
        end = start + len(stripped)
        h = bisect_right(heading_starts, start) - 1
        digest = hashlib.blake2b(f"{source}\0{start}\0{stripped}".encode(),
                                 digest_size=8).hexdigest()
        chunks.append({"id": f"{doc_id}#{start}-{digest}", "text": stripped, "source": source,
                       "doc_id": doc_id, "start": start, "end": end, "index": len(chunks),
                       "section": headings[h][2] if h >= 0 else None})
    return chunks
