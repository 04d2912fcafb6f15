"""`HttpApi`: one HTTP API as every backend uses it.

JSON in, JSON (or a stream of lines) out, a client per event loop, every failure mapped to an
llmkit error by `llmkit.http.errors`, and `retries` (default 0: the engine retries) around
each call. A stream is retried only until its first line.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Mapping
from functools import partial
from typing import Any

import httpx

from llmkit.http.client import LoopLocalClient, TransportChoice, make_client
from llmkit.http.errors import parse_json, raise_for_status, transport_error
from llmkit.http.retry import with_retries
from llmkit.secrets import redact

__all__ = ["HttpApi"]


class HttpApi:
    """A base URL, its credentials and its clients; the key is sent, never printed."""

    def __init__(
        self,
        base_url: str,
        *,
        api_key: str | None = None,
        api_key_env: str | None = None,
        auth_hint: str | None = None,
        timeout: float | httpx.Timeout = 60.0,
        max_connections: int = 100,
        transport: TransportChoice = "auto",
        retries: int = 0,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key
        self.retries = retries
        self._status_options = {"api_key_env": api_key_env, "auth_hint": auth_hint}
        self._clients = LoopLocalClient(partial(
            make_client, self.base_url, api_key=api_key, timeout=timeout,
            max_connections=max_connections, transport=transport,
        ))

    def url(self, path: str) -> httpx.URL:
        """The absolute URL of `path`, parsed once by the caller and reused for every call."""
        return httpx.URL(self.base_url + path)

    async def post_json(self, url: httpx.URL, payload: Any, *, model: str | None = None) -> Any:
        """POST `payload` as JSON and return the decoded JSON answer."""
        return await with_retries(
            lambda: self._call("POST", url, json=payload, model=model), self.retries
        )

    async def get_json(self, url: httpx.URL, params: Mapping[str, str]) -> Any:
        """GET `url` with a query string and return the decoded JSON answer."""
        return await with_retries(lambda: self._call("GET", url, params=params), self.retries)

    async def stream_lines(
        self, url: httpx.URL, payload: Any, *, model: str | None = None
    ) -> AsyncGenerator[bytes, None]:
        """POST `payload` and yield the answer's non-empty lines (SSE or NDJSON framing)."""
        response = await with_retries(
            lambda: self._send("POST", url, json=payload, model=model, stream=True), self.retries
        )
        try:
            pending = b""
            async for chunk in response.aiter_bytes():
                lines = (pending + chunk).split(b"\n")
                pending = lines.pop()
                for line in lines:
                    if line.strip():
                        yield line.rstrip(b"\r")
            if pending.strip():
                yield pending
        except httpx.TransportError as exc:
            raise transport_error(exc, url) from exc
        finally:
            await response.aclose()

    async def aclose(self) -> None:
        """Close the running loop's client (see `LoopLocalClient`)."""
        await self._clients.aclose()

    async def _call(self, method: str, url: httpx.URL, *, model: str | None = None,
                    **kwargs: Any) -> Any:
        response = await self._send(method, url, model=model, **kwargs)
        return parse_json(response.content, url)

    async def _send(self, method: str, url: httpx.URL, *, model: str | None = None,
                    stream: bool = False, **kwargs: Any) -> httpx.Response:
        """Send one request; a response that comes back is a success (errors are raised)."""
        client = self._clients.get()
        try:
            response = await client.send(client.build_request(method, url, **kwargs),
                                         stream=stream)
            if stream and response.status_code >= 300:
                try:
                    await response.aread()  # the error message is in the body
                finally:
                    await response.aclose()
        except httpx.TransportError as exc:
            raise transport_error(exc, url) from exc
        raise_for_status(response, model=model, **self._status_options)
        return response

    def __repr__(self) -> str:
        shown = redact({"base_url": self.base_url, "api_key": self.api_key,
                        "retries": self.retries})
        return f"HttpApi({', '.join(f'{k}={v!r}' for k, v in shown.items())})"
