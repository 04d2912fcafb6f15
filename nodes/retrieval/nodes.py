"""The retrieval nodes: load_files, split, ingest, embed, search, keyword_search and fuse,
each a thin adapter from a component of this package to the node contract. Batchable work
(embedding, search) takes whole micro-batches; runs that search with different filters
share a micro-batch and make one index call per distinct filter.
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
    Hits,
    Ingester,
    TextSearcher,
    TokenCounter,
    VectorSearcher,
)
from llmkit.nodes.retrieval.documents import DEFAULT_PATTERNS, load_files, split
from llmkit.nodes.retrieval.embedders import HashingEmbedder
from llmkit.nodes.retrieval.filters import Filter, check_filter, filter_key, narrow
from llmkit.nodes.retrieval.tokens import WordPieceCounter

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
    """Chunks of at most `size` characters (or tokens) with `overlap`, cut at natural
    boundaries; `unit: tokens` counts with `tokenizer` (default: BERT WordPiece, the
    MiniLM embedder's), so chunks fit an embedding model's window."""

    inputs = {"documents": list}
    outputs = {"chunks": list}

    def __init__(self, size: int = 800, overlap: int = 120, unit: str = "chars",
                 tokenizer: TokenCounter | None = None) -> None:
        if unit not in ("chars", "tokens"):
            raise ValueError(f"unit must be 'chars' or 'tokens', not {unit!r}")
        if tokenizer is not None and (unit != "tokens" or not isinstance(tokenizer,
                                                                          TokenCounter)):
            raise ValueError("a tokenizer is for unit: tokens, and needs a count_tokens(text) "
                             "method")
        if size < 1 or not 0 <= overlap < size:
            raise ValueError(f"split needs size >= 1 and 0 <= overlap < size, got size={size}"
                             f", overlap={overlap}")
        self.size, self.overlap = size, overlap
        self.tokens = (tokenizer or WordPieceCounter()) if unit == "tokens" else None

    def run(self, documents: list[dict[str, Any]]) -> dict[str, Any]:
        return {"chunks": [c for doc in documents
                           for c in split(doc, self.size, self.overlap, tokens=self.tokens)]}


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
    """Top-k hits per item from an index, one index call per micro-batch and filter: the
    `filter` param, narrowed by each run's `filter` input when one is wired. A run whose
    filter is invalid fails alone. A subclass names its query port and the call."""

    outputs = {"hits": Hits}
    defaults = {"filter": None}
    settings = Settings(max_batch=1024, concurrency=2)
    query: str  # the input port the queries come in by

    def __init__(self, index: Any, k: int = 4, filter: Mapping[str, Any] | None = None):
        self.index, self.k, self.filter = index, check_k(k), check_filter(filter)

    def run_batch(self, items: list[dict[str, Any]]) -> list[Any]:
        return self._answer(items, [item[self.query] for item in items])

    def _answer(self, items: list[dict[str, Any]], queries: Sequence[Any]) -> list[Any]:
        """Each item's `{"hits"}`, or the ValueError of its invalid filter: the items are
        grouped by filter, one `_search` per group (one for the whole batch when no run
        filters)."""
        outs: list[Any] = [None] * len(items)
        groups: dict[str, tuple[Filter | None, list[int]]] = {}
        for i, item in enumerate(items):
            try:
                wanted = narrow(self.filter, check_filter(item.get("filter")))
            except ValueError as exc:
                outs[i] = exc
                continue
            groups.setdefault(filter_key(wanted), (wanted, []))[1].append(i)
        for wanted, rows in groups.values():
            chosen = queries if len(rows) == len(items) else _take(queries, rows)
            for i, hits in zip(rows, self._search(chosen, wanted), strict=True):
                outs[i] = {"hits": hits}
        return outs

    @abstractmethod
    def _search(self, queries: Any, filter: Filter | None) -> list[list[Hit]]:
        """The hits of each query, in order."""


def _take(queries: Sequence[Any], rows: list[int]) -> Any:
    """The queries at `rows`: a list, or the rows of a query matrix."""
    if isinstance(queries, np.ndarray):
        return queries[rows]
    return [queries[i] for i in rows]


# Multiply-adds (queries x rows x dim) of a search done in the event loop itself: up to
# ~0.2 ms of work, less than the worker-thread hop it saves on a loaded 2-core machine.
INLINE_SEARCH_WORK = 2**20


@register("search")
class Search(_TopK):
    """Top-k chunks by vector similarity: one blockwise product for the whole micro-batch,
    in the event loop when it is shorter than a thread hop (`runs_inline`), else in a
    worker thread."""

    inputs = {"vector": np.ndarray, "filter": dict}
    query = "vector"
    index: VectorSearcher

    async def run_batch(self, items: list[dict[str, Any]]) -> list[Any]:
        queries = np.stack([item["vector"] for item in items])
        if self.runs_inline(queries):
            return self._answer(items, queries)
        return await anyio.to_thread.run_sync(self._answer, items, queries,
                                              abandon_on_cancel=True)

    def runs_inline(self, queries: np.ndarray) -> bool:
        """Whether searching `queries` is cheap enough for the event loop: a prepared index
        that knows its size (a corpus still to ingest embeds, so it goes to a thread)."""
        if not getattr(self.index, "llmkit_prepared", True) or not hasattr(self.index, "__len__"):
            return False
        return queries.size * len(self.index) <= INLINE_SEARCH_WORK

    def _search(self, queries: np.ndarray, filter: Filter | None) -> list[list[Hit]]:
        return self.index.search(queries, self.k, filter)


@register("keyword_search")
class KeywordSearch(_TopK):
    """Top-k chunks by BM25 for the query text, a micro-batch at a time."""

    inputs = {"query": str, "filter": dict}
    query = "query"
    index: TextSearcher

    def _search(self, queries: list[str], filter: Filter | None) -> list[list[Hit]]:
        return self.index.keyword_search(queries, self.k, filter)


@register("fuse")
class Fuse(Node):
    """Reciprocal rank fusion of two hit lists (hybrid search): score = Σ 1 / (rrf_k + rank)."""

    inputs = {"a": Hits, "b": Hits}
    outputs = {"hits": Hits}
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
