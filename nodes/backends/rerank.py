"""A reranker behind an HTTP `/rerank` API: a cross-encoder served by llama.cpp
(`llama-server --reranking`), vLLM, Infinity, TEI, or a hosted API (Jina, Cohere).

Two dialects, both `POST {base_url}/rerank`:

- `cohere` (the default; llama.cpp, vLLM, Jina, Cohere, Infinity): body `{"model", "query",
  "documents": [str], "top_n"}`, answer `{"results": [{"index", "relevance_score"}]}`. With
  base_url `http://host:8080/v1` this is llama.cpp's and vLLM's `/v1/rerank`.
- `tei` (Hugging Face text-embeddings-inference): body `{"query", "texts": [str],
  "truncate": true}`, answer `[{"index", "score"}]` for every text; the best `top_n` are
  kept here.

The server is `base_url` or $RERANK_BASE_URL; the key `api_key` or $RERANK_API_KEY (none is
sent when neither gives one). An answer that does not rank the documents asked for (too few
results, an index out of range or twice, a score that is not a number) is an error, never a
shorter list, so only complete rankings reach the cache.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from typing import Any, Literal

import httpx

from llmkit.errors import BackendError, LlmkitError
from llmkit.http.backends import HttpModel
from llmkit.http.client import TransportChoice
from llmkit.http.errors import unexpected_body
from llmkit.http.limits import DEFAULT_MAX_RESPONSE_BYTES

__all__ = ["HttpReranker"]

Dialect = Literal["cohere", "tei"]


class HttpReranker(HttpModel):
    """Relevance scores from `POST {base_url}/rerank`, one request per query.

    `concurrency` bounds the requests in flight for one micro-batch of the `rerank` node;
    `timeout`, `deadline`, `max_response_bytes`, `max_connections`, `transport` and `retries`
    are `HttpApi`'s.
    """

    api = "rerank"
    key_env = "RERANK_API_KEY"
    deterministic = True

    def __init__(
        self,
        model: str | None = None,
        base_url: str | None = None,
        api_key: str | None = None,
        dialect: Dialect = "cohere",
        concurrency: int = 8,
        timeout: float | httpx.Timeout = 60.0,
        *,
        deadline: float | None = None,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        max_connections: int | None = None,
        transport: TransportChoice = "auto",
        retries: int = 0,
    ) -> None:
        if dialect not in ("cohere", "tei"):
            raise ValueError(f"dialect must be 'cohere' or 'tei', not {dialect!r}")
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self.http = self.connect(base_url, api_key, timeout=timeout, deadline=deadline,
                                 max_response_bytes=max_response_bytes,
                                 max_connections=max_connections, transport=transport,
                                 retries=retries)
        self.model, self.dialect, self.concurrency = model, dialect, concurrency
        self._url = self.http.url("/rerank")

    @staticmethod
    def server_url(base_url: str | None) -> str:
        url = base_url or os.environ.get("RERANK_BASE_URL")
        if not url:
            raise LlmkitError("HttpReranker needs the reranking server: pass base_url (e.g. "
                              "http://127.0.0.1:8080/v1 for llama-server --reranking) or set "
                              "RERANK_BASE_URL")
        return url

    def llmkit_fingerprint(self) -> dict[str, Any]:
        return {"api": self.api, "dialect": self.dialect, "model": self.model,
                "base_url": self.http.base_url}

    async def arerank(self, query: str, documents: Sequence[str],
                      top_n: int) -> list[tuple[int, float]]:
        """The best `top_n` documents for `query`: (index, score), best first."""
        if not documents:
            return []
        want = min(top_n, len(documents))
        if self.dialect == "tei":
            payload: dict[str, Any] = {"query": query, "texts": list(documents),
                                       "truncate": True}
        else:
            payload = {"query": query, "documents": list(documents), "top_n": want}
            if self.model is not None:
                payload["model"] = self.model
        body = await self.http.post_json(self._url, payload, model=self.model)
        return self._ranking(body, len(documents), want)

    def _ranking(self, body: Any, n: int, want: int) -> list[tuple[int, float]]:
        """The best `want` of the (index, score) pairs of an answer about `n` documents."""
        key = "score" if self.dialect == "tei" else "relevance_score"
        try:
            results = body if self.dialect == "tei" else body["results"]
            pairs = [(item["index"], item[key]) for item in results]
        except (KeyError, TypeError, IndexError):
            raise unexpected_body(self._url, body, f"results[].index and .{key}") from None
        indices = [i for i, _ in pairs]
        if (len(pairs) < want or len(set(indices)) != len(indices)
                or not all(type(i) is int and 0 <= i < n for i in indices)
                or not all(isinstance(s, (int, float)) and not isinstance(s, bool)
                           and math.isfinite(s) for _, s in pairs)):
            raise BackendError(f"{self.model or 'the reranker'} at {self.http.base_url} "
                               f"ranked indices {indices[:20]} for {n} documents (top_n="
                               f"{want}); expected {want} distinct indices below {n}, each "
                               "with a finite score")
        pairs.sort(key=lambda pair: (-pair[1], pair[0]))
        return [(i, float(s)) for i, s in pairs[:want]]
