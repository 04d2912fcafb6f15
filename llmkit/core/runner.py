"""Drives a scheduler over a stream of inputs: a bounded window of runs in flight, results in
input order (or as completed), and what a failed run means to the caller.

The window counts runs admitted and not yet taken by the consumer, so memory stays flat for
any number of inputs: a million-line JSONL streams through a fixed number of runs.
"""

from __future__ import annotations

import functools
import math
from collections import deque
from collections.abc import (
    AsyncIterable,
    AsyncIterator,
    Callable,
    Collection,
    Iterable,
    Iterator,
    Mapping,
)
from contextlib import asynccontextmanager
from typing import Any, Literal

import anyio
import anyio.lowlevel
import anyio.to_thread

from llmkit.core import background
from llmkit.core.events import Event
from llmkit.core.plan import Plan
from llmkit.core.scheduler import Run, Scheduler
from llmkit.core.stats import Profile
from llmkit.errors import InputError, LlmkitError, NodeError

__all__ = ["DEFAULT_WINDOW", "Driver", "collect", "events", "input_mismatch", "iterate",
           "prepare_resources", "stream"]

DEFAULT_WINDOW = 1024
OnError = Literal["raise", "return"]
Result = Any  # the outputs dict, or the run's NodeError / InputError


async def prepare_resources(plan: Plan) -> None:
    """Prepare the resources among the nodes' params that do work before they are read (a
    corpus ingests what changed in its source: `llmkit_prepare()`), in a worker thread, so
    that fingerprints only read and the event loop never waits on an ingest; one whose
    `llmkit_prepared` is true is skipped (no thread hop per run once a corpus is fresh). A
    resource that fails raises a NodeError naming the first node that holds it."""
    holders: dict[int, tuple[str, Any]] = {}
    for plan_node in plan.nodes:
        for value in plan_node.node.params.values():
            if _preparable(type(value)) and not getattr(value, "llmkit_prepared", False):
                holders.setdefault(id(value), (plan_node.name, value))
    if holders:
        await anyio.to_thread.run_sync(_prepare, list(holders.values()))


@functools.lru_cache(maxsize=256)
def _preparable(kind: type) -> bool:
    """Whether values of type `kind` are resources to prepare (cached: runs ask per param)."""
    return callable(getattr(kind, "llmkit_prepare", None))


def _prepare(holders: list[tuple[str, Any]]) -> None:
    for name, resource in holders:
        try:
            resource.llmkit_prepare()
        except Exception as exc:
            raise NodeError(name, exc) from exc


