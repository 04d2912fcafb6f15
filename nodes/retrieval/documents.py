"""Loading files into documents and splitting documents into chunks for indexing, sized in
characters or in tokens of a `TokenCounter`.

Also home of the one sentence splitter (`sentences`) that the context builder and the
extractive generator share.
"""

from __future__ import annotations

import codecs
import glob
import hashlib
import re
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable, Iterator, Sequence
from html.parser import HTMLParser
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from llmkit.errors import LlmkitError
from llmkit.nodes.protocols import TokenCounter
from llmkit.nodes.retrieval.loaders import Unreadable, docx_text, pdf_pages

__all__ = ["DocumentsNotFoundError", "Loaded", "file_problem", "file_sha256", "find_files",
           "html_to_text", "keyword_text", "load_files", "named_files", "read_chunks",
           "read_document", "sentence_ends", "sentences", "split", "unsupported_files"]

# Bumped whenever `split` cuts a text differently, so indexes built by the old one rebuild
# (2: no headings inside fenced code blocks; 3: a chunk starting in a table's rows carries
# the table's header as `table_header`).
SPLIT_VERSION = 3
DEFAULT_PATTERNS = ("**/*.md", "**/*.markdown", "**/*.txt", "**/*.rst", "**/*.html", "**/*.htm",
                    "**/*.pdf", "**/*.docx")
_FORMATS = {".md": "md", ".markdown": "md", ".rst": "rst", ".html": "html", ".htm": "html",
            ".txt": "txt", ".pdf": "pdf", ".docx": "docx"}
_WHOLE = frozenset({"html", "pdf", "docx"})  # formats read whole, not streamed
# How many times a chunk's section heading counts in keyword matching (a corpus's BM25, the
# lexical reranker): a heading names what its whole section is about, so its words weigh
# more than one mention in the body (a field weight, as BM25F gives a title).
HEADING_WEIGHT = 2
_PAGE_BREAK = "\n\n"  # between the pages of a PDF: a paragraph break

# A sentence ends at . ! ? (also the ellipsis and the CJK full stop, exclamation and question
# marks), optionally followed by one closing quote or bracket, then whitespace; the next
# sentence starts after that whitespace.
_SENTENCE_END = "[.!?\u2026\u3002\uff01\uff1f]"
_CLOSER = "[\"'\u201d\u2019)\\]]"
_SENTENCE_BREAK = re.compile(f"(?:(?<={_SENTENCE_END})|(?<={_SENTENCE_END}{_CLOSER}))\\s+")
_MD_HEADING = re.compile(r"^#{1,6}[ \t]+\S.*$", re.MULTILINE)
_RST_HEADING = re.compile(r"^\S.*\n([=\-~^\"'`#*+:.])\1{2,}[ \t]*$", re.MULTILINE)
_FENCE = re.compile(r"^[ \t]{0,3}(`{3,}|~{3,})(.*)$", re.MULTILINE)


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


def unsupported_files(path_or_glob: str | Path,
                      patterns: Sequence[str] = DEFAULT_PATTERNS) -> list[dict[str, str]]:
    """Problem records of the files in a directory that `patterns` leave out and llmkit
    cannot read (a `.png`; a `.txt` left out on purpose is not one). Hidden files and
    folders are skipped; a file or glob has none."""
    path = Path(path_or_glob)
    if not path.is_dir():
        return []
    _, chosen = find_files(path, patterns)
    taken = set(chosen)
    return [{"source": file.relative_to(path).as_posix(), "kind": "unsupported",
             "error": f"unsupported file type ({file.suffix.lower() or 'no extension'})"}
            for file in sorted(path.rglob("*"))
            if file not in taken and file.suffix.lower() not in _FORMATS and file.is_file()
            and not any(part.startswith(".") for part in file.relative_to(path).parts)]


def keyword_text(text: str, section: str | None) -> str:
    """`text` as keyword matching reads it: its section heading `HEADING_WEIGHT` times, then
    the text itself."""
    return f"{section}\n" * HEADING_WEIGHT + text if section else text


def file_problem(source: str, exc: OSError | ValueError) -> dict[str, str]:
    """The problem record of a file that could not be read or decoded."""
    if isinstance(exc, Unreadable):
        return {"source": source, "kind": exc.kind, "error": str(exc)}
    if isinstance(exc, OSError):
        return {"source": source, "kind": "unreadable", "error": str(exc)}
    if isinstance(exc, UnicodeDecodeError):
        return {"source": source, "kind": "encoding", "error": f"not UTF-8 text: {exc}"}
    return {"source": source, "kind": "binary", "error": str(exc)}


