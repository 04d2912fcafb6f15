"""An httpx transport that sends requests through one aiohttp session.

httpx stays the API every backend codes against; this transport replaces httpcore's pool,
whose CPU cost per request grows with the number of requests in flight (httpx issue #3215).
aiohttp runs on asyncio only: `make_client` picks httpx's own transport under trio.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator
from functools import lru_cache

import aiohttp
import httpx
from yarl import URL

__all__ = ["AiohttpTransport"]


class AiohttpTransport(httpx.AsyncBaseTransport):
    """Forward httpx requests through one keep-alive `aiohttp.ClientSession`.

    The session is opened on the first request, in the running loop, and belongs to that
    loop (hold clients in a `LoopLocalClient` when several loops are in play). Request bodies
    are buffered; response bodies stream. Proxy variables and ~/.netrc are not read (aiohttp's
    `trust_env` costs two thread hops per request): `make_client` uses httpx's pool when a
    proxy applies.
    """

    def __init__(self, *, max_connections: int | None = None, keepalive_expiry: float = 5.0,
                 ssl_context: ssl.SSLContext | None = None) -> None:
        """`max_connections` None: no limit; `keepalive_expiry` is httpx's default (servers such
        as uvicorn drop idle connections after 5 s); `ssl_context` defaults to httpx's
        (certifi, $SSL_CERT_FILE)."""
        self._max_connections = max_connections
        self._keepalive_expiry = keepalive_expiry
        self._ssl_context = ssl_context
        self._session: aiohttp.ClientSession | None = None

    def _open(self) -> aiohttp.ClientSession:
        connector = aiohttp.TCPConnector(
            limit=self._max_connections or 0,
            limit_per_host=0,
            keepalive_timeout=self._keepalive_expiry,
            ssl=self._ssl_context or httpx.create_ssl_context(),
        )
        # httpx decodes Content-Encoding itself, so aiohttp must hand over the raw bytes.
        self._session = aiohttp.ClientSession(connector=connector, auto_decompress=False)
        return self._session

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        session = self._session or self._open()
        timeout = request.extensions.get("timeout", {})
        url = request.url
        if url.userinfo:  # httpx sent it as a header already; aiohttp refuses both
            url = url.copy_with(userinfo=b"")
        body = await request.aread()
        try:
            response = await session.request(
                request.method,
                URL(str(url), encoded=True),
                headers=request.headers.multi_items(),
                data=body or None,
                allow_redirects=False,
                timeout=_client_timeout(
                    timeout.get("connect"), timeout.get("read"), timeout.get("pool")
                ),
            )
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            raise _to_httpx(exc, request) from None
        return httpx.Response(
            status_code=response.status,
            headers=response.raw_headers,
            stream=_AiohttpStream(response, request),
            extensions={"http_version": b"HTTP/1.1"},
        )

    async def send_direct(self, method: str, url: httpx.URL, headers: list[tuple[str, str]],
                          body: bytes, timeout: httpx.Timeout
                          ) -> tuple[int, aiohttp.ClientResponse, httpx.AsyncByteStream]:
        """Send a request given as plain values, without httpx's Request and Response objects
        (about half of a small call's CPU): the status, aiohttp's response (its headers)
        and the body as a stream that must be closed; errors are httpx's, as above."""
        session = self._session or self._open()
        try:
            response = await session.request(
                method, _yarl(str(url)), headers=headers, data=body, allow_redirects=False,
                timeout=_client_timeout(timeout.connect, timeout.read, timeout.pool))
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            raise _to_httpx(exc, httpx.Request(method, url)) from None
        return response.status, response, _AiohttpStream(response, None, method, url)

    async def aclose(self) -> None:
        if self._session is not None:
            session, self._session = self._session, None
            await session.close()


class _AiohttpStream(httpx.AsyncByteStream):
    """The body of an aiohttp response as an httpx stream, with errors mapped to httpx's."""

    __slots__ = ("_method", "_request", "_response", "_url")

    def __init__(self, response: aiohttp.ClientResponse, request: httpx.Request | None,
                 method: str = "", url: httpx.URL | None = None) -> None:
        """`request`, or (for `send_direct`) the `method` and `url` to make one from when
        an error needs it."""
        self._response = response
        self._request, self._method, self._url = request, method, url

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._response.content.iter_any():
                yield chunk
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            request = self._request or httpx.Request(self._method, self._url or "")
            raise _to_httpx(exc, request) from None

    async def aclose(self) -> None:
        self._response.release()  # back to the pool when fully read, else closed


@lru_cache(maxsize=64)
def _yarl(url: str) -> URL:
    """`url` parsed once (clients send to a handful of URLs)."""
    return URL(url, encoded=True)


@lru_cache(maxsize=64)
def _client_timeout(
    connect: float | None, read: float | None, pool: float | None
) -> aiohttp.ClientTimeout:
    """httpx's timeouts in aiohttp's terms (cached: clients reuse a handful of settings).

    No `total`: its timer costs ~15 us per request; `HttpApi` checks its deadline itself."""
    acquire = None if pool is None and connect is None else (pool or 0.0) + (connect or 0.0)
    return aiohttp.ClientTimeout(total=None, connect=acquire, sock_connect=connect, sock_read=read)


# Most specific first: several aiohttp errors derive from more than one of these.
_ERROR_MAP: tuple[tuple[type[BaseException], type[httpx.TransportError]], ...] = (
    (aiohttp.ConnectionTimeoutError, httpx.ConnectTimeout),
    (aiohttp.ServerTimeoutError, httpx.ReadTimeout),
    (aiohttp.ClientConnectorError, httpx.ConnectError),
    (aiohttp.ServerDisconnectedError, httpx.RemoteProtocolError),
    (aiohttp.ClientPayloadError, httpx.RemoteProtocolError),
    (aiohttp.ClientResponseError, httpx.RemoteProtocolError),
    (aiohttp.NonHttpUrlClientError, httpx.UnsupportedProtocol),
    (aiohttp.InvalidUrlClientError, httpx.UnsupportedProtocol),
    (aiohttp.ClientConnectionError, httpx.ReadError),
    (asyncio.TimeoutError, httpx.ReadTimeout),
)


def _to_httpx(exc: BaseException, request: httpx.Request) -> httpx.TransportError:
    """The httpx exception for an aiohttp one; its message names the aiohttp error only.

    The original is not chained: aiohttp's `repr` of some errors includes request headers.
    """
    kind = next((h for a, h in _ERROR_MAP if isinstance(exc, a)), httpx.NetworkError)
    detail = str(exc)
    message = f"{type(exc).__name__}: {detail}" if detail else type(exc).__name__
    return kind(message, request=request)
