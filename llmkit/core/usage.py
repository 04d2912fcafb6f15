"""Tokens (and money) that model calls spend: a backend reports each response's `usage` to
the meter of the node call it runs in; the scheduler sums the meters per node, per caller
and per run.

The meter is a context variable the scheduler sets in each call's task, so a backend reads
it in the event loop or in a worker thread (anyio copies the context into the thread) and
calls that run side by side never mix their counts. A batch call's usage is split evenly
among its runs (the remainder to the first ones), so per-run figures of a batched
embedding are shares, while per-node and per-caller totals are exact.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextvars import ContextVar

__all__ = ["Usage", "price_of", "record_usage"]


class Usage:
    """Token counts and cost (in the currency of the prices given, per 1M tokens)."""

    __slots__ = ("completion_tokens", "cost", "prompt_tokens")

    def __init__(self, prompt_tokens: int = 0, completion_tokens: int = 0,
                 cost: float = 0.0) -> None:
        self.prompt_tokens = prompt_tokens
        self.completion_tokens = completion_tokens
        self.cost = cost

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def __bool__(self) -> bool:
        return bool(self.prompt_tokens or self.completion_tokens or self.cost)

    def add(self, other: Usage) -> None:
        self.prompt_tokens += other.prompt_tokens
        self.completion_tokens += other.completion_tokens
        self.cost += other.cost

    def take(self) -> Usage | None:
        """What was counted since the last `take` (None for nothing), leaving it empty: a
        task that makes call after call meters each with one meter."""
        if not (self.prompt_tokens or self.completion_tokens or self.cost):
            return None
        taken = Usage(self.prompt_tokens, self.completion_tokens, self.cost)
        self.prompt_tokens = self.completion_tokens = 0
        self.cost = 0.0
        return taken

    def split(self, n: int) -> list[Usage]:
        """`n` shares that add up to this usage (tokens exactly)."""
        p, p_rest = divmod(self.prompt_tokens, n)
        c, c_rest = divmod(self.completion_tokens, n)
        return [Usage(p + (i < p_rest), c + (i < c_rest), self.cost / n) for i in range(n)]

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Usage) and (
            (self.prompt_tokens, self.completion_tokens, self.cost)
            == (other.prompt_tokens, other.completion_tokens, other.cost))

    __hash__ = None  # type: ignore[assignment]  # mutable

    def __repr__(self) -> str:
        return (f"Usage(prompt_tokens={self.prompt_tokens}, "
                f"completion_tokens={self.completion_tokens}, cost={self.cost:g})")


_meter: ContextVar[Usage | None] = ContextVar("llmkit_meter", default=None)


def record_usage(prompt_tokens: int = 0, completion_tokens: int = 0, cost: float = 0.0) -> None:
    """Count a response's tokens (and cost) towards the node call it was made in; a no-op
    outside a pipeline run."""
    meter = _meter.get()
    if meter is not None:
        meter.prompt_tokens += prompt_tokens
        meter.completion_tokens += completion_tokens
        meter.cost += cost


def price_of(price: Mapping[str, float] | None, prompt_tokens: int,
             completion_tokens: int) -> float:
    """The cost of a response at `price` ({"prompt": per 1M, "completion": per 1M}); 0 when
    no price is set."""
    if not price:
        return 0.0
    return (prompt_tokens * price.get("prompt", 0.0)
            + completion_tokens * price.get("completion", 0.0)) / 1e6
