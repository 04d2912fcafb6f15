"""Loading files into documents and splitting documents into chunks for indexing.

Also home of the one sentence splitter (`sentences`) that the context builder and the
extractive generator share.
"""

from __future__ import annotations

import codecs
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

__all__ = ["DocumentsNotFoundError", "Loaded", "file_problem", "file_sha256", "find_files",
           "html_to_text", "load_files", "named_files", "read_chunks", "sentence_ends", "sentences",
           "split"]

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


def named_files(path_or_glob: str | Path,
                patterns: Sequence[str] = DEFAULT_PATTERNS) -> list[tuple[str, Path]]:
    """(source name, file) of each file `find_files` names: the name is the path relative to
    the directory given (posix)."""
    root, files = find_files(path_or_glob, patterns)
    named = []
    for file in files:
        try:
            named.append((file.relative_to(root).as_posix(), file))
        except ValueError:
            named.append((file.as_posix(), file))
    return named


def file_problem(source: str, exc: OSError | ValueError) -> dict[str, str]:
    """The problem record of a file that could not be read or decoded."""
    if isinstance(exc, OSError):
        return {"source": source, "kind": "unreadable", "error": str(exc)}
    if isinstance(exc, UnicodeDecodeError):
        return {"source": source, "kind": "encoding", "error": f"not UTF-8 text: {exc}"}
    return {"source": source, "kind": "binary", "error": str(exc)}


def file_sha256(file: Path) -> str:
    """The SHA-256 of a file's bytes, read a block at a time."""
    with file.open("rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


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
    documents: list[dict[str, Any]] = []
    problems: list[dict[str, str]] = []
    for source, file in named_files(path_or_glob, patterns):
        try:
            data = file.read_bytes()
            text = _decode(data)
        except (OSError, ValueError) as exc:
            problems.append(file_problem(source, exc))
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


def _breaks(text: str, headings: list[tuple[int, int, str]], offset: int = 0,
            final: bool = True) -> list[list[int]]:
    """Sorted break positions of each kind, plus (last) the sentence-or-better ones, for
    `text` found at `offset` of a document (`final`: it ends the document).

    Every break but a section start sits at the end of a whitespace run; the run's newlines
    and the character before it tell its kind (paragraph: 2+ newlines, line: 1, sentence:
    after . ! ? and the like). Runs that follow a heading line are no breaks, so a heading
    always stays with its text; a run that ends the document is none either."""
    codes = np.minimum(np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32), 0xFFFF)
    edges = np.diff(_SPACE[codes].astype(np.int8), prepend=0, append=0)
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    keep = ends < codes.size if final else np.ones(ends.size, dtype=bool)
    if headings:
        keep &= ~np.isin(starts, [end for _, end, _ in headings])
    starts, ends = starts[keep], ends[keep]
    newlines = np.concatenate([[0], np.cumsum(codes == 10)])
    lines = newlines[ends] - newlines[starts]
    before = codes[np.maximum(starts - 1, 0)]
    sentence = (starts >= 1) & (_ENDS[before] | (
        _CLOSERS[before] & _ENDS[codes[np.maximum(starts - 2, 0)]] & (starts >= 2)))
    ends += offset
    return [[start + offset for start, _, _ in headings if start + offset > 0],
            ends[lines >= 2].tolist(), ends[lines >= 1].tolist(), ends[sentence].tolist(),
            ends.tolist(), ends[(lines >= 1) | sentence].tolist()]


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


class _Whole:
    """A document's text with its breaks and headings, all in memory."""

    end: int | None  # the text's length, None while not all of it has been read

    def __init__(self, text: str, headings: list[tuple[int, int, str]]) -> None:
        self.end = len(text)
        self.breaks = _breaks(text, headings)
        self._text, self._base = text, 0  # the text from position _base on
        self._starts = [start for start, _, _ in headings]
        self._titles = [title for _, _, title in headings]

    def need(self, start: int, upto: int) -> None:
        """Make the text and the breaks up to `upto` known; nothing before `start` will be
        asked for again (here all of it is known)."""

    def text(self, start: int, end: int) -> str:
        return self._text[start - self._base:end - self._base]

    def section(self, position: int) -> str | None:
        """The title of the last heading starting at or before `position`."""
        h = bisect_right(self._starts, position) - 1
        return self._titles[h] if h >= 0 else None


# The characters an RST title's underline is made of, and a whole underline line.
_UNDERLINE_CHARS = frozenset("=-~^\"'`#*+:.")
_UNDERLINE = re.compile(r"([=\-~^\"'`#*+:.])\1{2,}[ \t]*$", re.MULTILINE)


def _cut(text: str, lo: int) -> int | None:
    """The last position at or after `lo` where `text` can be cut into two blocks whose
    breaks and headings are found separately, exactly as in the whole: a line start (no
    whitespace run or Markdown heading crosses it) whose line cannot underline an RST title
    (no RST heading crosses it). None when there is no such position."""
    pos = len(text) - 1
    while (pos := text.rfind("\n", max(lo - 1, 0), pos)) >= 0:
        q = pos + 1
        if not text[q].isspace() and (text[q] not in _UNDERLINE_CHARS or (
                text.find("\n", q) >= 0 and not _UNDERLINE.match(text, q))):
            return q
    return None


