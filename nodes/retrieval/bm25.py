"""BM25 keyword search: a small NumPy inverted index, with the same hits, filters,
persistence and content version as `VectorIndex`.

Chosen over `bm25s` (needs scipy) and `rank_bm25` (scores every document in Python) after
measuring all three on 50k chunks; see docs/retrieval.md.
"""

from __future__ import annotations

import os
import threading
from collections import Counter
from collections.abc import Mapping, Sequence
from itertools import chain
from pathlib import Path
from typing import Any

import msgpack
import numpy as np

from llmkit.nodes.retrieval.embedders import lexical_words
from llmkit.nodes.retrieval.index_dir import corrupt, load_index_dir, save_index_dir
from llmkit.nodes.retrieval.rows import Hit, RowTable, TableIndex

__all__ = ["BM25Index"]

_FORMAT = "llmkit.bm25/1"
_KIND = "bm25"
_EMPTY = np.zeros(0, dtype=np.int32)
_BATCH = 4096  # documents tokenized and counted at a time
TERMS_VERSION = 2  # how texts are cut into terms; 2: identifier parts (`lexical_words`)


class _Postings:
    """Term → (rows, BM25 weights) for the live rows, derived from the per-row term counts."""

    def __init__(self, terms: list[np.ndarray], counts: list[np.ndarray], live: np.ndarray,
                 n_terms: int, k1: float, b: float) -> None:
        live_rows = live.tolist()
        sizes = np.array([terms[r].size for r in live_rows], dtype=np.int64)
        term = np.concatenate([terms[r] for r in live_rows] or [_EMPTY])
        tf = np.concatenate([counts[r] for r in live_rows] or [_EMPTY]).astype(np.float32)
        doc = np.repeat(np.arange(live.size), sizes)
        lengths = np.bincount(doc, weights=tf, minlength=live.size)
        df = np.bincount(term, minlength=n_terms)
        # Lucene's BM25 (as in Elasticsearch): idf = ln(1 + (N - df + 0.5) / (df + 0.5)),
        # never negative, and tf / (tf + k1 * (1 - b + b * len / avg_len)).
        idf = np.log1p((live.size - df + 0.5) / (df + 0.5)).astype(np.float32)
        average = lengths.mean() if live.size else 1.0
        norm = (k1 * (1 - b + b * lengths / max(average, 1e-9))).astype(np.float32)
        weights = tf + norm[doc]
        np.divide(tf, weights, out=weights)
        weights *= idf[term]
        order = np.argsort(term, kind="stable")  # rows stay ascending within a term
        self.offsets = np.concatenate([[0], np.cumsum(df)])
        self.rows = live[doc[order]]
        self.weights = weights[order]

    def score(self, term_counts: Counter[int], n_rows: int) -> np.ndarray:
        """Dense BM25 scores of all rows for one query (query terms counted with repeats)."""
        scores = np.zeros(n_rows, dtype=np.float64)
        for term in sorted(term_counts):  # a fixed order keeps float sums reproducible
            lo, hi = self.offsets[term], self.offsets[term + 1]
            scores[self.rows[lo:hi]] += term_counts[term] * self.weights[lo:hi]
        return scores


