"""Retry a call on `RetryableError`: exponential backoff with full jitter, honouring Retry-After.

Clients do not retry by default, because the engine's node retry policy does; `retries=N` on a
client is for use outside the engine (the WebSearch facade, scripts).
"""

from __future__ import annotations

import logging
import random
from collections.abc import Awaitable, Callable
from typing import TypeVar

import anyio

from llmkit.errors import RetryableError, too_long_to_wait

__all__ = ["backoff_delay", "with_retries"]

log = logging.getLogger("llmkit.http")
T = TypeVar("T")


def backoff_delay(
    attempt: int, retry_after: float | None, *, base: float = 0.5, cap: float = 30.0
) -> float | None:
    """Seconds to wait after failed attempt number `attempt` (0-based).

    A random delay up to `base * 2**attempt` (at most `cap`), but never less than the server's
    Retry-After; None when the server asks for more than `cap` (waiting that long is no retry).
    """
    if retry_after is not None and retry_after > cap:
        return None
    return max(retry_after or 0.0, random.uniform(0.0, min(cap, base * 2**attempt)))


async def with_retries(
    call: Callable[[], Awaitable[T]], retries: int, *, base: float = 0.5, cap: float = 30.0
) -> T:
    """Await `call()`, retrying up to `retries` times while it raises `RetryableError`."""
    attempt = 0
    while True:
        try:
            return await call()
        except RetryableError as exc:
            refused = too_long_to_wait(exc, cap, "cap")  # a longer wait than `cap`: no retry
            if refused is not None:
                raise refused from exc
            delay = backoff_delay(attempt, exc.retry_after, base=base, cap=cap)
            if attempt >= retries or delay is None:
                raise
            attempt += 1
            log.info("retry %d/%d in %.2f s after: %s", attempt, retries, delay, exc)
            await anyio.sleep(delay)