class _Streamed(_Whole):
    """The same for a text arriving in pieces, scanned block by block between `_cut`s: it
    keeps only the text from the current chunk on, and the breaks and headings after it."""

    def __init__(self, pieces: Iterator[str], headings: bool) -> None:
        self.end = None
        self.breaks = [[] for _ in range(_SENTENCE_OR_BETTER + 1)]
        self._pieces, self._find_headings = pieces, headings
        self._text, self._base = "", 0
        self._pending = ""  # read after the last cut, not scanned yet
        self._starts, self._titles = [], []

    def need(self, start: int, upto: int) -> None:
        # A heading may start right at the last cut: breaks are final only before it.
        while self.end is None and self._base + len(self._text) <= upto:
            self._forget(start)
            self._scan()

    def _scan(self) -> None:
        piece = next(self._pieces, None)
        if piece is None:
            block, self._pending = self._pending, ""
        else:
            self._pending += piece
            cut = _cut(self._pending, len(self._pending) - len(piece))
            if cut is None:
                return
            block, self._pending = self._pending[:cut], self._pending[cut:]
        offset = self._base + len(self._text)
        headings = _headings(block) if self._find_headings else []
        for found, new in zip(self.breaks, _breaks(block, headings, offset, piece is None),
                              strict=True):
            found.extend(new)
        self._starts += [start + offset for start, _, _ in headings]
        self._titles += [title for _, _, title in headings]
        self._text += block
        if piece is None:
            self.end = offset + len(block)

    def _forget(self, start: int) -> None:
        """Drop the text before `start`, the breaks up to it and the headings before the
        last one at or before it: no lookup goes there again."""
        if start - self._base > len(self._text) // 2:
            self._text, self._base = self._text[start - self._base:], start
        for found in self.breaks:
            del found[:bisect_right(found, start)]
        h = bisect_right(self._starts, start) - 1
        if h > 0:
            del self._starts[:h], self._titles[:h]


def _spans(doc: _Whole, size: int, overlap: int) -> Iterator[tuple[int, int]]:
    """(start, end) of each raw chunk of the document."""
    start = 0
    while True:
        doc.need(start, start + size)
        n, breaks = doc.end, doc.breaks
        if n is not None and n - start <= size:  # (unknown n: more than `size` is left)
            if start < n:
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
        piece = doc.text(start, end)
        lo = max(end - overlap, start + len(piece) - len(piece.lstrip()) + 1)  # move forward
        choice = _pick(breaks, lo, end - 1, False, [_SECTION, _SENTENCE_OR_BETTER, _WORD])
        start = choice[0] if choice else end


def _chunks(doc: _Whole, source: str, doc_id: str, size: int,
            overlap: int) -> Iterator[dict[str, Any]]:
    if size < 1 or not 0 <= overlap < size:
        raise ValueError(f"need size >= 1 and 0 <= overlap < size, got {size}, {overlap}")
    index = 0
    for raw_start, raw_end in _spans(doc, size, overlap):
        piece = doc.text(raw_start, raw_end)
        stripped = piece.strip()
        if not stripped:
            continue
        start = raw_start + (len(piece) - len(piece.lstrip()))
        digest = hashlib.blake2b(f"{source}\0{start}\0{stripped}".encode(),
                                 digest_size=8).hexdigest()
        yield {"id": f"{doc_id}#{start}-{digest}", "text": stripped, "source": source,
               "doc_id": doc_id, "start": start, "end": start + len(stripped), "index": index,
               "section": doc.section(start)}
        index += 1


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
    text = doc["text"]
    source = doc.get("source", doc.get("id", ""))
    headings = _headings(text) if doc.get("format") != "txt" else []
    return list(_chunks(_Whole(text, headings), source, doc.get("id", source), size, overlap))


def _decoded(file: Path, block: int) -> Iterator[str]:
    """The text of `file` as `_decode` reads it, decoded `block` bytes at a time."""
    with file.open("rb") as f:
        head = f.read(8192)
        if head.startswith((b"\xff\xfe", b"\xfe\xff")):
            decoder = codecs.getincrementaldecoder("utf-16")()
        elif b"\x00" in head:
            raise ValueError("binary file (contains NUL bytes)")
        else:
            decoder = codecs.getincrementaldecoder("utf-8-sig")()
        f.seek(0)
        while data := f.read(block):
            yield decoder.decode(data)
        yield decoder.decode(b"", final=True)


def read_chunks(file: Path, source: str, size: int = 800, overlap: int = 120, *,
                block: int = 1 << 20) -> Iterator[dict[str, Any]]:
    """The chunks `split` makes of the document `load_files` reads from `file` (named
    `source`), read and split `block` bytes at a time: memory is bounded by the block and
    the longest line, not by the file. HTML is read whole (its text needs the whole page).
    Raises OSError, or ValueError (UnicodeDecodeError) for a binary or undecodable file."""
    kind = _FORMATS.get(file.suffix.lower(), "txt")
    if kind == "html":
        text, _ = html_to_text(_decode(file.read_bytes()))
        yield from split({"text": text, "source": source, "format": kind}, size, overlap)
        return
    doc = _Streamed(_decoded(file, block), headings=kind != "txt")
    yield from _chunks(doc, source, source, size, overlap)
