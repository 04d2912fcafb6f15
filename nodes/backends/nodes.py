"""The backend nodes: web_search, the web's results shaped like search hits."""

from __future__ import annotations

from typing import Any

from llmkit.core.node import Node, Settings
from llmkit.core.registry import register
from llmkit.nodes.common import REMOTE_RETRY, check_k
from llmkit.nodes.protocols import Hits

__all__ = ["WebSearchNode"]


@register("web_search")
class WebSearchNode(Node):
    """Web results for the query from a SearxNG-style JSON API, shaped like search hits."""

    inputs = {"query": str}
    outputs = {"hits": Hits}
    deterministic = False  # the web changes
    settings = Settings(retry=REMOTE_RETRY)

    def __init__(self, client: Any = None, k: int = 5) -> None:
        if client is None:  # the HTTP stack is imported only when a client is built
            from llmkit.nodes.backends.websearch import SearxClient

            client = SearxClient()
        self.client, self.k = client, check_k(k)

    async def run(self, query: str) -> dict[str, Any]:
        return {"hits": await self.client.asearch(query, k=self.k)}