class Driver:
    """Admits inputs into a scheduler and hands finished runs to a consumer via `take`."""

    def __init__(self, plan: Plan, inputs: Iterable[Mapping[str, Any]] | AsyncIterable[Any],
                 *, window: int = DEFAULT_WINDOW, ordered: bool = True,
                 on_error: OnError = "raise", cache: Any = None,
                 profile: Profile | None = None, emit: Any = None,
                 sink: Callable[[int, Result], None] | None = None,
                 unprepared: NodeError | None = None) -> None:
        if on_error not in ("raise", "return"):
            raise ValueError(f"on_error must be 'raise' or 'return', not {on_error!r}")
        if window < 1:
            raise ValueError("window must be at least 1")
        self.plan = plan
        self.inputs = inputs
        self.window = window
        self.ordered = ordered
        self.on_error = on_error
        self.error: LlmkitError | None = None
        self._emit = emit
        self.scheduler = Scheduler(plan, on_done=self._done, profile=profile, cache=cache,
                                   emit=emit)
        self._required = frozenset(plan.inputs)
        self._in_window = 0
        self._admitted = 0
        self._exhausted = False
        self._held: dict[int, Result] = {}  # finished out of order, waiting for their turn
        self._next = 0
        self._out: deque[tuple[int, Result]] = deque()
        self._out_ready = anyio.Event()
        self._room = anyio.Event()
        self._closed = False
        self._sink = sink
        self._source: Iterator[Any] | None = None
        self._handed = 0  # results given to the consumer by the last `take`
        self._unprepared = unprepared  # a resource that could not be prepared fails every run

    @classmethod
    async def start(cls, plan: Plan, inputs: Any, **options: Any) -> Driver:
        """A driver for `plan` once its resources are prepared (the scheduler it builds reads
        their fingerprints); when one cannot be, each run fails with its NodeError."""
        try:
            await prepare_resources(plan)
        except NodeError as exc:
            return cls(plan, inputs, unprepared=exc, **options)
        return cls(plan, inputs, **options)

    # -- producing ------------------------------------------------------------------------
    async def run(self) -> None:
        """Admit every input and run until all are taken, or until a run fails under
        `on_error="raise"`. Never raises for a failed run: the consumer sees `self.error`."""
        scheduler = self.scheduler
        try:
            async with anyio.create_task_group() as tg:
                scheduler.bind(tg)
                if isinstance(self.inputs, AsyncIterable):
                    tg.start_soon(self._admit_async, aiter(self.inputs))
                else:
                    self._source = iter(self.inputs)
                while not self._closed:
                    if self._source is not None:
                        self._admit_available()
                    scheduler.dispatch()  # inline nodes may finish runs right here
                    if self._exhausted and self._in_window == 0:
                        break
                    if self._source is not None and self._in_window < self.window:
                        await anyio.lowlevel.checkpoint()  # room was freed: admit more
                    else:
                        await scheduler.wait()
                if scheduler.busy:  # only calls for runs already failed or abandoned
                    tg.cancel_scope.cancel()
        finally:
            self._close()

    def _admit_available(self) -> None:
        """Admit sync inputs while the window has room (up to 256 before yielding)."""
        for _ in range(min(256, self.window - self._in_window)):
            try:
                item = next(self._source)  # type: ignore[arg-type]
            except StopIteration:
                self._source = None
                self._exhausted = True
                return
            self._admit(item)
        if self._in_window < self.window:
            self.scheduler.notify()  # more to admit once the loop has had a turn

    async def _admit_async(self, source: AsyncIterator[Any]) -> None:
        async for item in source:
            while self._in_window >= self.window and not self._closed:
                self._room = anyio.Event()
                await self._room.wait()
            if self._closed:
                return
            self._admit(item)
            self.scheduler.notify()
        self._exhausted = True
        self.scheduler.notify()

    def _admit(self, item: Any) -> None:
        index = self._admitted
        self._admitted += 1
        self._in_window += 1
        problem = self._check(item) or self._unprepared
        if problem is not None:
            self._deliver(index, problem)
        else:
            self.scheduler.admit(index, item if type(item) is dict else dict(item))

    def _check(self, item: Any) -> InputError | None:
        if not isinstance(item, Mapping):
            return InputError(f"run {self._admitted - 1}: inputs must be a mapping, not "
                              f"{type(item).__name__}")
        if self._required.issubset(item.keys()) and len(item) == len(self._required):
            return None
        problem = input_mismatch(self.plan.inputs, item)
        return InputError(f"run {self._admitted - 1}: {problem}") if problem else None

    def _done(self, run: Run) -> None:
        self._deliver(run.index, run.error if run.error is not None
                      else run.outputs(self.plan))

    def _deliver(self, index: int, result: Result) -> None:
        if self._emit:
            self._emit(Event("run_finished", None, (index,), data=result))
        if isinstance(result, LlmkitError) and self.on_error == "raise" and self.error is None:
            self.error = result
        if self._sink is not None:  # a direct consumer: no queue, the slot frees at once
            self._sink(index, result)
            self._in_window -= 1
            self._room.set()
        elif not self.ordered:
            self._out.append((index, result))
        elif index == self._next:
            self._out.append((index, result))
            self._next += 1
            held = self._held
            while self._next in held:
                self._out.append((self._next, held.pop(self._next)))
                self._next += 1
        else:
            self._held[index] = result
        self._out_ready.set()
        if self.error is not None:
            self._close()

    def _close(self) -> None:
        self._closed = True
        self._out_ready.set()
        self._room.set()
        self.scheduler.notify()

    # -- consuming ------------------------------------------------------------------------
    async def take(self) -> list[tuple[int, Result]] | None:
        """Every result available now (waiting for at least one); None when all are taken.

        Taking a chunk means the consumer is done with the previous one: its runs leave the
        window only now, so at most `window` runs are ever held, consumed or not."""
        if self._handed:
            self._in_window -= self._handed
            self._handed = 0
            self._room.set()
            self.scheduler.notify()
        while not self._out:
            if self._closed or (self._exhausted and self._in_window == 0):
                return None
            self._out_ready = anyio.Event()
            await self._out_ready.wait()
        chunk = list(self._out)
        self._out.clear()
        self._handed = len(chunk)
        return chunk

    def raise_error(self) -> None:
        if self.error is not None:
            raise self.error


