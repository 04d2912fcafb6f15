"""Retry an HTTP call outside the engine (the WebSearch facade, scripts, ingest) with the
engine's own policy, `llmkit.core.retry.Retry`.

Clients do not retry by default, because the engine's node retry policy does; `retries=N` on a
client is for use outside the engine.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from llmkit.core.retry import Retry

__all__ = ["with_retries"]

T = TypeVar("T")


async def with_retries(
    call: Callable[[], Awaitable[T]], retries: int, *, base: float = 0.5, cap: float = 30.0
) -> T:
    """Await `call()`, retrying up to `retries` times on `RetryableError` or a timeout: backoff
    from `base` seconds, doubling up to `cap`; a server's Retry-After is honoured up to `cap`
    (a longer one fails at once, saying when to try again)."""
    policy = Retry(attempts=retries + 1, backoff=base, max_backoff=cap, max_retry_after=cap)
    return await policy.call(call)
