"""Backends for Ollama's native API (`/api/embed`, `/api/chat` with NDJSON streaming).

The server comes from $OLLAMA_HOST as Ollama's own CLI reads it ("host", "host:port" or a
URL; default http://127.0.0.1:11434); a key, for hosted Ollama, from $OLLAMA_API_KEY.
For Ollama's OpenAI-compatible /v1, use nodes.openai with base_url=http://host:11434/v1.
Both take `HttpApi`'s limits as keywords: `deadline`, `max_response_bytes`, `max_connections`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import httpx
import numpy as np

from llmkit.http.api import HttpApi
from llmkit.http.backends import HttpChat, HttpEmbedder
from llmkit.http.client import TransportChoice
from llmkit.http.errors import parse_json, unexpected_body
from llmkit.http.limits import DEFAULT_MAX_RESPONSE_BYTES

__all__ = ["DEFAULT_PORT", "OllamaChat", "OllamaEmbedder", "ollama_base_url"]

DEFAULT_PORT = 11434


def ollama_base_url(host: str | None = None) -> str:
    """The base URL for `host` (or $OLLAMA_HOST): no scheme means http and port 11434."""
    host = (host or os.environ.get("OLLAMA_HOST") or "").strip() or "127.0.0.1"
    if "://" in host:
        return host.rstrip("/")
    url = httpx.URL(f"http://{host}")
    return str(url if url.port else url.copy_with(port=DEFAULT_PORT)).rstrip("/")


def _api(base_url: str | None, api_key: str | None, **options: Any) -> HttpApi:
    return HttpApi(
        ollama_base_url(base_url), api_key=api_key or os.environ.get("OLLAMA_API_KEY"),
        api_key_env="OLLAMA_API_KEY", **options,
    )


class OllamaEmbedder(HttpEmbedder):
    """Embeddings from `POST /api/embed` (`dim`, when given, is sent as `dimensions`)."""

    api = "ollama"
    path = "/api/embed"

    def __init__(
        self,
        model: str,
        base_url: str | None = None,
        api_key: str | None = None,
        dim: int | None = None,
        max_inputs_per_request: int = 256,
        concurrency: int = 8,
        timeout: float | httpx.Timeout = 60.0,
        *,
        deadline: float | None = None,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        max_connections: int | None = None,
        transport: TransportChoice = "auto",
        retries: int = 0,
    ) -> None:
        http = _api(base_url, api_key, timeout=timeout, deadline=deadline,
                    max_response_bytes=max_response_bytes, max_connections=max_connections,
                    transport=transport, retries=retries)
        super().__init__(model, http, dim=dim, max_inputs_per_request=max_inputs_per_request,
                         concurrency=concurrency)

    def _vectors(self, body: Any, n: int) -> np.ndarray:
        try:
            rows = body["embeddings"]
        except (KeyError, TypeError):
            raise unexpected_body(self._url, body, f"{n} embeddings") from None
        if not isinstance(rows, list):
            raise unexpected_body(self._url, body, f"{n} embeddings")
        return self._matrix(rows, n)


class OllamaChat(HttpChat):
    """Chat from `POST /api/chat`, whole or streamed (one JSON object per line, the last one
    with `"done": true`)."""

    api = "ollama"
    path = "/api/chat"
    end_marker = '"done": true'

    def __init__(
        self,
        model: str | None = None,
        base_url: str | None = None,
        api_key: str | None = None,
        temperature: float = 0.0,
        max_tokens: int | None = None,
        stop: str | Sequence[str] | None = None,
        seed: int | None = None,
        system_prompt: str | None = None,
        timeout: float | httpx.Timeout = 120.0,
        *,
        deadline: float | None = None,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        max_connections: int | None = None,
        transport: TransportChoice = "auto",
        retries: int = 0,
    ) -> None:
        http = _api(base_url, api_key, timeout=timeout, deadline=deadline,
                    max_response_bytes=max_response_bytes, max_connections=max_connections,
                    transport=transport, retries=retries)
        super().__init__(model, http, temperature=temperature, max_tokens=max_tokens, stop=stop,
                         seed=seed, system_prompt=system_prompt)
        options: dict[str, Any] = {"temperature": temperature}
        for name, value in (("num_predict", max_tokens), ("stop", self.stop), ("seed", seed)):
            if value is not None:
                options[name] = value
        self._options = options

    def _payload(self, messages: list[Mapping[str, Any]], stream: bool) -> dict[str, Any]:
        return {"model": self.model, "messages": messages, "stream": stream,
                "options": self._options}

    def _reply(self, body: Any) -> str:
        try:
            return body["message"]["content"] or ""
        except (KeyError, TypeError):
            raise unexpected_body(self._url, body, "message.content") from None

    def _piece(self, line: bytes) -> tuple[str, bool]:
        event = parse_json(line, self._url)
        return self._reply(event), event.get("done") is True
