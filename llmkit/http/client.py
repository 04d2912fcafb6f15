"""Make the shared `httpx.AsyncClient` of a resource, and keep one per event loop.

An httpx client (and the aiohttp session under it) belongs to the loop it first ran on. The
engine's sync API runs on one background loop while users may call the async API from their
own, so a resource holds its clients in a `LoopLocalClient`.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import functools
import ssl
import threading
from collections.abc import AsyncGenerator, Callable
from typing import TYPE_CHECKING, Literal
from urllib.parse import urlsplit
from urllib.request import getproxies, proxy_bypass
from weakref import WeakKeyDictionary, WeakSet

import httpx

from llmkit.core import background
from llmkit.errors import LlmkitError

if TYPE_CHECKING:
    from llmkit.http.transport import AiohttpTransport

__all__ = ["LoopLocalClient", "TransportChoice", "direct_transport", "make_client",
           "split_credentials"]

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
    aiohttp unless a proxy applies to `base_url` (see `_uses_proxy`). Under trio, where
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
        transport=_transport(transport, max_connections, base_url),
    )
    # Private, but harmless if httpx renames it (the client is then only slower).
    client._cookies = _LazyCookies()
    return client


def direct_transport(client: httpx.AsyncClient) -> AiohttpTransport | None:
    """The client's `AiohttpTransport`, if it sends through one (`HttpApi` then posts JSON
    through it directly). Private httpx state, but harmless if httpx renames it: None."""
    transport = getattr(client, "_transport", None)
    return transport if type(transport).__name__ == "AiohttpTransport" else None  # type: ignore[return-value]


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


def _transport(choice: TransportChoice, max_connections: int | None,
               base_url: str) -> httpx.AsyncBaseTransport | None:
    """The aiohttp transport, or None for httpx's default pool (which honours proxy env vars)."""
    if choice not in ("auto", "aiohttp", "httpx"):
        raise ValueError(f"transport must be 'auto', 'aiohttp' or 'httpx', not {choice!r}")
    if choice == "httpx" or not _on_asyncio():
        return None
    if choice == "auto" and _uses_proxy(base_url):
        return None  # httpx's pool honours $HTTPS_PROXY and friends; AiohttpTransport does not
    from llmkit.http.transport import AiohttpTransport

    return AiohttpTransport(max_connections=max_connections, ssl_context=_ssl_context())


def _uses_proxy(base_url: str) -> bool:
    """Whether the environment sends requests to `base_url` through a proxy, by the stdlib's
    rules (`getproxies`, `proxy_bypass`; httpx reads the same variables): `HTTP_PROXY`,
    `HTTPS_PROXY` or `ALL_PROXY` (any case) for its scheme, unless `NO_PROXY` names its host.

    `NO_PROXY` alone proxies nothing. An empty `base_url` (requests to any host) counts as
    proxied when any such variable is set. One nuance: the stdlib lets `.example.com` in
    `NO_PROXY` cover `example.com` itself, which httpx does not."""
    proxies = getproxies()
    if not base_url:
        return any(proxies.get(scheme) for scheme in ("http", "https", "all"))
    parts = urlsplit(base_url)
    if not (proxies.get(parts.scheme.lower()) or proxies.get("all")):
        return False
    host = parts.hostname or ""
    with contextlib.suppress(ValueError):  # a malformed port: match the host alone
        if parts.port is not None:
            host = f"{host}:{parts.port}"
    return not proxy_bypass(host)


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
    its own loop: `aclose()` closes the calling loop's client, and a client nobody closed is
    closed when its loop ends (see `_close_at_loop_end`), the background loop's at exit.
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
                for old in [k for k in self._clients if _is_closed(k)]:
                    del self._clients[old]
                client = self._clients[loop] = self._factory()
            if background.is_loop(loop):  # the sync API's loop lives until exit: close then
                background.on_close(client.aclose)
            else:
                _close_at_loop_end(loop, client)
        return client

    async def aclose(self) -> None:
        """Close and forget the running loop's client, if it has one."""
        loop = _running_loop()
        with self._lock:
            client = self._clients.pop(loop, None)
        if client is not None:
            await client.aclose()


# Per running loop (asyncio loop or trio token): the clients to close when it ends, and the
# async generator whose finalisation closes them. Entries leave when that generator finishes,
# or, for an asyncio loop closed without finalising its generators, when another loop asks.
_loop_ends: dict[object, tuple[WeakSet[httpx.AsyncClient], AsyncGenerator[None, None]]] = {}
_loop_ends_lock = threading.Lock()


def _close_at_loop_end(loop: object, client: httpx.AsyncClient) -> None:
    """Have `client` closed when `loop` ends, without patching anything.

    asyncio has no loop-close hook, but its runners finalise the loop's live async generators
    before closing it (`asyncio.run`, `asyncio.Runner` and anyio call `shutdown_asyncgens`),
    and trio does the same at the end of `trio.run`. So each loop gets one async generator,
    started here and parked at its `yield`, whose `finally` closes the loop's clients. A
    `weakref.finalize` on the loop would fire only after the loop has closed, too late to
    await a clean close. A loop driven by hand must await `loop.shutdown_asyncgens()` before
    `loop.close()`, as asyncio asks anyway. Clients are held weakly, so a resource dropped
    before its loop ends does not stay alive until then (close it to close its client).
    """
    with _loop_ends_lock:
        entry = _loop_ends.get(loop)
        if entry is None:
            for old in [k for k in _loop_ends if _is_closed(k)]:
                del _loop_ends[old]  # never finalised: nothing more can be done for them
            clients: WeakSet[httpx.AsyncClient] = WeakSet()
            guard = _close_when_finalised(loop, clients)
            # Step it to its `yield`; the loop's first-iteration hook registers it.
            with contextlib.suppress(StopIteration):
                guard.asend(None).send(None)
            entry = _loop_ends[loop] = (clients, guard)
        entry[0].add(client)


async def _close_when_finalised(loop: object, clients: WeakSet[httpx.AsyncClient]
                                ) -> AsyncGenerator[None, None]:
    """Wait at `yield` until the loop finalises this generator, then close `clients`."""
    try:
        yield
    finally:
        with _loop_ends_lock:
            _loop_ends.pop(loop, None)
        # trio finalises in a cancelled scope; httpcore shields its pool's close itself.
        for client in list(clients):
            with contextlib.suppress(Exception):  # the loop is ending: close the rest
                await client.aclose()


def _is_closed(loop: object) -> bool:
    """True for an asyncio loop that has closed (a trio token's run is not tracked)."""
    return isinstance(loop, asyncio.AbstractEventLoop) and loop.is_closed()


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
