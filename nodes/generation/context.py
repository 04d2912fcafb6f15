"""Build the context a generator reads: numbered, deduplicated, within a size budget."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from llmkit.nodes.generation.prompt import compile_template
from llmkit.nodes.retrieval.documents import sentence_ends
from llmkit.nodes.retrieval.embedders import tokenize

__all__ = ["HIT_FIELDS", "build_context", "hit_block", "hit_field"]

_SEPARATOR = "\n\n"
_SHINGLE = 3


def hit_field(hit: Mapping[str, Any], name: str, default: Any = None) -> Any:
    """`hit[name]`, else `hit["metadata"][name]` (search hits keep chunk fields there)."""
    if name in hit:
        return hit[name]
    return (hit.get("metadata") or {}).get(name, default)


#: what a `build_context` template can name: the citation number, the (maybe cut) text,
#: and the hit's own fields
HIT_FIELDS = ("n", "text", "source", "id", "score", "page", "metadata")
Block = Callable[[int, Mapping[str, Any], str], str]


def hit_block(template: str) -> Block:
    """A function laying out one hit with `template` (its variables among `HIT_FIELDS`)."""
    compiled = compile_template(template, "build_context template")
    unknown = [name for name in compiled.names if name not in HIT_FIELDS]
    if unknown:
        raise ValueError(f"build_context template: unknown variable {unknown[0]!r}; a hit "
                         f"has {', '.join(HIT_FIELDS)}")

    def block(n: int, hit: Mapping[str, Any], text: str) -> str:
        return compiled.render({"n": n, "text": text, "source": hit_field(hit, "source"),
                                "id": hit.get("id"), "score": hit.get("score"),
                                "page": hit_field(hit, "page"),
                                "metadata": hit.get("metadata") or {}})

    return block


def _shingles(text: str) -> set[tuple[str, ...]]:
    words = tokenize(text)
    size = min(_SHINGLE, len(words))
    return {tuple(words[i:i + size]) for i in range(len(words) - size + 1)} if words else set()


def _near_duplicate(shingles: set, kept: list[set], threshold: float) -> bool:
    return any(len(shingles & other) >= threshold * len(shingles | other)
               for other in kept if shingles or other)


def _with_header(hit: Mapping[str, Any], body: str) -> str:
    """`body` under its table's header row and rule, when it starts in a table's rows."""
    header = hit_field(hit, "table_header")
    return f"{header}\n{body}" if body and isinstance(header, str) and header else body


def _truncated(body: str, fits: Callable[[str], bool]) -> str:
    """The longest prefix of `body` that fits, cut after a sentence if one fits, else after
    a word, else anywhere ("" when nothing fits)."""
    for cuts in ([e for e in sentence_ends(body) if e < len(body)],
                 [m.start() for m in re.finditer(r"\s+", body)],
                 range(1, len(body))):
        lo, hi = 0, len(cuts)  # binary search: a longer prefix never fits when a shorter fails
        while lo < hi:
            mid = (lo + hi) // 2
            if fits(body[:cuts[mid]].rstrip()):
                lo = mid + 1
            else:
                hi = mid
        if lo:
            return body[:cuts[lo - 1]].rstrip()
    return ""


def build_context(hits: Sequence[Mapping[str, Any]], max_chars: int = 4000,
                  dedupe_threshold: float = 0.9, *,
                  count_tokens: Callable[[str], int] | None = None,
                  max_tokens: int | None = None, block: Block | None = None,
                  separator: str = _SEPARATOR) -> dict[str, Any]:
    """Number the hits' texts best first as `[1] text` (or as `block(n, hit, text)` lays
    them out), blocks separated by `separator` (a blank line).

    A hit's text and source are read from the hit or its `metadata`; a chunk that starts in
    the body rows of a table (it has a `table_header`, docs/retrieval.md) is shown under
    that header, so its rows keep their columns. Hits whose word-3-gram
    Jaccard similarity with an included one is >= `dedupe_threshold` (or whose id repeats)
    are dropped. The result never exceeds `max_chars` (nor `max_tokens` as counted by
    `count_tokens`, when both are given): the first chunk is cut at a sentence (else word)
    boundary to fit, later ones that do not fit are skipped. Returns `{"text", "sources"}`,
    sources being `{"n", "id", "source", "score"}` for each included chunk (and `page` for a
    chunk of a PDF).
    """
    if (count_tokens is None) != (max_tokens is None):
        raise ValueError("give count_tokens and max_tokens together")

    def fits(text: str) -> bool:
        return len(text) <= max_chars and (count_tokens is None or count_tokens(text)
                                           <= max_tokens)

    ranked = sorted(hits, key=lambda h: -float(h.get("score", 0.0)))  # stable: ties keep order
    text, sources, kept, seen = "", [], [], set()
    for hit in ranked:
        body = _with_header(hit, (hit_field(hit, "text") or "").strip())
        if not body or (hit.get("id") is not None and hit.get("id") in seen):
            continue
        shingles = _shingles(body)
        if _near_duplicate(shingles, kept, dedupe_threshold):
            continue
        n = len(sources) + 1
        prefix = f"{text}{separator}" if text else ""

        def entry(cut: str, n: int = n, hit: Mapping[str, Any] = hit,
                  prefix: str = prefix) -> str:
            return prefix + (f"[{n}] {cut}" if block is None else block(n, hit, cut))

        if not fits(entry(body)):
            if sources:
                continue
            body = _truncated(body, lambda cut: fits(entry(cut)))
            if not body:
                break
        text = entry(body)
        if hit.get("id") is not None:
            seen.add(hit.get("id"))
        kept.append(shingles)
        source = {"n": n, "id": hit.get("id"), "source": hit_field(hit, "source"),
                  "score": hit.get("score")}
        if hit_field(hit, "page") is not None:  # a PDF's chunk: cite "file.pdf p. 3"
            source["page"] = hit_field(hit, "page")
        sources.append(source)
    return {"text": text, "sources": sources}
