"""`WebSearch`: web results in one line, from a SearxNG instance.

A thin facade, like `RAGChain`: it builds a one-node pipeline (the `web_search` node over a
`SearxClient`) and runs it with the same runner, rather than calling the client directly.
That way the engine's retry policy applies (429 honouring Retry-After, 5xx, timeouts,
resets: the node's `REMOTE_RETRY`, so the client itself does not retry), a `cache=` store
keeps results per query exactly as a pipeline file would, and the sync `search` runs on the
shared background loop, whose HTTP client and keep-alive connections every call reuses.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from llmkit.core import background
from llmkit.core.pipeline import Pipeline

if TYPE_CHECKING:
    from llmkit.cache import CacheStore

__all__ = ["WebSearch"]


class WebSearch:
    """Search the web through SearxNG's JSON API at `base_url` (default `$SEARX_URL`).

    `search(query)` and `await asearch(query)` return the first `k` distinct results, best
    first, shaped like retrieval hits (`id`, `score`, `text`, `metadata.source`/`title`), so
    they feed `build_context` unchanged. Web results change, so they are cached only when a
    `cache` store is given, and then for `cache_ttl` seconds.
    """

    def __init__(self, base_url: str | None = None, k: int = 5, *,
                 cache: CacheStore | None = None, cache_ttl: float | None = 3600.0,
                 timeout: float = 15.0) -> None:
        from llmkit.nodes.backends.nodes import WebSearchNode
        from llmkit.nodes.backends.websearch import SearxClient

        self.client = SearxClient(base_url, timeout=timeout, retries=0)  # the node retries
        self.k = k
        node = WebSearchNode(self.client, k=k)
        if cache is not None:
            node.configure(cache=True, cache_ttl=cache_ttl)
        self.cache = cache
        self.pipeline = (Pipeline("web_search", inputs=["query"])
                         .add("search", node, query="query")
                         .outputs(hits="search.hits"))

    def search(self, query: str) -> list[dict[str, Any]]:
        """The hits for `query`, computed on llmkit's background loop (never a new loop)."""
        return background.call(self.asearch, query)

    async def asearch(self, query: str) -> list[dict[str, Any]]:
        """Async `search`, on the caller's loop."""
        result = await self.pipeline.arun({"query": query}, cache=self.cache)
        return result["hits"]

    async def aclose(self) -> None:
        """Close the calling loop's HTTP client (the background loop's closes at exit)."""
        await self.client.aclose()

    def __repr__(self) -> str:
        return f"WebSearch(base_url={self.client.http.base_url!r}, k={self.k})"
