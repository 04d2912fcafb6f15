"""`HttpApi`: one HTTP API as every backend uses it.

JSON in, JSON (or a stream of lines) out, a client per event loop, every failure mapped to an
llmkit error by `llmkit.http.errors`, and `retries` (default 0: the engine retries) around
each call. A stream is retried only until its first line. Every body is read within
`max_response_bytes` and a deadline (see `HttpApi.__init__`).
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncGenerator, Mapping
from functools import partial
from typing import TYPE_CHECKING, Any

import httpx

from llmkit.http.client import (
    LoopLocalClient,
    TransportChoice,
    direct_transport,
    make_client,
    split_credentials,
)
from llmkit.http.errors import parse_json, raise_for_status
from llmkit.http.limits import DEFAULT_MAX_RESPONSE_BYTES, BoundedStream, failure
from llmkit.http.retry import with_retries
from llmkit.secrets import redact

if TYPE_CHECKING:
    from llmkit.http.transport import AiohttpTransport

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
        deadline: float | None = None,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        max_connections: int | None = None,
        transport: TransportChoice = "auto",
        retries: int = 0,
    ) -> None:
        """`timeout` bounds each wait (connect, each read); `deadline` a request as a whole,
        checked as its body arrives (each wait is then at most `deadline` too). Without a
        deadline, a whole answer must arrive within a numeric `timeout` and a stream is not
        bounded as a whole (an answer may stream for minutes). A user and password in
        `base_url` are sent as Basic auth and kept out of `base_url`.
        """
        if deadline is not None and not deadline > 0:
            raise ValueError(f"deadline must be a positive number of seconds, not {deadline!r}")
        if max_response_bytes < 1:
            raise ValueError("max_response_bytes must be at least 1")
        key_name = f"api_key (or {api_key_env})" if api_key_env else "api_key"
        self.base_url = split_credentials(base_url, api_key, key_name)[0].rstrip("/")
        self.api_key = api_key
        self.retries = retries
        self.deadline = deadline
        self.max_response_bytes = max_response_bytes
        self._json_headers: list[tuple[str, str]] | None = None  # `_post_direct`'s, made once
        self._whole_deadline = deadline if deadline is not None else (
            float(timeout) if isinstance(timeout, (int, float)) else None)
        self._status_options = {"api_key_env": api_key_env, "auth_hint": auth_hint}
        self._clients = LoopLocalClient(partial(
            make_client, base_url, api_key=api_key,
            timeout=timeout if deadline is None else _within(timeout, deadline),
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
            lambda: self._send("POST", url, self.deadline, json=payload, model=model),
            self.retries,
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
        finally:
            await response.aclose()

    async def aclose(self) -> None:
        """Close the running loop's client (see `LoopLocalClient`)."""
        await self._clients.aclose()

    async def _call(self, method: str, url: httpx.URL, *, model: str | None = None,
                    **kwargs: Any) -> Any:
        client = self._clients.get()
        transport = direct_transport(client)
        if transport is not None and "json" in kwargs and not client.cookies:
            return await self._post_direct(client, transport, url, kwargs["json"], model)
        response = await self._send(method, url, self._whole_deadline, model=model, **kwargs)
        try:
            body = await response.aread()
        finally:
            await response.aclose()
        return parse_json(body, url)

    async def _post_direct(self, client: httpx.AsyncClient, transport: AiohttpTransport,
                           url: httpx.URL, payload: Any, model: str | None) -> Any:
        """`_call` of a JSON POST straight through the aiohttp transport: the same bytes
        out, limits and errors, without httpx's Request and Response objects. A response
        that is an error, compressed or sets a cookie is handed to httpx after all."""
        seconds = self._whole_deadline
        until = None if seconds is None else time.monotonic() + seconds
        body = json.dumps(payload, ensure_ascii=False, separators=(",", ":"),
                          allow_nan=False).encode()  # as httpx encodes it
        if self._json_headers is None:
            self._json_headers = [*client.headers.multi_items(),
                                  ("Content-Type", "application/json")]
        try:
            status, response, stream = await transport.send_direct(
                "POST", url, self._json_headers, body, client.timeout)
        except httpx.TransportError as exc:
            raise failure(exc, url, until, seconds) from exc
        bounded = BoundedStream(stream, url, self.max_response_bytes, until, seconds)
        try:
            content = b"".join([chunk async for chunk in bounded])
        finally:
            await bounded.aclose()
        headers = response.headers
        if status < 300 and "Content-Encoding" not in headers and "Set-Cookie" not in headers:
            return parse_json(content, url)
        full = httpx.Response(status, headers=response.raw_headers, content=content,
                              request=client.build_request("POST", url, content=body,
                                                           headers=self._json_headers))
        client.cookies.extract_cookies(full)
        raise_for_status(full, model=model, **self._status_options)
        return parse_json(full.content, url)

    async def _send(self, method: str, url: httpx.URL, seconds: float | None, *,
                    model: str | None = None, **kwargs: Any) -> httpx.Response:
        """Send one request due within `seconds` (None: no deadline) and return its response,
        the body unread but bounded (`BoundedStream`); a failure is raised instead."""
        client = self._clients.get()
        until = None if seconds is None else time.monotonic() + seconds
        try:
            response = await client.send(client.build_request(method, url, **kwargs),
                                         stream=True)
        except httpx.TransportError as exc:
            raise failure(exc, url, until, seconds) from exc
        response.stream = BoundedStream(response.stream, url, self.max_response_bytes, until,
                                        seconds)
        if response.status_code >= 300:
            try:
                await response.aread()  # the error message is in the body
            finally:
                await response.aclose()
            raise_for_status(response, model=model, **self._status_options)
        return response

    def __repr__(self) -> str:
        shown = redact({"base_url": self.base_url, "api_key": self.api_key,
                        "retries": self.retries})
        return f"HttpApi({', '.join(f'{k}={v!r}' for k, v in shown.items())})"


def _within(timeout: float | httpx.Timeout, deadline: float) -> httpx.Timeout:
    """`timeout` with no single wait longer than `deadline` (a timer per request for the
    deadline itself would cost more CPU than the rest of the bookkeeping)."""
    waits = httpx.Timeout(timeout).as_dict()
    return httpx.Timeout(**{name: deadline if wait is None else min(wait, deadline)
                            for name, wait in waits.items()})