async def collect(plan: Plan, inputs: Iterable[Mapping[str, Any]], **options: Any) -> list[Any]:
    """Run every input; results in input order."""
    results: dict[int, Any] = {}
    driver = await Driver.start(plan, inputs, sink=results.__setitem__, **options)
    await driver.run()
    driver.raise_error()
    return [results[i] for i in range(len(results))]


@asynccontextmanager
async def stream(plan: Plan, inputs: Any, *, ordered: bool = True,
                 **options: Any) -> AsyncIterator[AsyncIterator[Any]]:
    """Results as an async iterator (input order, or `(index, result)` as completed).

    When the consumer reads to the end, the runs' last cache writes finish before the
    context exits; when it leaves early, the runs still in flight are cancelled."""
    driver = await Driver.start(plan, inputs, ordered=ordered, **options)
    finished = False

    async def results() -> AsyncIterator[Any]:
        nonlocal finished
        while (chunk := await driver.take()) is not None:
            for index, result in chunk:
                yield result if ordered else (index, result)
        finished = True
        driver.raise_error()

    async with anyio.create_task_group() as tg:
        tg.start_soon(driver.run)
        yield results()
        if not finished:
            tg.cancel_scope.cancel()


def iterate(plan: Plan, inputs: Iterable[Mapping[str, Any]], *, ordered: bool = True,
            **options: Any) -> Iterator[Any]:
    """Sync streaming on the background loop, one loop hop per chunk of results."""

    async def make() -> Driver:
        return await Driver.start(plan, inputs, ordered=ordered, **options)

    driver = background.call(make)
    future = background.submit(driver.run)
    try:
        while (chunk := background.call(driver.take)) is not None:
            for index, result in chunk:
                yield result if ordered else (index, result)
    except BaseException:  # the consumer stopped early or Ctrl-C: stop the runs in flight
        future.cancel()
        raise
    future.result()
    driver.raise_error()


async def events(plan: Plan, inputs: dict[str, Any], **options: Any) -> AsyncIterator[Event]:
    """Run once, yielding every event; the last one (`result`) carries the outputs."""
    send, receive = anyio.create_memory_object_stream[Event](max_buffer_size=math.inf)
    outcome: dict[int, Any] = {}
    driver = await Driver.start(plan, [inputs], emit=send.send_nowait,
                                sink=outcome.__setitem__, **options)

    async def produce() -> None:
        async with send:
            await driver.run()

    async with anyio.create_task_group() as tg:
        tg.start_soon(produce)
        async with receive:
            async for event in receive:
                yield event
    driver.raise_error()
    yield Event("result", data=outcome.get(0))


def input_mismatch(inputs: Collection[str], item: Mapping[str, Any]) -> str | None:
    """What is wrong with the input names of one run (missing, unknown), or None."""
    missing = [name for name in inputs if name not in item]
    unknown = [key for key in item if key not in inputs]
    parts = []
    if missing:
        parts.append(f"missing input {', '.join(repr(m) for m in missing)}")
    if unknown:
        parts.append(f"unknown input {', '.join(repr(u) for u in unknown)} (the pipeline "
                     f"takes: {', '.join(inputs) or 'nothing'})")
    return "; ".join(parts) or None