class BM25Index(TableIndex):
    """Okapi BM25 over the shared `lexical_words` of texts: words and the parts of
    identifiers, no stemming or stop words (`terms`: the version of that cut it was built with).

    `search` returns `{"id", "score", "metadata"}` hits best first, only for rows sharing at
    least one word with the query (so possibly fewer than k); ties go to the earlier row.
    Thread safety: concurrent `search` calls are safe while nobody writes.
    """

    def __init__(self, k1: float = 1.5, b: float = 0.75) -> None:
        self.k1, self.b = float(k1), float(b)
        self.terms = TERMS_VERSION
        self._table = RowTable()
        self._vocab: dict[str, int] = {}
        self._terms: list[np.ndarray] = []  # per row: sorted term ids
        self._counts: list[np.ndarray] = []  # per row: their counts
        self._postings: _Postings | None = None
        self._lock = threading.Lock()

    def llmkit_fingerprint(self) -> dict[str, Any]:
        """Identifies what a search returns: changes with the content, for cache keys."""
        return {"type": type(self).__name__, "k1": self.k1, "b": self.b,
                "terms": self.terms, "content_version": self.content_version}

    def add(self, ids: Sequence[str], texts: Sequence[str],
            metadata: Sequence[dict] | None = None) -> None:
        """Add or replace documents."""
        if len(texts) != len(ids) or isinstance(texts, str):
            raise ValueError(f"got {len(ids)} ids but {len(texts)} texts")
        positions, rows = self._table.upsert(
            ids, metadata, lambda pos: msgpack.packb([texts[p] for p in pos]))
        for start in range(0, len(positions), _BATCH):  # bounded memory for big adds
            self._count_terms([texts[p] for p in positions[start:start + _BATCH]],
                              rows[start:start + _BATCH].tolist())
        self._postings = None

    def _count_terms(self, texts: list[str], rows: list[int]) -> None:
        """Store each text's term ids and counts at its row (vectorised over the texts)."""
        words = [lexical_words(text) for text in texts]
        flat = list(chain.from_iterable(words))
        vocab = self._vocab
        for word in dict.fromkeys(flat):  # first-seen order keeps term ids reproducible
            vocab.setdefault(word, len(vocab))
        term_ids = np.fromiter(map(vocab.__getitem__, flat), dtype=np.int64, count=len(flat))
        owner = np.repeat(np.arange(len(words)), [len(w) for w in words])
        width = max(len(vocab), 1)
        keys, counts = np.unique(owner * width + term_ids, return_counts=True)  # (doc, term)
        bounds = np.searchsorted(keys // width, np.arange(1, len(words)))
        per_terms = np.split((keys % width).astype(np.int32), bounds)
        per_counts = np.split(counts.astype(np.int32), bounds)
        for row, terms, tfs in zip(rows, per_terms, per_counts, strict=True):
            if row == len(self._terms):
                self._terms.append(terms)
                self._counts.append(tfs)
            else:
                self._terms[row], self._counts[row] = terms, tfs

    def delete(self, ids: Sequence[str]) -> int:
        """Delete documents by id (unknown ids are ignored); returns how many."""
        deleted = self._table.delete(ids)
        if deleted:
            self._postings = None
        return deleted

    def _current_postings(self) -> _Postings:
        postings = self._postings
        if postings is None:
            with self._lock:
                postings = self._postings
                if postings is None:
                    postings = _Postings(self._terms, self._counts, self._table.live_rows(),
                                         len(self._vocab), self.k1, self.b)
                    self._postings = postings
        return postings

    def search(self, queries: Sequence[str], k: int,
               filter: Mapping[str, Any] | None = None) -> list[list[Hit]]:
        """Top-`k` hits per query text, best first; `filter` as in `VectorIndex.search`."""
        if isinstance(queries, str):
            raise TypeError("search() takes a sequence of query texts; wrap one in a list")
        if k < 0:
            raise ValueError(f"k must be >= 0, got {k}")
        postings = self._current_postings()
        mask = self._table.mask(filter)
        n_rows = self._table.n_rows
        results = []
        for query in queries:
            terms = Counter(t for t in map(self._vocab.get, lexical_words(query)) if t is not None)
            if k == 0 or not terms:
                results.append([])
                continue
            scores = postings.score(terms, n_rows)
            rows = np.flatnonzero(scores > 0)
            if mask is not None:
                rows = rows[mask[rows]]
            if rows.size > k:  # keep everything tied with the k-th best, then sort exactly
                kth = -np.partition(-scores[rows], k - 1)[k - 1]
                rows = rows[scores[rows] >= kth]
            rows = rows[np.lexsort((rows, -scores[rows]))][:k]
            results.append(self._table.hits(rows, scores[rows]))
        return results

    def save(self, directory: str | os.PathLike) -> None:
        """Write `bm25.msgpack` (compacted) atomically into `directory`."""
        live = self._table.live_rows().tolist()
        lengths = [self._terms[r].size for r in live]
        state = {
            "format": _FORMAT, "k1": self.k1, "b": self.b, "terms_version": self.terms,
            **self._table.state(),
            "vocab": sorted(self._vocab, key=self._vocab.__getitem__),
            "offsets": np.concatenate([[0], np.cumsum(lengths, dtype=np.int64)]).tobytes(),
            "terms": np.concatenate([self._terms[r] for r in live] or [_EMPTY]).tobytes(),
            "counts": np.concatenate([self._counts[r] for r in live] or [_EMPTY]).tobytes(),
        }
        save_index_dir(directory, lambda tmp: (tmp / "bm25.msgpack").write_bytes(
            msgpack.packb(state)), _KIND)

    @classmethod
    def load(cls, directory: str | os.PathLike) -> BM25Index:
        """Open an index written by `save`."""
        source = load_index_dir(directory, _KIND)
        try:
            state = msgpack.unpackb((source / "bm25.msgpack").read_bytes())
            if not isinstance(state, dict) or state.get("format") != _FORMAT:
                raise ValueError("bm25.msgpack is not an llmkit BM25 index")
            index = cls(state["k1"], state["b"])
            index.terms = state.get("terms_version", 1)  # an older index keeps matching whole words
            index._table = RowTable.from_state(state)
            index._vocab = {term: i for i, term in enumerate(state["vocab"])}
            offsets = np.frombuffer(state["offsets"], dtype=np.int64)
            terms = np.frombuffer(state["terms"], dtype=np.int32)
            counts = np.frombuffer(state["counts"], dtype=np.int32)
            if (offsets.size != index._table.n_rows + 1 or offsets[-1] != terms.size
                    or counts.size != terms.size
                    or (terms.size and not 0 <= terms.min() <= terms.max() < len(index._vocab))):
                raise ValueError("postings do not match the ids and vocabulary")
            index._terms = np.split(terms, offsets[1:-1])
            index._counts = np.split(counts, offsets[1:-1])
        except Exception as exc:  # any failure to read means the directory is unusable
            raise corrupt(Path(directory), exc) from exc
        return index
