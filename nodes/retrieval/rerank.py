"""The `rerank` node: re-orders a query's candidate hits (from `search`, `keyword_search` or
`fuse`) by a reranker's relevance score and keeps the best `top_n`, each with its
`rerank_score` (its retrieval `score` stays as it was).

A reranker is either
- a `Reranker` (local, like `lexical_reranker`): one call scores a whole micro-batch, in a
  worker thread; or
- an `AsyncReranker` (an HTTP `/rerank` API, `http_reranker`): one request per query, the
  micro-batch's requests in flight together, at most the reranker's `concurrency` at once.
  Each request is retried on its own under the node's retry policy, and a query whose request
  still fails fails its own run only: the others keep (and cache) their results.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

import anyio

from llmkit.core.node import Node, Settings
from llmkit.core.registry import register
from llmkit.nodes.common import REMOTE_RETRY, check_k
from llmkit.nodes.protocols import Hit, Hits

__all__ = ["AsyncReranker", "Rerank", "Reranker", "hit_text"]

#: (index into the candidates, relevance score), best first
Ranking = list[tuple[int, float]]


@runtime_checkable
class Reranker(Protocol):
    """Scores candidates in the calling thread: per query, the best `top_n` of its hits."""

    def rerank(self, queries: Sequence[str], candidates: Sequence[Sequence[Hit]],
               top_n: int) -> list[Ranking]: ...


@runtime_checkable
class AsyncReranker(Protocol):
    """Scores one query's documents on the event loop (an HTTP API): the best `top_n`."""

    async def arerank(self, query: str, documents: Sequence[str], top_n: int) -> Ranking: ...


def hit_text(hit: Hit) -> str:
    """The text of a hit: its own `text`, else its metadata's (index hits keep it there)."""
    text = hit.get("text")
    if text is None:
        text = (hit.get("metadata") or {}).get("text")
    return text if isinstance(text, str) else ""


@register("rerank")
class Rerank(Node):
    """The best `top_n` of a query's hits by a reranker's score, with `rerank_score` added."""

    inputs = {"query": str, "hits": Hits}
    outputs = {"hits": Hits}
    settings = Settings(max_batch=64, retry=REMOTE_RETRY)

    def __init__(self, reranker: Reranker | AsyncReranker, top_n: int = 4) -> None:
        if not isinstance(reranker, (Reranker, AsyncReranker)):
            raise TypeError(f"reranker must have rerank() or arerank(), not "
                            f"{type(reranker).__name__}")
        self.reranker, self.top_n = reranker, check_k(top_n)
        self._is_async = isinstance(reranker, AsyncReranker)
        self.deterministic = getattr(reranker, "deterministic", True)

    def is_async(self) -> bool:
        return self._is_async

    def run_batch(self, items: list[dict[str, Any]]) -> Any:
        if self._is_async:
            return self._arerank(items)
        reranker: Reranker = self.reranker  # type: ignore[assignment]
        rankings = reranker.rerank([i["query"] for i in items], [i["hits"] for i in items],
                                   self.top_n)
        return [self._reordered(item["hits"], ranking)
                for item, ranking in zip(items, rankings, strict=True)]

    async def _arerank(self, items: list[dict[str, Any]]) -> list[dict[str, Any] | Exception]:
        """One request per item, together up to the reranker's concurrency; an item whose
        request fails (after its retries) gets its error as its outcome."""
        reranker: AsyncReranker = self.reranker  # type: ignore[assignment]
        limiter = anyio.CapacityLimiter(getattr(reranker, "concurrency", 8))
        outcomes: list[dict[str, Any] | Exception] = [{} for _ in items]

        async def request(query: str, documents: list[str]) -> Ranking:
            async with limiter:  # per attempt: a request waiting to retry holds no slot
                return await reranker.arerank(query, documents, self.top_n)

        async def one(i: int) -> None:
            hits = items[i]["hits"]
            try:
                ranking = (await self.settings.retry.call(
                    request, items[i]["query"], [hit_text(h) for h in hits]) if hits else [])
                outcomes[i] = self._reordered(hits, ranking)
            except Exception as exc:
                outcomes[i] = exc

        async with anyio.create_task_group() as tg:
            for i in range(len(items)):
                tg.start_soon(one, i)
        return outcomes

    def _reordered(self, hits: list[Hit], ranking: Ranking) -> dict[str, Any]:
        """The hits `ranking` names, in its order, with their scores; a ranking that names a
        hit that is not there, or one twice, is an error, not a shorter list."""
        if len(ranking) != min(self.top_n, len(hits)) or len({i for i, _ in ranking}) != len(
                ranking) or not all(0 <= i < len(hits) for i, _ in ranking):
            raise ValueError(f"the reranker ranked {[i for i, _ in ranking]} for "
                             f"{len(hits)} hits and top_n={self.top_n}")
        return {"hits": [{**hits[i], "rerank_score": float(score)} for i, score in ranking]}
