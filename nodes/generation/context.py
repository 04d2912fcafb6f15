"""Build the context a generator reads: numbered, deduplicated, within a size budget."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from llmkit.nodes.retrieval.documents import sentence_ends
from llmkit.nodes.retrieval.embedders import tokenize

__all__ = ["build_context", "hit_field"]

_SEPARATOR = "\n\n"
_SHINGLE = 3


def hit_field(hit: Mapping[str, Any], name: str, default: Any = None) -> Any:
    """`hit[name]`, else `hit["metadata"][name]` (search hits keep chunk fields there)."""
    if name in hit:
        return hit[name]
    return (hit.get("metadata") or {}).get(name, default)


def _shingles(text: str) -> set[tuple[str, ...]]:
    words = tokenize(text)
    size = min(_SHINGLE, len(words))
    return {tuple(words[i:i + size]) for i in range(len(words) - size + 1)} if words else set()


def _near_duplicate(shingles: set, kept: list[set], threshold: float) -> bool:
    return any(len(shingles & other) >= threshold * len(shingles | other)
               for other in kept if shingles or other)


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
                  max_tokens: int | None = None) -> dict[str, Any]:
    """Number the hits' texts best first as `[1] text`, blocks separated by a blank line.

    A hit's text and source are read from the hit or its `metadata`. Hits whose word-3-gram
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
        body = (hit_field(hit, "text") or "").strip()
        if not body or (hit.get("id") is not None and hit.get("id") in seen):
            continue
        shingles = _shingles(body)
        if _near_duplicate(shingles, kept, dedupe_threshold):
            continue
        n = len(sources) + 1
        head = f"{text}{_SEPARATOR if text else ''}[{n}] "
        if not fits(head + body):
            if sources:
                continue
            body = _truncated(body, lambda cut, head=head: fits(head + cut))
            if not body:
                break
        text = head + body
        if hit.get("id") is not None:
            seen.add(hit.get("id"))
        kept.append(shingles)
        source = {"n": n, "id": hit.get("id"), "source": hit_field(hit, "source"),
                  "score": hit.get("score")}
        if hit_field(hit, "page") is not None:  # a PDF's chunk: cite "file.pdf p. 3"
            source["page"] = hit_field(hit, "page")
        sources.append(source)
    return {"text": text, "sources": sources}
