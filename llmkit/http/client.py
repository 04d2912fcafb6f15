"""Make the shared `httpx.AsyncClient` of a resource, and keep one per event loop.

An httpx client (and the aiohttp session under it) belongs to the loop it first ran on. The
engine's sync API runs on one background loop while users may call the async API from their
own, so a resource holds its clients in a `LoopLocalClient`.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import ssl
import threading
from collections.abc import Callable
from typing import Literal
from urllib.request import getproxies
from weakref import WeakKeyDictionary

import httpx

from llmkit.core import background
from llmkit.errors import LlmkitError

__all__ = ["LoopLocalClient", "TransportChoice", "make_client", "split_credentials"]

TransportChoice = Literal["auto", "aiohttp", "httpx"]


def make_client(
    base_url: str = "",
    *,
    api_key: str | None = None,
    timeout: float | httpx.Timeout = 60.0,
    max_connections: int | None = None,
    transport: TransportChoice = "auto",
) -> httpx.AsyncClient:
    """An `httpx.AsyncClient` for one API, sending `Authorization: Bearer` when given a key, or
    `Basic` for a user and password in `base_url` (see `split_credentials`).

    `max_connections` None leaves the pool unbounded: its callers bound the requests in flight
    (a node its `concurrency`), and a smaller pool would only queue them into pool timeouts.
    `transport`: "aiohttp" sends through `AiohttpTransport` (~20x less CPU per request than
    httpx's pool with 100 requests in flight), "httpx" through httpx's own pool, "auto" picks
    aiohttp when it is installed and no proxy is set in the environment. Under trio, where
    aiohttp cannot run, httpx's pool is used; outside any event loop, asyncio is assumed.
    """
    base_url, authorization = split_credentials(base_url, api_key)
    headers = {"User-Agent": "llmkit"}
    if authorization:
        headers["Authorization"] = authorization
    client = httpx.AsyncClient(
        base_url=base_url,
        headers=headers,
        timeout=timeout,
        verify=_ssl_context(),
        limits=httpx.Limits(max_connections=max_connections,
                            max_keepalive_connections=max_connections),
        transport=_transport(transport, max_connections),
    )
    # Private, but harmless if httpx renames it (the client is then only slower).
    client._cookies = _LazyCookies()
    return client


def split_credentials(url: str, api_key: str | None = None,
                      key_name: str = "api_key") -> tuple[str, str | None]:
    """`url` without its user info, and the Authorization header value to send: `Basic` for a
    user and password in the URL, else `Bearer api_key`, else None.

    httpx turns URL credentials into a header, which aiohttp then refuses to combine with the
    URL's own; they leave the URL here, so no fingerprint, repr or message can show them.
    """
    parsed = httpx.URL(url) if "@" in url else None
    if parsed is None or not parsed.userinfo:
        return url, f"Bearer {api_key}" if api_key else None
    bare = str(parsed.copy_with(userinfo=b""))
    if api_key:
        raise LlmkitError(f"{bare} is given with a user and password and {key_name} sets an "
                          "API key too: a request carries one Authorization header, drop one")
    pair = f"{parsed.username}:{parsed.password}".encode()
    return bare, f"Basic {base64.b64encode(pair).decode('ascii')}"


class _LazyCookies(httpx.Cookies):
    """Cookies that skip httpx's per-response cookiejar work (~20% of a request's CPU) when
    the response sets none, as LLM APIs' responses do not."""

    def extract_cookies(self, response: httpx.Response) -> None:
        if "set-cookie" in response.headers:
            super().extract_cookies(response)


@functools.cache
def _ssl_context() -> ssl.SSLContext:
    """httpx's default context (certifi, $SSL_CERT_FILE), built once: it costs ~30 ms."""
    return httpx.create_ssl_context()


def _transport(choice: TransportChoice,
               max_connections: int | None) -> httpx.AsyncBaseTransport | None:
    """The aiohttp transport, or None for httpx's default pool (which honours proxy env vars)."""
    if choice not in ("auto", "aiohttp", "httpx"):
        raise ValueError(f"transport must be 'auto', 'aiohttp' or 'httpx', not {choice!r}")
    if choice == "httpx" or not _on_asyncio():
        return None
    if choice == "auto" and getproxies():
        return None  # httpx's pool honours $HTTPS_PROXY and friends; AiohttpTransport does not
    from llmkit.http.transport import AiohttpTransport

    return AiohttpTransport(max_connections=max_connections, ssl_context=_ssl_context())


def _on_asyncio() -> bool:
    """False only when another async library (trio) is known to be running."""
    try:
        import sniffio
    except ImportError:  # trio depends on sniffio: without it, only asyncio can be running
        return True
    try:
        return sniffio.current_async_library() == "asyncio"
    except sniffio.AsyncLibraryNotFoundError:
        return True


class LoopLocalClient:
    """One client per running event loop, made by `factory` on first use in that loop.

    Clients are keyed weakly by their loop (the asyncio loop or the trio run); asyncio loops
    that have closed are dropped when a new loop first asks. Each client must be closed from
    its own loop: `aclose()` closes the calling loop's client.
    """

    def __init__(self, factory: Callable[[], httpx.AsyncClient]) -> None:
        self._factory = factory
        self._clients: WeakKeyDictionary[object, httpx.AsyncClient] = WeakKeyDictionary()
        self._lock = threading.Lock()  # the engine's loop thread and the user's may both ask

    def get(self) -> httpx.AsyncClient:
        """The running loop's client, made on first use."""
        loop = _running_loop()
        client = self._clients.get(loop)
        if client is None:
            with self._lock:
                # A closed loop's client holds its loop alive (the weak key would never die).
                closed = [k for k in self._clients
                          if isinstance(k, asyncio.AbstractEventLoop) and k.is_closed()]
                for old in closed:
                    del self._clients[old]
                client = self._clients[loop] = self._factory()
            if background.is_loop(loop):  # the sync API's loop lives until exit: close then
                background.on_close(client.aclose)
        return client

    async def aclose(self) -> None:
        """Close and forget the running loop's client, if it has one."""
        loop = _running_loop()
        with self._lock:
            client = self._clients.pop(loop, None)
        if client is not None:
            await client.aclose()


def _running_loop() -> object:
    """The running asyncio loop, or the running trio run's token."""
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        pass
    try:
        import trio

        return trio.lowlevel.current_trio_token()
    except (ImportError, RuntimeError):
        raise LlmkitError("an HTTP client is needed outside any running event loop") from None
