"""The one retry engine: the `Retry` policy and its loop, `Retry.call`. The scheduler retries
node calls with it; `llmkit.http.with_retries` retries HTTP calls made outside the engine."""

from __future__ import annotations

import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import anyio

from llmkit.core.events import tokens_delivered
from llmkit.errors import RetryableError, StreamBrokenError, too_long_to_wait

__all__ = ["Retry"]

log = logging.getLogger("llmkit.retry")
T = TypeVar("T")


@dataclass(frozen=True)
class Retry:
    """How a failing call is retried: `attempts` in all, exponential backoff with jitter.

    Errors retried: `llmkit.errors.RetryableError`, timeouts, and any exception type listed in
    `on`. A `retry_after` the error carries (a server's Retry-After) replaces the backoff, up
    to `max_retry_after` seconds; a server asking for more fails the call at once, saying when
    to try again. A call that already streamed tokens to a listener is not retried.
    """

    attempts: int = 1
    backoff: float = 0.2
    max_backoff: float = 20.0
    jitter: float = 0.25
    max_retry_after: float = 60.0
    on: tuple[type[BaseException], ...] = ()

    async def call(self, fn: Callable[..., Awaitable[T]], *args: Any, first: int = 1) -> T:
        """`await fn(*args)`, retried per this policy, counting attempts from `first`. Raises
        the last failure, the refusal of a too long Retry-After (`refusal`), or a
        `StreamBrokenError` when the failed attempt had streamed tokens to a listener."""
        attempt = first
        shown = tokens_delivered()
        while True:
            try:
                return await fn(*args)
            except Exception as exc:
                failure = exc
            if not self.retries(failure, attempt):
                raise self.refusal(failure)
            if streamed := tokens_delivered() - shown:
                raise StreamBrokenError(
                    f"the stream broke after {streamed} tokens, which were already shown, so it "
                    f"is not retried: {type(failure).__name__}: {failure}") from failure
            delay = self.delay(failure, attempt)
            log.info("retry %d/%d in %.2f s after: %s", attempt, self.attempts - 1, delay,
                     failure)
            await anyio.sleep(delay)
            attempt += 1

    def retries(self, exc: BaseException, attempt: int) -> bool:
        """True when attempt number `attempt` (1-based) failed with `exc` and may be retried."""
        return (attempt < self.attempts
                and isinstance(exc, (RetryableError, TimeoutError, *self.on))
                and self.refusal(exc) is exc)

    def refusal(self, exc: BaseException) -> BaseException:
        """What a call that failed with `exc` fails with when not retried: `exc`, or an error
        saying when to try again when the server asked to wait beyond `max_retry_after`."""
        return too_long_to_wait(exc, self.max_retry_after, "max_retry_after") or exc

    def delay(self, exc: BaseException, attempt: int) -> float:
        """Seconds to wait before attempt `attempt + 1`."""
        retry_after = getattr(exc, "retry_after", None)
        if retry_after is not None:  # at most max_retry_after: `retries` refuses longer waits
            return float(retry_after)
        base = min(self.backoff * 2 ** (attempt - 1), self.max_backoff)
        return base * (1 + self.jitter * (2 * random.random() - 1))
