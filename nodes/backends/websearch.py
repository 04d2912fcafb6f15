"""Web search through a SearxNG instance's JSON API (`GET /search?format=json`).

Results come back shaped like retrieval hits, so they flow into `build_context` unchanged:
`{"id": url, "score": 1 / rank, "text": content, "metadata": {"source": url, "title": ...}}`.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import httpx

from llmkit.errors import LlmkitError
from llmkit.http.api import HttpApi
from llmkit.http.backends import HttpResource
from llmkit.http.client import TransportChoice
from llmkit.http.errors import unexpected_body
from llmkit.http.limits import DEFAULT_MAX_RESPONSE_BYTES

__all__ = ["SearxClient"]

_FORBIDDEN_HINT = "enable the json format in SearxNG's settings.yml (search: formats: [json])"


class SearxClient(HttpResource):
    """Search a SearxNG instance at `base_url` (default $SEARX_URL).

    Retries twice by default (unlike the model backends): it is used outside the engine too.
    Results change with the web, so it is not deterministic. `deadline`, `max_response_bytes`
    and `max_connections` are `HttpApi`'s.
    """

    api = "searxng"
    deterministic = False

    def __init__(
        self,
        base_url: str | None = None,
        *,
        timeout: float | httpx.Timeout = 15.0,
        retries: int = 2,
        transport: TransportChoice = "auto",
        deadline: float | None = None,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        max_connections: int | None = None,
    ) -> None:
        base_url = base_url or os.environ.get("SEARX_URL")
        if not base_url:
            raise LlmkitError("SearxClient needs a SearxNG URL: pass base_url or set SEARX_URL")
        self.http = HttpApi(base_url, api_key_env=None, auth_hint=_FORBIDDEN_HINT,
                            timeout=timeout, deadline=deadline,
                            max_response_bytes=max_response_bytes,
                            max_connections=max_connections, transport=transport,
                            retries=retries)
        self._url = self.http.url("/search")

    def llmkit_fingerprint(self) -> dict[str, Any]:
        return {"api": self.api, "base_url": self.http.base_url}

    async def asearch(
        self,
        query: str,
        *,
        k: int = 5,
        categories: str | Sequence[str] | None = None,
        language: str | None = None,
    ) -> list[dict[str, Any]]:
        """The first `k` distinct results of the first result page, best first."""
        params = {"q": query, "format": "json"}
        if categories:
            params["categories"] = categories if isinstance(categories, str) else ",".join(
                categories)
        if language:
            params["language"] = language
        body = await self.http.get_json(self._url, params)
        try:
            results = body["results"]
            hits: list[dict[str, Any]] = []
            seen: set[str] = set()
            for result in results:
                url = result.get("url")
                if not url or url in seen:
                    continue
                seen.add(url)
                title = result.get("title") or ""
                hits.append({
                    "id": url,
                    "score": 1.0 / (len(hits) + 1),
                    "text": result.get("content") or title,
                    "metadata": {"source": url, "title": title},
                })
                if len(hits) == k:
                    break
        except (KeyError, TypeError, AttributeError):
            raise unexpected_body(self._url, body, "results[].url") from None
        return hits
