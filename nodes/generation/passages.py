"""The candidate answers in a numbered context: prose sentences, list items and table rows.

A table row reads as "header: cell; header: cell" so that it stands alone as an answer and
the header's words (`default`, `code`) count for it. Headings, code (fenced, indented, shell
and REPL lines, aligned diagrams) and repeated sentences (chunk overlaps) are left out.
"""

from __future__ import annotations

import re
from functools import lru_cache

from llmkit.nodes.retrieval.documents import sentences
from llmkit.nodes.retrieval.embedders import identifier_parts, tokenize

__all__ = ["candidates"]

_CITATION = re.compile(r"^\[(\d+)\][ \t]*", re.MULTILINE)
_HEADING = re.compile(r"^(#{1,6}[ \t]|[=\-~^]{3,}\s*$)")
_LIST_ITEM = re.compile(r"^([-*+]|\d+[.)])\s+")
_CODE_LINE = re.compile(r"^(\$ |>>> |    |\t)|\S {3,}\S")  # shell, REPL, indented, aligned
_FENCE = "```"
_TABLE_SEPARATOR = re.compile(r"^:?-{3,}:?$")
_CELL_SPLIT = re.compile(r"(?<!\\)\|")
_PROSE_END = re.compile(r"\w.*[.:!?]$")
_MIN_WORDS = 4
_MIN_OVERLAP = 20  # characters two chunks must share to count as consecutive
_MAX_OVERLAP = 2000


def _starts_inside_fence(lines: list[str]) -> bool:
    """Whether a chunk begins in the middle of a fenced code block (it was cut there).

    An odd number of fences means one block is cut. A fence with a language (```python)
    opens; so does a bare one after prose (a heading, a table row, a sentence ending in
    punctuation); after anything else, the chunk starts in code and its first fence closes.
    """
    fences = [i for i, line in enumerate(lines) if line.strip().startswith(_FENCE)]
    if len(fences) % 2 == 0 or lines[fences[0]].strip() != _FENCE:
        return False
    before = [line for line in lines[:fences[0]] if line.strip()]
    if not before:
        return False
    last = before[-1]
    prose = (_HEADING.match(last.strip()) or last.lstrip().startswith("|")
             or (not _CODE_LINE.search(last) and _PROSE_END.match(last.strip())
                 and len(last.split()) >= 3))
    return not prose


def _cells(line: str) -> list[str]:
    """The cells of a Markdown table row, stripped (outer pipes optional)."""
    body = line.strip()
    body = body[1:] if body.startswith("|") else body
    body = body[:-1] if body.endswith("|") and not body.endswith("\\|") else body
    return [cell.strip().replace("\\|", "|") for cell in _CELL_SPLIT.split(body)]


def _row_text(cells: list[str], header: list[str] | None) -> str:
    """A table row as one readable line: "header: cell; header: cell", empty cells left out."""
    if header and len(header) == len(cells):
        pairs = [f"{h}: {c}" if h else c for h, c in zip(header, cells, strict=True) if c]
    else:
        pairs = [c for c in cells if c]
    return "; ".join(pairs)


def _segments(body: str) -> list[tuple[str, bool]]:
    """The readable segments of one chunk, each with whether it is a table row: paragraphs
    (wrapped lines joined), each list item and each table row on its own."""
    segments: list[tuple[str, bool]] = []
    current: list[str] = []
    lines = body.splitlines()
    fenced = _starts_inside_fence(lines)
    header: list[str] | None = None
    previous_cells: list[str] | None = None

    def flush() -> None:
        if current:
            segments.append((" ".join(current), False))
            current.clear()

    for raw in lines:
        line = raw.strip()
        if line.startswith(_FENCE):
            fenced = not fenced
            flush()
            continue
        if line.startswith("|") and not fenced:
            flush()
            cells = _cells(line)
            if any(cells) and all(_TABLE_SEPARATOR.match(c) for c in cells if c):
                header = previous_cells
                if segments and previous_cells is not None:
                    segments.pop()  # the header row is not an answer of its own
            else:
                segments.append((_row_text(cells, header), True))
            previous_cells = cells
            continue
        header = previous_cells = None
        if fenced or not line or _HEADING.match(line) or _CODE_LINE.search(raw):
            flush()
            continue
        if _LIST_ITEM.match(line):
            flush()
            line = _LIST_ITEM.sub("", line)
        current.append(line)
    flush()
    return segments


@lru_cache(maxsize=4096)
def _chunk_candidates(body: str) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """(text, words) of each candidate of one chunk of at least four words, its words
    followed by the parts of its identifiers (`identifier_parts`). Memoised: the chunks that
    answer questions recur in many contexts, and parsing is most of the cost."""
    out = []
    for segment, row in _segments(body):
        for sentence in [segment] if row else sentences(segment):
            words = tokenize(sentence)
            if len(words) >= _MIN_WORDS:
                out.append((sentence, tuple(words + identifier_parts(sentence))))
    return tuple(out)


def _overlap(a: str, b: str) -> int:
    """How many characters at the start of `b` repeat the end of `a` (two consecutive chunks
    of one document share their overlap), 0 when fewer than `_MIN_OVERLAP`."""
    head = b[:_MIN_OVERLAP]
    start = max(0, len(a) - _MAX_OVERLAP)
    while (at := a.find(head, start)) >= 0:
        if b.startswith(a[at:]):
            return len(a) - at
        start = at + 1
    return 0


def _joined(blocks: list[tuple[int | None, str]]) -> dict[int, list[tuple[str, tuple]]]:
    """For each block that a later part of its document follows in the context, the
    candidates that only the two read together have: the sentence cut where one chunk ends
    and the next begins, made whole again."""
    out: dict[int, list[tuple[str, tuple]]] = {}
    heads = [body[:_MIN_OVERLAP] for _, body in blocks]
    for i, (_, a) in enumerate(blocks):
        tail = a[-_MAX_OVERLAP:]
        for j, (_, b) in enumerate(blocks):
            if i != j and len(heads[j]) == _MIN_OVERLAP and heads[j] in tail \
                    and (shared := _overlap(a, b)):
                own = {text for text, _ in _chunk_candidates(a) + _chunk_candidates(b)}
                out.setdefault(i, []).extend(c for c in _chunk_candidates(a + b[shared:])
                                             if c[0] not in own)
    return out


def candidates(context: str) -> list[tuple[int | None, str, tuple[str, ...]]]:
    """(citation number or None, text, its words) for each candidate answer of the context,
    in order: the sentences of its prose and list items, and its table rows whole; a
    sentence cut between two chunks of the context that follow each other in their document
    is also read whole (cited by the chunk it starts in). Fragments of fewer than four words
    and repeats (chunk overlaps) are dropped."""
    parts = _CITATION.split(context)
    blocks: list[tuple[int | None, str]] = [(None, parts[0])]
    blocks += [(int(n), body.strip()) for n, body in zip(parts[1::2], parts[2::2], strict=True)]
    joined = _joined(blocks) if len(blocks) > 2 else {}
    seen: set[tuple[str, ...]] = set()
    out = []
    for i, (n, body) in enumerate(blocks):
        for sentence, words in _chunk_candidates(body) + tuple(joined.get(i, ())):
            if words not in seen:
                seen.add(words)
                out.append((n, sentence, words))
    return out
