"""One call of a node on a list of items: retries, timeouts, worker threads, and bisection
of a failed batch. Every item comes back as its output dict or the exception that failed it;
only cancellation escapes. Retries follow the node's `Retry` policy (`retry.py`).

A sync node runs in a worker thread, unless its work is short: then the scheduler runs it
in the event loop (`cheap`). A thread hop costs 0.1-0.4 ms on a loaded 2-core machine, more
than most prompt, context, hashing or small-search calls, and work that holds the GIL gains
nothing from a thread anyway. So each sync call's own work is timed, and once three calls
have shown a node's work per item (the median of its last five calls), a call whose
estimate is under INLINE_SECONDS (short enough not to hold up the loop's other callers) runs
inline. One inline call slower than SLOW_INLINE sends the node back to threads for good, so
a node whose cost varies blocks the loop once at most. A node that sets `inline` itself
(True or False) is never second-guessed.
"""

from __future__ import annotations

import functools
import time
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar, cast

import anyio
import anyio.to_thread

from llmkit.core.node import Node
from llmkit.errors import BackendError

Outcome = dict[str, Any] | Exception
Items = list[dict[str, Any]]
T = TypeVar("T")

INLINE_SECONDS = 500e-6  # estimated work of a call below which a sync node runs inline
SLOW_INLINE = 5e-3  # an inline call slower than this sends the node back to threads
MEASURED_CALLS = 3  # calls timed before a node may run inline


