"""One call of a node on a list of items: retries, timeouts, worker threads, and bisection
of a failed batch. Every item comes back as its output dict or the exception that failed it;
only cancellation escapes. Retries follow the node's `Retry` policy (`retry.py`)."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar, cast

import anyio
import anyio.to_thread

from llmkit.core.node import Node
from llmkit.errors import BackendError

Outcome = dict[str, Any] | Exception
Items = list[dict[str, Any]]
T = TypeVar("T")


class CallRunner:
    """Executes calls of one node with its retry, timeout and thread settings."""

    def __init__(self, node: Node, limit: int) -> None:
        self.node = node
        self.retry = node.settings.retry
        self.timeout = node.settings.timeout
        self.is_async = node.is_async()
        self.is_batch = node.is_batch()
        self.limit = limit

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
        """`call` inside the event loop, for inline nodes: no thread, and no retries or
        timeouts (the scheduler inlines only nodes without them)."""
        if self.is_batch:
            return _at_once(self._batch(items, self._invoke_batch_here))
        return _run_each(self.node.run, items)

    # -- batch nodes --------------------------------------------------------------------
    async def _batch(self, items: Items, invoke: Callable[[Items], Awaitable[Any]] | None = None,
                     ) -> list[Outcome]:
        """One batch call; when it fails, bisect it: the failure may be one bad item, so
        find it and keep the rest."""
        invoke = invoke or self._invoke_batch
        try:
            outs = await self._attempts(invoke, items)
        except Exception as exc:
            if not _bisectable(exc, items):
                return [exc] * len(items)
            mid = len(items) // 2
            return await self._batch(items[:mid], invoke) + await self._batch(items[mid:], invoke)
        return checked(outs, len(items))

    async def _invoke_batch(self, items: Items) -> Any:
        if self.is_async:
            return await cast("Awaitable[Any]", self.node.run_batch(items))
        return await anyio.to_thread.run_sync(
            self.node.run_batch, items, limiter=self.threads, abandon_on_cancel=True)

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
        return await anyio.to_thread.run_sync(
            functools.partial(self.node.run, **item), limiter=self.threads,
            abandon_on_cancel=True)

    async def _chunk(self, items: Items) -> list[Outcome]:
        """Sync items in one worker-thread hop (the hop costs more than a cheap `run`);
        failures the retry policy accepts are retried one by one afterwards."""
        outcomes = await anyio.to_thread.run_sync(
            _run_each, self.node.run, items, limiter=self.threads, abandon_on_cancel=True)
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


def _run_each(run: Callable[..., Any], items: Items) -> list[Outcome]:
    outcomes: list[Outcome] = []
    for item in items:
        try:
            outcomes.append(run(**item))
        except Exception as exc:
            outcomes.append(exc)
    return outcomes
