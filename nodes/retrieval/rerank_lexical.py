"""`LexicalReranker`: an offline reranker with no model. It scores each candidate by BM25 of
the query's word stems over the candidates' full text (its section heading counted twice, as
the corpus's BM25 counts it), and blends that rank with the candidate's retrieval rank.

Why this and not a cross-encoder: no PyPI package ships cross-encoder weights (the ones that
run offline download them at first use), and llmkit's defaults must run with no network. The
first-stage hashing embedder sees character n-grams of a whole chunk; re-reading the few
candidates word by word, with stems ("flushed" finds "flushes") and with idf taken over the
candidates themselves, fixes much of its order. For a real cross-encoder, serve one behind
`/v1/rerank` (llama.cpp, TEI, vLLM) and use `http_reranker`.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence

from llmkit.nodes.protocols import Hit
from llmkit.nodes.retrieval.documents import keyword_text
from llmkit.nodes.retrieval.embedders import tokenize
from llmkit.nodes.retrieval.rerank import Ranking, hit_text
from llmkit.nodes.retrieval.stemming import stem
from llmkit.nodes.retrieval.stopwords import STOP_WORDS

__all__ = ["LexicalReranker", "terms"]


def terms(text: str) -> list[str]:
    """The Porter stems of `text`'s words, without stop words."""
    return [stem(w) for w in tokenize(text) if w not in STOP_WORDS]


class LexicalReranker:
    """Rerank by BM25 over the candidate set, blended with the retrieval order.

    A candidate's final score is `weight / (rrf_k + lexical rank) + (1 - weight) / (rrf_k +
    retrieval rank)` (reciprocal rank fusion): ranks, not raw scores, so a vector score's
    narrow range weighs no more than a BM25 score's wide one. Candidates that share no stem
    with the query get no lexical share at all. Deterministic.
    """

    deterministic = True

    def __init__(self, weight: float = 0.6, rrf_k: int = 5, k1: float = 1.2,
                 b: float = 0.75) -> None:
        if not 0.0 <= weight <= 1.0:
            raise ValueError(f"weight must be between 0 and 1, not {weight!r}")
        if rrf_k < 0:
            raise ValueError(f"rrf_k must not be negative, not {rrf_k!r}")
        self.weight, self.rrf_k, self.k1, self.b = float(weight), rrf_k, float(k1), float(b)

    def llmkit_fingerprint(self) -> dict[str, float]:
        """Its params, and the version of its scoring (stems, stop words, blend); 2: Porter
        stems; 3: the section heading counts `HEADING_WEIGHT` times."""
        return {"version": 3, "weight": self.weight, "rrf_k": self.rrf_k, "k1": self.k1,
                "b": self.b}

    def rerank(self, queries: Sequence[str], candidates: Sequence[Sequence[Hit]],
               top_n: int) -> list[Ranking]:
        """Per query, the best `top_n` of its candidates: (index, score), best first."""
        return [self._rank(q, hits, top_n) for q, hits in zip(queries, candidates, strict=True)]

    def lexical_scores(self, query: str, hits: Sequence[Hit]) -> list[float]:
        """BM25 of the query's stems in each hit's heading and text, idf over these hits."""
        docs = [Counter(terms(keyword_text(hit_text(h), _heading(h)))) for h in hits]
        wanted = Counter(terms(query))
        if not docs or not wanted:
            return [0.0] * len(docs)
        lengths = [sum(d.values()) for d in docs]
        average = max(sum(lengths) / len(docs), 1.0)
        scores = []
        for doc, length in zip(docs, lengths, strict=True):
            norm = self.k1 * (1 - self.b + self.b * length / average)
            score = 0.0
            for term, times in sorted(wanted.items()):
                tf = doc.get(term, 0)
                if tf:
                    df = sum(1 for d in docs if term in d)
                    idf = math.log1p((len(docs) - df + 0.5) / (df + 0.5))
                    score += times * idf * tf * (self.k1 + 1) / (tf + norm)
            scores.append(score)
        return scores

    def _rank(self, query: str, hits: Sequence[Hit], top_n: int) -> Ranking:
        lexical = self.lexical_scores(query, hits)
        by_words = sorted(range(len(hits)), key=lambda i: (-lexical[i], i))
        word_rank = {i: rank for rank, i in enumerate(by_words, 1)}
        fused = [(self.weight / (self.rrf_k + word_rank[i]) if lexical[i] > 0 else 0.0)
                 + (1 - self.weight) / (self.rrf_k + i + 1) for i in range(len(hits))]
        best = sorted(range(len(hits)), key=lambda i: (-fused[i], i))[:top_n]
        return [(i, fused[i]) for i in best]


def _heading(hit: Hit) -> str:
    """The section heading a chunk came from, when its metadata has one."""
    section = hit.get("section", (hit.get("metadata") or {}).get("section"))
    return section if isinstance(section, str) else ""
