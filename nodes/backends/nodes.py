"""The backend nodes: web_search, the web's results shaped like search hits."""

from __future__ import annotations

from typing import Any

import anyio

from llmkit.core.node import Node, Settings
from llmkit.core.registry import register
from llmkit.nodes.common import REMOTE_RETRY, check_k
from llmkit.nodes.protocols import Hits

__all__ = ["WebSearchNode"]


@register("web_search")
class WebSearchNode(Node):
    """Web results for the query from a SearxNG-style JSON API, shaped like search hits.

    The API takes one query a request, so a micro-batch sends its queries side by side, each
    retried on its own (`retry`): one failing query fails only its item."""

    inputs = {"query": str}
    outputs = {"hits": Hits}
    deterministic = False  # the web changes
    settings = Settings(retry=REMOTE_RETRY)

    def __init__(self, client: Any = None, k: int = 5) -> None:
        if client is None:  # the HTTP stack is imported only when a client is built
            from llmkit.nodes.backends.websearch import SearxClient

            client = SearxClient()
        self.client, self.k = client, check_k(k)

    async def run_batch(self, items: list[dict[str, Any]]) -> list[dict[str, Any] | Exception]:
        results: list[dict[str, Any] | Exception] = [{}] * len(items)

        async def one(i: int) -> None:
            try:
                results[i] = await self.settings.retry.call(self._search, items[i]["query"])
            except Exception as exc:  # that item's error; the others go on
                results[i] = exc

        async with anyio.create_task_group() as tg:
            for i in range(len(items)):
                tg.start_soon(one, i)
        return results

    async def _search(self, query: str) -> dict[str, Any]:
        return {"hits": await self.client.asearch(query, k=self.k)}
