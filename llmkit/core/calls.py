"""One call of a node on a list of items: retries, timeouts, worker threads, and bisection
of a failed batch. Every item comes back as its output dict or the exception that failed it;
only cancellation escapes. A call that streamed tokens to a listener is retried only before
its first token: after that, a retry would show them twice."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Any, cast

import anyio
import anyio.to_thread

from llmkit.core.events import tokens_delivered
from llmkit.core.node import Node
from llmkit.errors import BackendError, StreamBrokenError

Outcome = dict[str, Any] | Exception
Items = list[dict[str, Any]]


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

    # -- batch nodes --------------------------------------------------------------------
    async def _batch(self, items: Items) -> list[Outcome]:
        try:
            outs = await self._attempts(self._invoke_batch, items)
        except Exception as exc:
            if not _bisectable(exc, items):
                return [exc] * len(items)
            # Bisect: the failure may be one bad item; find it and keep the rest.
            mid = len(items) // 2
            return await self._batch(items[:mid]) + await self._batch(items[mid:])
        return checked(outs, len(items))

    def batch_inline(self, items: Items) -> list[Outcome]:
        """`_batch` without retries or a thread, for inline nodes (run in the loop)."""
        try:
            return checked(self.node.run_batch(items), len(items))
        except Exception as exc:
            if not _bisectable(exc, items):
                return [exc] * len(items)
            mid = len(items) // 2
            return self.batch_inline(items[:mid]) + self.batch_inline(items[mid:])

    async def _invoke_batch(self, items: Items) -> Any:
        if self.is_async:
            return await cast("Awaitable[Any]", self.node.run_batch(items))
        return await anyio.to_thread.run_sync(
            self.node.run_batch, items, limiter=self.threads, abandon_on_cancel=True)

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
    async def _attempts(self, fn: Callable[[Any], Awaitable[Any]], arg: Any,
                        first: int = 1) -> Any:
        attempt = first
        shown = tokens_delivered()
        while True:
            try:
                if self.timeout is None:
                    return await fn(arg)
                with anyio.fail_after(self.timeout):
                    return await fn(arg)
            except TimeoutError as exc:
                failure: Exception = TimeoutError(f"no result within {self.timeout:g} s")
                failure.__cause__ = exc
            except Exception as exc:
                failure = exc
            if not self.retry.retries(failure, attempt):
                raise self.retry.refusal(failure)
            if streamed := tokens_delivered() - shown:
                raise StreamBrokenError(
                    f"the stream broke after {streamed} tokens, which were already shown, so it "
                    f"is not retried: {type(failure).__name__}: {failure}") from failure
            await anyio.sleep(self.retry.delay(failure, attempt))
            attempt += 1


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


def _run_each(run: Callable[..., Any], items: Items) -> list[Outcome]:
    outcomes: list[Outcome] = []
    for item in items:
        try:
            outcomes.append(run(**item))
        except Exception as exc:
            outcomes.append(exc)
    return outcomes