def file_sha256(file: Path) -> str:
    """The SHA-256 of a file's bytes, read a block at a time."""
    with file.open("rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def read_document(file: Path, source: str) -> dict[str, Any]:
    """The document `load_files` makes of one file (named `source`). Raises OSError, or
    ValueError (`Unreadable`, UnicodeDecodeError) for a file it skips."""
    data = file.read_bytes()
    kind = _FORMATS.get(file.suffix.lower(), "txt")
    doc: dict[str, Any] = {"id": source, "source": source, "format": kind, "title": ""}
    if kind == "pdf":
        pages = pdf_pages(data)
        doc["text"] = _PAGE_BREAK.join(pages)
        starts = np.cumsum([0] + [len(page) + len(_PAGE_BREAK) for page in pages[:-1]])
        doc["pages"] = starts.tolist()  # where each page's text starts
    elif kind == "docx":
        doc["text"] = docx_text(data)
    elif kind == "html":
        doc["text"], doc["title"] = html_to_text(_decode(data))
    else:
        doc["text"] = _decode(data)
    doc["sha256"] = hashlib.sha256(data).hexdigest()
    return doc


def load_files(path_or_glob: str | Path,
               patterns: Sequence[str] = DEFAULT_PATTERNS) -> Loaded:
    """Read documents from a file, a directory (files matching `patterns`, hidden files and
    folders skipped) or a glob.

    Each document is `{"id", "text", "source", "sha256", "format", "title"}`; `source` is the
    path relative to the directory given (posix), and is also the id. HTML is reduced to its
    text, a DOCX to its paragraphs and table rows; a PDF (with the `pdf` extra) is its pages'
    text, with `pages` the position where each starts. A file that cannot be read (binary,
    not UTF-8 or UTF-16 with a BOM, an encrypted or broken PDF), and a file in the
    directory that llmkit cannot read at all, is skipped and reported in `problems` as
    `{"source", "kind", "error"}`; it never aborts the load. A path or glob that names
    nothing raises DocumentsNotFoundError.
    """
    documents: list[dict[str, Any]] = []
    problems: list[dict[str, str]] = []
    for source, file in named_files(path_or_glob, patterns):
        try:
            documents.append(read_document(file, source))
        except (OSError, ValueError) as exc:
            problems.append(file_problem(source, exc))
    return Loaded(documents, problems + unsupported_files(path_or_glob, patterns))


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


def _headings(text: str, code: list[tuple[int, int]]) -> list[tuple[int, int, str]]:
    """(start, end, title) of each Markdown or RST heading line, in order; none touching a
    fenced code block of `code` (a `# comment` there, or a fence read as an RST underline)."""
    found = [(m.start(), m.end(), m.group().lstrip("#").strip())
             for m in _MD_HEADING.finditer(text)]
    found += [(m.start(), m.end(), m.group().splitlines()[0].strip())
              for m in _RST_HEADING.finditer(text)]
    return sorted(h for h in found if not _inside(code, h[0]) and not _inside(code, h[1]))


# A Markdown table: a `|` row, a rule row of dashes under it, then more `|` rows.
_RULE_CELL = re.compile(r"^:?-{3,}:?$")
Tables = list[tuple[int, int, str]]  # (start, end, header) of each run of body rows
TableState = tuple[str | None, str | None]  # (header of the table open, last `|` line)


def _table_rule(line: str) -> bool:
    """Whether a `|` line is a table's header rule (`|---|:--:|`)."""
    cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
    return any(cells) and all(_RULE_CELL.match(cell) for cell in cells if cell)


def _tables(text: str, code: list[tuple[int, int]], offset: int = 0,
            state: TableState = (None, None)) -> tuple[Tables, TableState]:
    """(start, end, header) of the body rows of each Markdown table of `text` (at `offset`
    of a document), `header` being its header row and rule; and the state at its end, for
    a text that goes on (`state`: the one where `text` starts). Lines in code blocks of
    `code` are no table rows."""
    found: Tables = []
    header, previous = state
    start = pos = 0
    lines = text.split("\n")
    if lines and not lines[-1]:
        lines.pop()  # the text ends a line: nothing of the next one is here
    for line in lines:
        row = line.strip().startswith("|") and not _inside(code, pos)
        if header is None and row and previous is not None and _table_rule(line):
            header, start = f"{previous}\n{line.strip()}", pos + len(line) + 1
        elif header is not None and not row:
            if start < pos - 1:
                found.append((start + offset, pos - 1 + offset, header))
            header = None
        previous = line.strip() if row and header is None else None
        pos += len(line) + 1
    if header is not None and start < len(text):
        found.append((start + offset, len(text) + offset, header))
    return found, (header, previous)


def _code_blocks(text: str, opened: str | None = None) -> tuple[list[tuple[int, int]],
                                                                  str | None]:
    """(start, end) of each fenced code block of `text`, fences included, and the fence of
    the block still open at its end; `opened`: the fence of one open where `text` starts."""
    blocks, start = [], 0
    for m in _FENCE.finditer(text):
        fence, rest = m.groups()
        if opened is None:
            opened, start = fence, m.start()
        elif fence[0] == opened[0] and len(fence) >= len(opened) and not rest.strip():
            blocks.append((start, m.end()))
            opened = None
    if opened is not None:
        blocks.append((start, len(text)))
    return blocks, opened


def _inside(blocks: list[tuple[int, int]], position: int) -> bool:
    """Whether `position` lies in one of `blocks` (sorted, not overlapping)."""
    i = bisect_right(blocks, position, key=lambda block: block[0]) - 1
    return i >= 0 and position <= blocks[i][1]


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
    """A document's text with its breaks, headings and tables, all in memory."""

    end: int | None  # the text's length, None while not all of it has been read

    def __init__(self, text: str, headings: list[tuple[int, int, str]],
                 tables: Tables) -> None:
        self.end = len(text)
        self.breaks = _breaks(text, headings)
        self._text, self._base = text, 0  # the text from position _base on
        self._starts = [start for start, _, _ in headings]
        self._titles = [title for _, _, title in headings]
        self._tables = tables

    def need(self, start: int, upto: int) -> None:
        """Make the text and the breaks up to `upto` known; nothing before `start` will be
        asked for again (here all of it is known)."""

    def text(self, start: int, end: int) -> str:
        return self._text[start - self._base:end - self._base]

    def section(self, position: int) -> str | None:
        """The title of the last heading starting at or before `position`."""
        h = bisect_right(self._starts, position) - 1
        return self._titles[h] if h >= 0 else None

    def table_header(self, position: int) -> str | None:
        """The header row and rule of the table whose body rows `position` lies in."""
        t = bisect_right(self._tables, position, key=lambda table: table[0]) - 1
        return self._tables[t][2] if t >= 0 and position < self._tables[t][1] else None


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
        self._fence: str | None = None  # of a code block open at the last cut
        self._table: TableState = (None, None)  # of a table open at the last cut
        self._starts, self._titles, self._tables = [], [], []

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
        code, self._fence = _code_blocks(block, self._fence)
        headings = _headings(block, code) if self._find_headings else []
        if self._find_headings:
            tables, self._table = _tables(block, code, offset, self._table)
            self._tables += tables
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
        del self._tables[:bisect_right(self._tables, start, key=lambda table: table[1])]


def _last_fitting(positions: Sequence[int], fits: Callable[[int], bool]) -> int:
    """How many of `positions` (sorted so that once one does not fit, no later one does)
    fit: a binary search."""
    lo, hi = 0, len(positions)
    while lo < hi:
        mid = (lo + hi) // 2
        if fits(positions[mid]):
            lo = mid + 1
        else:
            hi = mid
    return lo


def _token_limit(doc: _Whole, start: int, size: int, count: Callable[[str], int]) -> int:
    """The furthest position p with at most `size` tokens in `text[start:p]`: the end of the
    text or a word start, else (one word longer than `size` tokens) a cut inside the word.

    A window of characters is widened until it holds more than `size` tokens (or the rest of
    the text), then the word starts in it are binary-searched: a longer prefix cut at a word
    start never has fewer tokens."""
    def fits(end: int) -> bool:
        return count(doc.text(start, end).strip()) <= size

    width = 4 * size + 16
    while True:
        doc.need(start, start + width)
        if doc.end is not None and doc.end <= start + width:
            hi = doc.end
            if fits(hi):
                return hi
            break
        hi = start + width
        if not fits(hi):
            break
        width *= 2
    words = doc.breaks[_WORD]
    words = words[bisect_right(words, start):bisect_left(words, hi)]
    fitting = _last_fitting(words, fits)
    if fitting:
        return words[fitting - 1]
    cut = _last_fitting(range(start + 1, hi), fits)  # the longest prefix of the word
    return start + max(cut, 1)


def _token_overlap(doc: _Whole, lo: int, end: int, overlap: int,
                   count: Callable[[str], int]) -> int:
    """The earliest word start p >= lo with at most `overlap` tokens in `text[p:end]`
    (`end` when there is none)."""
    words = doc.breaks[_WORD]
    words = words[bisect_left(words, lo):bisect_left(words, end)]
    fitting = _last_fitting(words[::-1], lambda p: count(doc.text(p, end)) <= overlap)
    return words[len(words) - fitting] if fitting else end


def _spans(doc: _Whole, size: int, overlap: int,
           count: Callable[[str], int] | None = None) -> Iterator[tuple[int, int]]:
    """(start, end) of each raw chunk of the document; sizes in characters, or in tokens as
    `count` counts them."""
    start = 0
    while True:
        limit = start + size if count is None else _token_limit(doc, start, size, count)
        doc.need(start, limit)
        n, breaks = doc.end, doc.breaks
        if n is not None and n <= limit:  # (unknown n: more than `size` is left)
            if start < n:
                yield start, n
            return
        width = max(limit - start, 4)  # a chunk ends after its start, even at size 1
        choice = (_pick(breaks, start + width // 4, limit, True, [_SECTION])
                  or _pick(breaks, start + width // 2, limit, True)
                  or _pick(breaks, start + 1, limit, True))
        end, kind = choice if choice else (limit, _WORD)  # one word longer than size
        yield start, end
        if kind == _SECTION or overlap == 0:
            start = end
            continue
        # The next chunk repeats up to `overlap` chars (tokens): from a section start if
        # there is one, else from the earliest sentence (or better) start, else the earliest
        # word start.
        piece = doc.text(start, end)
        lo = start + len(piece) - len(piece.lstrip()) + 1  # move forward
        lo = max(end - overlap, lo) if count is None else _token_overlap(doc, lo, end,
                                                                         overlap, count)
        choice = _pick(breaks, lo, end - 1, False, [_SECTION, _SENTENCE_OR_BETTER, _WORD])
        start = choice[0] if choice else end


def _chunks(doc: _Whole, source: str, doc_id: str, size: int, overlap: int,
            tokens: TokenCounter | None = None,
            pages: Sequence[int] | None = None) -> Iterator[dict[str, Any]]:
    if size < 1 or not 0 <= overlap < size:
        raise ValueError(f"need size >= 1 and 0 <= overlap < size, got {size}, {overlap}")
    count = tokens.count_tokens if tokens is not None else None
    index = 0
    for raw_start, raw_end in _spans(doc, size, overlap, count):
        piece = doc.text(raw_start, raw_end)
        stripped = piece.strip()
        if not stripped:
            continue
        start = raw_start + (len(piece) - len(piece.lstrip()))
        digest = hashlib.blake2b(f"{source}\0{start}\0{stripped}".encode(),
                                 digest_size=8).hexdigest()
        chunk = {"id": f"{doc_id}#{start}-{digest}", "text": stripped, "source": source,
                 "doc_id": doc_id, "start": start, "end": start + len(stripped), "index": index,
                 "section": doc.section(start)}
        header = doc.table_header(start)
        if header is not None:
            chunk["table_header"] = header
        if pages:
            chunk["page"] = bisect_right(pages, start)  # the page it starts on, from 1
        yield chunk
        index += 1


def split(doc: dict[str, Any], size: int = 800, overlap: int = 120, *,
          tokens: TokenCounter | None = None) -> list[dict[str, Any]]:
    """Split a document into chunks of at most `size` characters (with `tokens`: at most
    `size` tokens as `tokens.count_tokens` counts them, `overlap` counted alike).

    Chunks end at a section start (Markdown/RST heading), else a paragraph, line, sentence
    or word boundary, preferring the best kind in the second half of the size (a section
    start in the last three quarters); a word is cut only when it alone exceeds `size`.
    Consecutive chunks share at most `overlap` characters, starting at a sentence boundary
    when possible; a chunk that starts a section starts with its heading and repeats nothing.
    Each chunk is `{"id", "text", "source", "doc_id", "start", "end", "index", "section"}`,
    with `text == doc["text"][start:end]`; ids are stable across runs (source + position +
    a hash of the chunk text). Headings are detected unless `doc["format"]` is "txt" or
    "pdf"; so are Markdown tables, and a chunk that starts in a table's body rows has the
    table's header row and rule as `table_header` (its rows then still say their columns).
    A document with `pages` (a PDF's page starts) gives each chunk the `page` it starts on,
    counted from 1.
    """
    text = doc["text"]
    source = doc.get("source", doc.get("id", ""))
    code = _code_blocks(text)[0]
    plain = doc.get("format") in ("txt", "pdf")
    headings = [] if plain else _headings(text, code)
    tables = [] if plain else _tables(text, code)[0]
    return list(_chunks(_Whole(text, headings, tables), source, doc.get("id", source), size,
                        overlap, tokens, doc.get("pages")))


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
                block: int = 1 << 20,
                tokens: TokenCounter | None = None) -> Iterator[dict[str, Any]]:
    """The chunks `split` makes of the document `load_files` reads from `file` (named
    `source`), read and split `block` bytes at a time: memory is bounded by the block and
    the longest line, not by the file. HTML, PDF and DOCX are read whole (their text needs
    the whole file). Raises OSError, or ValueError (`Unreadable`, UnicodeDecodeError) for a
    file `load_files` skips."""
    kind = _FORMATS.get(file.suffix.lower(), "txt")
    if kind in _WHOLE:
        yield from split(read_document(file, source), size, overlap, tokens=tokens)
        return
    doc = _Streamed(_decoded(file, block), headings=kind != "txt")
    yield from _chunks(doc, source, source, size, overlap, tokens)
