"""Approximate vector search for corpora past a few million rows: `HNSWIndex`, a
`VectorIndex` whose search walks a faiss HNSW graph (the `faiss` extra).

Below about a million rows exact batched search is as fast as HNSW at recall 0.99 on this
kind of machine (docs/performance.md), so the exact `VectorIndex` stays the default. Rows,
metadata, filters, persistence and content versions are the exact index's; only `search`
differs: the graph proposes candidates, which are rescored exactly, so scores are the same
dot products the exact index reports, and only which rows make the top k may differ.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from math import ceil
from typing import Any

import numpy as np

from llmkit.errors import require_extra
from llmkit.nodes.retrieval.vector_index import Hit, VectorIndex

__all__ = ["HNSWIndex"]


class HNSWIndex(VectorIndex):
    """`VectorIndex` with approximate search (faiss `IndexHNSWFlat`, inner product).

    `m` is the graph's degree, `ef_construction` and `ef_search` its build and search beam
    widths (higher: better recall, slower). The graph is built on the first search, extended
    as rows are appended, and rebuilt after rows are replaced; deleted rows stay in it and
    are skipped. A query whose candidates hold fewer than k live, matching rows (a selective
    filter) is answered exactly.
    """

    def __init__(self, dim: int, *, m: int = 32, ef_construction: int = 200,
                 ef_search: int = 128, **options: Any) -> None:
        self._faiss = require_extra("faiss", "faiss")
        super().__init__(dim, **options)
        self.m, self.ef_construction, self.ef_search = m, ef_construction, ef_search
        self._graph: Any = None
        self._graph_rows = 0  # rows [0, _graph_rows) are in the graph
        self._graph_lock = threading.Lock()

    def llmkit_fingerprint(self) -> dict[str, Any]:
        return {**super().llmkit_fingerprint(), "ann": "hnsw", "m": self.m,
                "ef_construction": self.ef_construction, "ef_search": self.ef_search}

    def add(self, ids: Sequence[str], vectors: Any,
            metadata: Sequence[dict] | None = None) -> None:
        replaced = any(id_ in self for id_ in ids)
        super().add(ids, vectors, metadata)
        if replaced:  # a replaced row's vector changed under the graph: rebuild it
            with self._graph_lock:
                self._graph, self._graph_rows = None, 0

    def _current_graph(self) -> Any:
        """The graph over every row, built or extended with the rows added since."""
        with self._graph_lock:
            n = self._table.n_rows
            if self._graph is None:
                self._graph = self._faiss.IndexHNSWFlat(self.dim, self.m,
                                                        self._faiss.METRIC_INNER_PRODUCT)
                self._graph.hnsw.efConstruction = self.ef_construction
                self._graph_rows = 0
            if self._graph_rows < n:
                self._graph.add(np.ascontiguousarray(self._vectors[self._graph_rows:n]))
                self._graph_rows = n
            return self._graph

    def search(self, queries: Any, k: int,
               filter: Mapping[str, Any] | None = None) -> list[list[Hit]]:
        queries = np.asarray(queries, dtype=np.float32)
        if queries.ndim == 1:
            queries = queries[None, :]
        if queries.ndim != 2 or queries.shape[1] != self.dim or k < 0:
            return super().search(queries, k, filter)  # the exact index's clear errors
        table = self._table
        mask = table.mask(filter)
        n_rows = table.n_rows
        n_valid = n_rows if mask is None else int(mask.sum())
        k = min(int(k), n_valid)
        if k == 0:
            return [[] for _ in range(len(queries))]
        # Ask for enough candidates that k of them are likely live and matching.
        wanted = min(n_rows, ceil(k * n_rows / n_valid) + k)
        graph = self._current_graph()
        graph.hnsw.efSearch = max(self.ef_search, wanted)
        _, candidates = graph.search(np.ascontiguousarray(queries), wanted)
        results = []
        for query, rows in zip(queries, candidates, strict=True):
            rows = rows[rows >= 0]
            if mask is not None:
                rows = rows[mask[rows]]
            if len(rows) < k:
                results.append(super().search(query[None, :], k, filter)[0])
                continue
            scores = (self._vectors[rows].astype(np.float64) @ query.astype(np.float64)
                      ).astype(np.float32)
            best = np.lexsort((rows, -scores))[:k]  # score descending, then row ascending
            results.append(table.hits(rows[best], scores[best]))
        return results
