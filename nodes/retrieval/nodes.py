"""The retrieval nodes: load_files, split, ingest, embed, search, keyword_search and fuse,
each a thin adapter from a component of this package to the node contract. Batchable work
(embedding, search) takes whole micro-batches.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from typing import Any

import anyio.to_thread
import numpy as np

from llmkit.core.node import Node, Settings
from llmkit.core.registry import register
from llmkit.nodes.common import REMOTE_RETRY, check_k
from llmkit.nodes.protocols import (
    AsyncEmbedder,
    Embedder,
    Hit,
    Ingester,
    TextSearcher,
    VectorSearcher,
)
from llmkit.nodes.retrieval.documents import DEFAULT_PATTERNS, load_files, split
from llmkit.nodes.retrieval.embedders import HashingEmbedder

__all__ = ["Embed", "Fuse", "Ingest", "KeywordSearch", "LoadFiles", "Search", "Split"]


@register("load_files")
class LoadFiles(Node):
    """Documents from a file, folder or glob; unreadable files are reported, not fatal."""

    inputs = {"path": str}
    outputs = {"documents": list, "problems": list}
    deterministic = False  # the files behind a path change; their path does not

    def __init__(self, patterns: Sequence[str] = DEFAULT_PATTERNS) -> None:
        self.patterns = tuple(patterns)

    def run(self, path: str) -> dict[str, Any]:
        loaded = load_files(path, self.patterns)
        return {"documents": loaded.documents, "problems": loaded.problems}


@register("split")
class Split(Node):
    """Chunks of about `size` characters with `overlap`, cut at natural boundaries."""

    inputs = {"documents": list}
    outputs = {"chunks": list}

    def __init__(self, size: int = 800, overlap: int = 120) -> None:
        self.size, self.overlap = size, overlap

    def run(self, documents: list[dict[str, Any]]) -> dict[str, Any]:
        return {"chunks": [c for doc in documents for c in split(doc, self.size, self.overlap)]}


@register("ingest")
class Ingest(Node):
    """Brings an index in step with a folder (incremental, atomic); outputs the report."""

    inputs = {"path": str}
    outputs = {"report": dict}
    deterministic = False

    def __init__(self, index: Ingester) -> None:
        self.index = index

    def run(self, path: str) -> dict[str, Any]:
        return {"report": asdict(self.index.ingest(path))}


@register("embed")
class Embed(Node):
    """One vector per text; a micro-batch is one embedder call (one request, one product)."""

    inputs = {"text": str}
    outputs = {"vector": np.ndarray}
    settings = Settings(max_batch=256, retry=REMOTE_RETRY)

    def __init__(self, embedder: Embedder | AsyncEmbedder | None = None) -> None:
        self.embedder = embedder if embedder is not None else HashingEmbedder()

    @property
    def embedder(self) -> Embedder | AsyncEmbedder:
        return self._embedder

    @embedder.setter
    def embedder(self, embedder: Embedder | AsyncEmbedder) -> None:
        # A protocol isinstance check costs ~10 us: made once, not per batch.
        self._embedder, self._is_async = embedder, isinstance(embedder, AsyncEmbedder)

    def is_async(self) -> bool:
        """An HTTP embedder is awaited; a local one is a sync node, which the scheduler runs
        in a worker thread, or in the event loop when a batch is cheaper than the hop."""
        return self._is_async

    def run_batch(self, items: list[dict[str, Any]]) -> Any:
        texts = [item["text"] for item in items]
        if self._is_async:
            return self._aembed(texts)
        return [{"vector": row} for row in self.embedder.embed(texts)]

    async def _aembed(self, texts: list[str]) -> list[dict[str, Any]]:
        return [{"vector": row} for row in await self.embedder.aembed(texts)]


class _TopK(Node, abstract=True):
    """Top-k hits per item from an index, one index call per micro-batch; a subclass names
    its one input port and the call."""

    outputs = {"hits": list}
    settings = Settings(max_batch=1024, concurrency=2)

    def __init__(self, index: Any, k: int = 4, filter: Mapping[str, Any] | None = None):
        self.index, self.k, self.filter = index, check_k(k), filter

    def run_batch(self, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        (port,) = self.inputs
        return [{"hits": h} for h in self._search([item[port] for item in items])]

    @abstractmethod
    def _search(self, queries: list[Any]) -> list[list[Hit]]:
        """The hits of each query, in order."""


# Multiply-adds (queries x rows x dim) of a search done in the event loop itself: up to
# ~0.2 ms of work, less than the worker-thread hop it saves on a loaded 2-core machine.
INLINE_SEARCH_WORK = 2**20


@register("search")
class Search(_TopK):
    """Top-k chunks by vector similarity: one blockwise product for the whole micro-batch,
    in the event loop when it is shorter than a thread hop (`runs_inline`), else in a
    worker thread."""

    inputs = {"vector": np.ndarray}
    index: VectorSearcher

    async def run_batch(self, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        queries = np.stack([item["vector"] for item in items])
        if self.runs_inline(queries):
            hits = self._search(queries)
        else:
            hits = await anyio.to_thread.run_sync(self._search, queries,
                                                  abandon_on_cancel=True)
        return [{"hits": h} for h in hits]

    def runs_inline(self, queries: np.ndarray) -> bool:
        """Whether searching `queries` is cheap enough for the event loop: a prepared index
        that knows its size (a corpus still to ingest embeds, so it goes to a thread)."""
        if not getattr(self.index, "llmkit_prepared", True) or not hasattr(self.index, "__len__"):
            return False
        return queries.size * len(self.index) <= INLINE_SEARCH_WORK

    def _search(self, queries: np.ndarray) -> list[list[Hit]]:
        return self.index.search(queries, self.k, self.filter)


@register("keyword_search")
class KeywordSearch(_TopK):
    """Top-k chunks by BM25 for the query text, a micro-batch at a time."""

    inputs = {"query": str}
    index: TextSearcher

    def _search(self, queries: list[str]) -> list[list[Hit]]:
        return self.index.keyword_search(queries, self.k, self.filter)


@register("fuse")
class Fuse(Node):
    """Reciprocal rank fusion of two hit lists (hybrid search): score = Σ 1 / (rrf_k + rank)."""

    inputs = {"a": list, "b": list}
    outputs = {"hits": list}
    settings = Settings(inline=True)

    def __init__(self, k: int = 4, rrf_k: int = 60) -> None:
        self.k, self.rrf_k = check_k(k), rrf_k

    def run(self, a: list[dict[str, Any]], b: list[dict[str, Any]]) -> dict[str, Any]:
        scores: dict[str, float] = {}
        first: dict[str, dict[str, Any]] = {}
        for hits in (a, b):
            for rank, hit in enumerate(hits, 1):
                scores[hit["id"]] = scores.get(hit["id"], 0.0) + 1.0 / (self.rrf_k + rank)
                first.setdefault(hit["id"], hit)
        best = sorted(scores, key=lambda i: -scores[i])[:self.k]
        return {"hits": [{**first[i], "score": scores[i]} for i in best]}
