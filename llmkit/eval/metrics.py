"""Quality metrics, as pure functions of one question: retrieval (hit@k, recall@k, MRR,
nDCG over a ranked list of retrieved sources against gold sources) and answers (exact,
contains, token F1 against gold answers). docs/retrieval.md states the rules.

A retrieved source *matches* a gold source when one of its names (a `source`, `path` or
`id`) equals it, ends with it or contains it: gold `cache.md` matches `docs/cache.md`, and
gold `cache.md#3` matches the chunk id `docs/cache.md#3`. Each gold source counts once,
however many of its chunks are retrieved.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence

__all__ = ["contains", "exact", "hit_at_k", "matched", "mrr", "ndcg", "normalise",
           "recall_at_k", "token_f1"]

Retrieved = Sequence[Sequence[str]]  # per rank, the names of one retrieved source
_WORD = re.compile(r"\w+")


def _matches(names: Sequence[str], gold: str) -> bool:
    return any(gold in name for name in names)  # (equal and ends-with are both substrings)


def matched(ranked: Retrieved, gold: Sequence[str], k: int) -> list[int]:
    """Per rank in the top `k`, how many gold sources match there for the first time."""
    left = list(dict.fromkeys(gold))
    gains = []
    for names in ranked[:k]:
        new = [g for g in left if _matches(names, g)]
        left = [g for g in left if g not in new]
        gains.append(len(new))
    return gains


def hit_at_k(ranked: Retrieved, gold: Sequence[str], k: int) -> float:
    """1 when any of the top `k` matches a gold source, else 0."""
    return 1.0 if any(matched(ranked, gold, k)) else 0.0


def recall_at_k(ranked: Retrieved, gold: Sequence[str], k: int) -> float:
    """The fraction of the gold sources matched in the top `k`."""
    distinct = len(set(gold))
    return sum(matched(ranked, gold, k)) / distinct if distinct else 0.0


def mrr(ranked: Retrieved, gold: Sequence[str], k: int) -> float:
    """1 / the rank of the first match in the top `k` (0 when none matches)."""
    return next((1.0 / rank for rank, gain in enumerate(matched(ranked, gold, k), 1) if gain),
                0.0)


def ndcg(ranked: Retrieved, gold: Sequence[str], k: int) -> float:
    """Binary-relevance nDCG@k: a rank is relevant when it matches a gold source not matched
    above it; the ideal ranking puts one gold source at each of the first ranks."""
    ideal = sum(1 / math.log2(rank + 1) for rank in range(1, min(len(set(gold)), k) + 1))
    found = sum(1 / math.log2(rank + 1)
                for rank, gain in enumerate(matched(ranked, gold, k), 1) if gain)
    return found / ideal if ideal else 0.0


def normalise(text: str) -> str:
    """Case-folded, with every run of whitespace one space, trimmed."""
    return " ".join(text.casefold().split())


def exact(answer: str, golds: Sequence[str]) -> float:
    """1 when the normalised answer equals a normalised gold answer."""
    said = normalise(answer)
    return 1.0 if any(said == normalise(g) for g in golds) else 0.0


def contains(answer: str, golds: Sequence[str]) -> float:
    """1 when the normalised answer contains a normalised gold answer."""
    said = normalise(answer)
    return 1.0 if any(normalise(g) in said for g in golds) else 0.0


def token_f1(answer: str, golds: Sequence[str]) -> float:
    """The best F1 of the answer's words against one gold answer's (SQuAD-style)."""
    said = Counter(_WORD.findall(answer.casefold()))
    best = 0.0
    for gold in golds:
        wanted = Counter(_WORD.findall(gold.casefold()))
        common = sum((said & wanted).values())
        if common:
            precision, recall = common / sum(said.values()), common / sum(wanted.values())
            best = max(best, 2 * precision * recall / (precision + recall))
    return best