class CallRunner:
    """Executes calls of one node with its retry, timeout and thread settings."""

    def __init__(self, node: Node, limit: int) -> None:
        self.node = node
        self.retry = node.settings.retry
        self.timeout = node.settings.timeout
        self.is_async = node.is_async()
        self.is_batch = node.is_batch()
        self.limit = limit
        # In the event loop with no retry and no timeout (those need a task to sleep or
        # cancel in), because the node says so; or, for a sync node without a timeout that
        # did not choose, once its work proves cheap (`adaptive`).
        self.inline = (node.settings.inline is True and not self.is_async
                       and self.timeout is None and self.retry.attempts <= 1)
        self.adaptive = (not self.is_async and self.timeout is None
                         and node.settings.inline is None)
        # Seconds per item of the last calls, inside the node's own code: their median is
        # the estimate, so one call slowed by a busy machine (or a first call that loads
        # something) does not decide it.
        self._per_item: deque[float] = deque(maxlen=2 * MEASURED_CALLS - 1)

    def cheap(self, n: int) -> bool:
        """Whether a call on `n` items is expected to take less than a thread hop."""
        if not self.adaptive or len(self._per_item) < MEASURED_CALLS:
            return False
        return sorted(self._per_item)[len(self._per_item) // 2] * n <= INLINE_SECONDS

    def runs_inline(self, n: int) -> bool:
        """Whether a call on `n` items runs in the event loop (`call_inline`)."""
        return self.inline or self.cheap(n)

    def timed(self, seconds: float, n: int, inline: bool = False) -> None:
        """Note a sync call's own work: `seconds` on `n` items."""
        self._per_item.append(seconds / max(n, 1))
        if inline and seconds > SLOW_INLINE:
            self.adaptive = False

    @functools.cached_property
    def threads(self) -> anyio.CapacityLimiter:
        """Worker threads for this node alone, so its concurrency is neither capped by the
        shared default pool (40 threads) nor starved by other nodes; made on first use."""
        return anyio.CapacityLimiter(self.limit)

    async def call(self, items: Items) -> list[Outcome]:
        """Run `items` through the node: one batch call, one call each, or one thread hop."""
        if self.is_batch:
            return await self._batch(items)
        if self.is_async or self.timeout is not None or len(items) == 1:
            return await self._each(items)
        return await self._chunk(items)

    async def one(self, item: dict[str, Any]) -> Outcome:
        """Run one item of a non-batch node."""
        try:
            return await self._attempts(self._invoke_one, item)
        except Exception as exc:
            return exc

    def call_inline(self, items: Items) -> list[Outcome]:
        """`call` inside the event loop, one attempt: no thread, no retry and no timeout (a
        failure the retry policy accepts is the scheduler's to send through `call`)."""
        if self.is_batch:
            return _at_once(self._batch(items, self._invoke_batch_here, once=True))
        return _run_each(self.node.run, items)

    # -- batch nodes --------------------------------------------------------------------
    async def _batch(self, items: Items, invoke: Callable[[Items], Awaitable[Any]] | None = None,
                     once: bool = False) -> list[Outcome]:
        """One batch call (`once`: a single attempt); when it fails, bisect it: the failure
        may be one bad item, so find it and keep the rest."""
        invoke = invoke or self._invoke_batch
        try:
            outs = await (invoke(items) if once else self._attempts(invoke, items))
        except Exception as exc:
            if not _bisectable(exc, items):
                return [exc] * len(items)
            mid = len(items) // 2
            return (await self._batch(items[:mid], invoke, once)
                    + await self._batch(items[mid:], invoke, once))
        return checked(outs, len(items))

    async def _invoke_batch(self, items: Items) -> Any:
        if self.is_async:
            return await cast("Awaitable[Any]", self.node.run_batch(items))
        outs, seconds = await anyio.to_thread.run_sync(
            _timed, self.node.run_batch, items, limiter=self.threads, abandon_on_cancel=True)
        self.timed(seconds, len(items))
        return outs

    async def _invoke_batch_here(self, items: Items) -> Any:
        return self.node.run_batch(items)

    # -- one item at a time -------------------------------------------------------------
    async def _each(self, items: Items) -> list[Outcome]:
        if len(items) == 1:
            return [await self.one(items[0])]
        outcomes: list[Outcome] = [None] * len(items)  # type: ignore[list-item]

        async def one(i: int) -> None:
            outcomes[i] = await self.one(items[i])

        async with anyio.create_task_group() as tg:
            for i in range(len(items)):
                tg.start_soon(one, i)
        return outcomes

    async def _invoke_one(self, item: dict[str, Any]) -> Any:
        if self.is_async:
            return await cast("Awaitable[Any]", self.node.run(**item))
        out, seconds = await anyio.to_thread.run_sync(
            _timed, functools.partial(self.node.run, **item), None, limiter=self.threads,
            abandon_on_cancel=True)
        self.timed(seconds, 1)
        return out

    async def _chunk(self, items: Items) -> list[Outcome]:
        """Sync items in one worker-thread hop (the hop costs more than a cheap `run`);
        failures the retry policy accepts are retried one by one afterwards."""
        outcomes, seconds = await anyio.to_thread.run_sync(
            _timed, functools.partial(_run_each, self.node.run), items, limiter=self.threads,
            abandon_on_cancel=True)
        self.timed(seconds, len(items))
        retry = []
        for i, outcome in enumerate(outcomes):
            if isinstance(outcome, Exception):
                if self.retry.retries(outcome, 1):
                    retry.append(i)
                else:
                    outcomes[i] = self.retry.refusal(outcome)  # type: ignore[assignment]
        if retry:
            async with anyio.create_task_group() as tg:
                for i in retry:
                    tg.start_soon(self._retry_one, outcomes, items, i)
        return outcomes

    async def _retry_one(self, outcomes: list[Outcome], items: Items, i: int) -> None:
        await anyio.sleep(self.retry.delay(outcomes[i], 1))  # type: ignore[arg-type]
        try:
            outcomes[i] = await self._attempts(self._invoke_one, items[i], first=2)
        except Exception as exc:
            outcomes[i] = exc

    # -- retry and timeout ----------------------------------------------------------------
    def _attempts(self, fn: Callable[[Any], Awaitable[Any]], arg: Any,
                  first: int = 1) -> Awaitable[Any]:
        """`fn(arg)` under the node's retry policy, each attempt within its timeout."""
        if self.timeout is None:
            return self.retry.call(fn, arg, first=first)
        return self.retry.call(self._timed, fn, arg, first=first)

    async def _timed(self, fn: Callable[[Any], Awaitable[Any]], arg: Any) -> Any:
        try:
            with anyio.fail_after(self.timeout):
                return await fn(arg)
        except TimeoutError as exc:
            raise TimeoutError(f"no result within {self.timeout:g} s") from exc


def checked(outs: Any, n: int) -> list[Outcome]:
    """`run_batch`'s results, or the same error for all `n` items when they are not a list
    of `n` results (a node bug that no split of the batch would fix)."""
    if isinstance(outs, list) and len(outs) == n:
        return outs
    got = len(outs) if isinstance(outs, list) else type(outs).__name__
    return [TypeError(f"run_batch returned {got} results for {n} items")] * n


def _bisectable(exc: Exception, items: Items) -> bool:
    """Whether splitting the failed batch may isolate a bad item."""
    return len(items) > 1 and not isinstance(exc, BackendError)


def _at_once(coroutine: Coroutine[Any, Any, T]) -> T:
    """The result of a coroutine that never suspends (inline calls await nothing that
    waits), computed without an event loop."""
    try:
        coroutine.send(None)
    except StopIteration as done:
        return done.value
    coroutine.close()
    raise RuntimeError("an inline call tried to wait; only nodes without retries or a "
                       "timeout run inline")


def _timed(fn: Callable[..., T], arg: Any) -> tuple[T, float]:
    """`fn(arg)` (`fn()` when `arg` is None) and the seconds it took, in a worker thread:
    the node's own work, without the hop. Raises as `fn` does."""
    started = time.perf_counter()
    out = fn() if arg is None else fn(arg)
    return out, time.perf_counter() - started


def _run_each(run: Callable[..., Any], items: Items) -> list[Outcome]:
    outcomes: list[Outcome] = []
    for item in items:
        try:
            outcomes.append(run(**item))
        except Exception as exc:
            outcomes.append(exc)
    return outcomes
