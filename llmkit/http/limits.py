"""A response body read within a size cap and a deadline, whatever the transport.

`BoundedStream` replaces an httpx response's `stream`, so `aread()`, `aiter_bytes()` and the
error path all read through it: a body past `max_bytes` (as sent, before decompression) or
still arriving after the deadline fails with one line instead of filling memory or waiting.
Its transport errors come out as llmkit errors (`failure`).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import httpx

from llmkit.errors import LlmkitError
from llmkit.http.errors import deadline_exceeded, too_large, transport_error

__all__ = ["DEFAULT_MAX_RESPONSE_BYTES", "BoundedStream", "failure"]

DEFAULT_MAX_RESPONSE_BYTES = 64 * 2**20


class BoundedStream(httpx.AsyncByteStream):
    """`inner`, failing once more than `max_bytes` arrived or a piece arrives after `until`
    (a `time.monotonic()` instant, set from a deadline of `seconds`)."""

    __slots__ = ("_inner", "_max_bytes", "_seconds", "_until", "_url")

    def __init__(self, inner: httpx.AsyncByteStream, url: httpx.URL, max_bytes: int,
                 until: float | None, seconds: float | None) -> None:
        self._inner, self._url, self._max_bytes = inner, url, max_bytes
        self._until, self._seconds = until, seconds

    async def __aiter__(self) -> AsyncIterator[bytes]:
        size = 0
        try:
            async for chunk in self._inner:
                size += len(chunk)
                if size > self._max_bytes:
                    raise too_large(self._url, self._max_bytes)
                if self._until is not None and time.monotonic() > self._until:
                    raise deadline_exceeded(self._url, self._seconds or 0.0)
                yield chunk
        except httpx.TransportError as exc:
            raise failure(exc, self._url, self._until, self._seconds) from exc

    async def aclose(self) -> None:
        await self._inner.aclose()


def failure(exc: httpx.TransportError, url: httpx.URL, until: float | None,
            seconds: float | None) -> LlmkitError:
    """The llmkit error for a request that broke: the deadline's when it timed out past it."""
    if (until is not None and isinstance(exc, httpx.TimeoutException)
            and time.monotonic() >= until):
        return deadline_exceeded(url, seconds or 0.0)
    return transport_error(exc, url)
