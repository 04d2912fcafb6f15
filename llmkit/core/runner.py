"""One caller's drive through a plan's shared scheduler: a bounded window of runs in flight,
results in input order (or as completed), and what a failed run means to the caller.

The window counts runs admitted and not yet taken by the consumer, so memory stays flat for
any number of inputs: a million-line JSONL streams through a fixed number of runs.
"""

from __future__ import annotations

import contextlib
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
    Sized,
)
from contextlib import asynccontextmanager
from typing import Any, Literal

import anyio
import anyio.lowlevel

from llmkit.core import background
from llmkit.core.events import Event
from llmkit.core.plan import Plan
from llmkit.core.progress import Progress
from llmkit.core.scheduler import Caller, Run
from llmkit.core.shared import SharedScheduler
from llmkit.core.stats import Profile
from llmkit.core.tracing import run_tracer
from llmkit.core.usage import Usage
from llmkit.errors import InputError, LlmkitError, NodeError

__all__ = ["DEFAULT_WINDOW", "Driver", "collect", "events", "input_mismatch", "iterate",
           "run_one", "stream"]

DEFAULT_WINDOW = 1024
OnError = Literal["raise", "return"]
Result = Any  # the outputs dict, or the run's NodeError / InputError


class Driver:
    """One caller of a plan's shared scheduler: admits its inputs while its window has room
    and hands its results to a consumer via `take` (or, given a `sink`, as they come).

    `on_event` receives every event of its runs (`core/events.py`), on the scheduler's loop:
    it must not block, and when it raises, this caller stops with its error (the other
    callers go on). `progress=True` draws a progress bar on stderr when it is a terminal."""

    def __init__(self, shared: SharedScheduler,
                 inputs: Iterable[Mapping[str, Any]] | AsyncIterable[Any],
                 *, window: int = DEFAULT_WINDOW, ordered: bool = True,
                 on_error: OnError = "raise", profile: Profile | None = None,
                 on_event: Callable[[Event], None] | None = None, progress: bool = False,
                 sink: Callable[[int, Result], None] | None = None,
                 unprepared: NodeError | None = None) -> None:
        if on_error not in ("raise", "return"):
            raise ValueError(f"on_error must be 'raise' or 'return', not {on_error!r}")
        if window < 1:
            raise ValueError("window must be at least 1")
        self.shared = shared
        self.plan = shared.plan
        self.inputs = inputs
        self.window = window
        self.ordered = ordered
        self.on_error = on_error
        self.error: LlmkitError | None = None
        self._emit = on_event
        self._progress = Progress(total=len(inputs) if isinstance(inputs, Sized) else None,
                                  profile=profile) if progress else None
        if self._progress is not None:
            profile = self._progress.profile  # where it counts cache hits
        self._trace = run_tracer(self.plan.name)
        self.caller = Caller(self._done, emit=self._relay if on_event is not None else None,
                             profile=profile, trace=self._trace)
        self._required = frozenset(self.plan.inputs)
        self._in_window = 0
        self._admitted = 0
        self._exhausted = False
        self._held: dict[int, Result] = {}  # finished out of order, waiting for their turn
        self._next = 0
        self._out: deque[tuple[int, Result]] = deque()
        self._out_ready = anyio.Event()
        self._changed = anyio.Event()  # a result came, room was freed, or the driver closed
        self._room = anyio.Event()
        self._closed = False
        self._sink = sink
        self._source: Iterator[Any] | None = None
        self._handed = 0  # results given to the consumer by the last `take`
        self._unprepared = unprepared  # a resource that could not be prepared fails every run
        self._failure: Exception | None = None  # the consumer's own sink or listener raised

    @classmethod
    async def start(cls, plan: Plan, inputs: Any, *, cache: Any = None,
                    **options: Any) -> Driver:
        """A driver joining the shared scheduler of `plan` and `cache` on this event loop,
        once the plan's resources are prepared (its nodes' fingerprints read them); when one
        cannot be, each run fails with its NodeError."""
        shared = SharedScheduler.get(plan, cache)
        return cls(shared, inputs, unprepared=await shared.prepare(), **options)

    # -- producing ------------------------------------------------------------------------
    async def run(self) -> None:
        """Admit every input and wait until all are delivered, or until a run fails under
        `on_error="raise"` (the consumer sees `self.error`). However it ends (cancelled too),
        the runs it leaves behind are withdrawn; the other callers' runs go on."""
        self.shared.join(self.caller)
        try:
            if isinstance(self.inputs, AsyncIterable):
                async with anyio.create_task_group() as tg:
                    tg.start_soon(self._admit_async, aiter(self.inputs))
                    await self._until_done()
            else:
                self._source = iter(self.inputs)
                await self._until_done()
            await self.caller.flush()
        finally:
            self._close()
            await self.shared.leave(self.caller)
            if self._progress is not None:
                self._progress.close()
            if self._trace is not None:
                self._trace.close()
        if self._failure is not None:
            raise self._failure

    async def _until_done(self) -> None:
        while not self._closed:
            if self._source is not None and self._in_window < self.window:
                self._admit_available()
                await anyio.lowlevel.checkpoint()  # the scheduler takes them in
                continue
            if self._exhausted and self._in_window == 0:
                return
            self._changed = anyio.Event()
            await self._changed.wait()

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

    async def _admit_async(self, source: AsyncIterator[Any]) -> None:
        async for item in source:
            while self._in_window >= self.window and not self._closed:
                self._room = anyio.Event()
                await self._room.wait()
            if self._closed:
                return
            self._admit(item)
        self._exhausted = True
        self._changed.set()

    def _admit(self, item: Any) -> None:
        index = self._admitted
        self._admitted += 1
        self._in_window += 1
        problem = self._check(item) or self._unprepared
        if self._trace is not None:
            self._trace.start(index)
        if problem is not None:
            self._deliver(index, problem)
        else:
            self.shared.admit(self.caller, index, item if type(item) is dict else dict(item))

    def _check(self, item: Any) -> InputError | None:
        if not isinstance(item, Mapping):
            return InputError(f"run {self._admitted - 1}: inputs must be a mapping, not "
                              f"{type(item).__name__}")
        if self._required.issubset(item.keys()) and len(item) == len(self._required):
            return None
        problem = input_mismatch(self.plan.inputs, item)
        return InputError(f"run {self._admitted - 1}: {problem}") if problem else None

    def _done(self, run: Run) -> None:
        """A run of ours finished, on the scheduler's loop: a consumer that raises stops this
        caller only (its `run` re-raises it), never the scheduler."""
        try:
            self._deliver(run.index, run.error if run.error is not None
                          else run.outputs(self.plan), run.usage)
        except Exception as exc:
            self._fail(exc)

    def _relay(self, event: Event) -> None:
        try:
            self._emit(event)  # type: ignore[misc]
        except Exception as exc:
            self._fail(exc)

    def _fail(self, exc: Exception) -> None:
        if self._failure is None:
            self._failure = exc
        self._close()

    def _deliver(self, index: int, result: Result, usage: Usage | None = None) -> None:
        failed = isinstance(result, LlmkitError)
        if self._trace is not None:
            self._trace.end(index, result if failed else None, usage)
        if self._progress is not None:
            self._progress.advance(failed)
        if self._emit:
            self._emit(Event("run_finished", None, (index,), data=result, usage=usage))
        if failed and self.on_error == "raise" and self.error is None:
            self.error = result
        if self._sink is not None:  # a direct consumer: no queue, the slot frees at once
            self._sink(index, result)
            self._in_window -= 1
            self._room.set()
            self._changed.set()
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
        self._changed.set()

    # -- consuming ------------------------------------------------------------------------
    async def take(self) -> list[tuple[int, Result]] | None:
        """Every result available now (waiting for at least one); None when all are taken.

        Taking a chunk means the consumer is done with the previous one: its runs leave the
        window only now, so at most `window` runs are ever held, consumed or not."""
        if self._handed:
            self._in_window -= self._handed
            self._handed = 0
            self._room.set()
            self._changed.set()
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


async def run_one(plan: Plan, inputs: Mapping[str, Any], *, cache: Any = None,
                  profile: Profile | None = None,
                  on_event: Callable[[Event], None] | None = None) -> dict[str, Any]:
    """One run, the lean way (no window, no queue): the outputs, or its error raised; an
    `on_event` callback that raises stops the run with its error."""
    shared, item = await _joinable(plan, inputs, cache)
    finished: list[Run] = []
    failure: list[Exception] = []
    done = anyio.Event()
    trace = run_tracer(plan.name)

    def emit(event: Event) -> None:
        try:
            on_event(event)  # type: ignore[misc]
        except Exception as exc:
            failure.append(exc)
            done.set()

    def deliver(run: Run) -> None:
        finished.append(run)
        if trace is not None:
            trace.end(0, run.error, run.usage)
        if on_event is not None:
            emit(Event("run_finished", None, (0,), data=run.error if run.error is not None
                       else run.outputs(plan), usage=run.usage))
        done.set()

    caller = Caller(deliver, emit=emit if on_event is not None else None, profile=profile,
                    trace=trace)
    shared.join(caller)
    try:
        if trace is not None:
            trace.start(0)
        shared.admit(caller, 0, item)
        await done.wait()
        if not failure:
            await caller.flush()
    finally:
        await shared.leave(caller)
        if trace is not None:
            trace.close()
    if failure:
        raise failure[0]
    if finished[0].error is not None:
        raise finished[0].error
    return finished[0].outputs(plan)


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

    error: Exception | None = None
    async with anyio.create_task_group() as tg:
        tg.start_soon(driver.run)
        try:
            yield results()
        except Exception as exc:  # the consumer's own: raised as it is, not in a group
            error = exc
        if not finished or error is not None:
            tg.cancel_scope.cancel()
    if error is not None:
        raise error


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


async def events(plan: Plan, inputs: Mapping[str, Any], *, cache: Any = None,
                 profile: Profile | None = None, on_error: OnError = "raise"
                 ) -> AsyncIterator[Event]:
    """Run once, yielding every event; the last one (`result`) carries the outputs, or with
    `on_error="return"` the run's error (else raised).

    No task group spans a `yield`, so a consumer may stop at any event: the run joins the
    shared scheduler as `run_one`'s does, its events come through a stream, and closing the
    generator withdraws it."""
    try:
        shared, item = await _joinable(plan, inputs, cache)
    except LlmkitError as problem:  # a resource that cannot be prepared, inputs that do not fit
        if on_error == "raise":
            raise
        yield Event("run_finished", None, (0,), data=problem)
        yield Event("result", data=problem)
        return
    send, receive = anyio.create_memory_object_stream[Event](max_buffer_size=math.inf)
    finished: list[Run] = []

    def emit(event: Event) -> None:
        with contextlib.suppress(anyio.BrokenResourceError):  # the consumer left
            send.send_nowait(event)

    def deliver(done: Run) -> None:
        finished.append(done)
        if trace is not None:
            trace.end(0, done.error, done.usage)
        emit(Event("run_finished", None, (0,), data=done.error if done.error is not None
                   else done.outputs(plan), usage=done.usage))

    trace = run_tracer(plan.name)
    caller = Caller(deliver, emit=emit, profile=profile, trace=trace)
    shared.join(caller)
    try:
        if trace is not None:
            trace.start(0)
        shared.admit(caller, 0, item)
        async with receive:
            async for event in receive:
                yield event
                if event.kind == "run_finished":
                    break
            while True:  # what the call that finished the run reported after it
                try:
                    event = receive.receive_nowait()
                except anyio.WouldBlock:
                    break
                yield event
        await caller.flush()
    finally:
        await shared.leave(caller)
        if trace is not None:
            trace.close()
    error = finished[0].error
    if error is not None and on_error == "raise":
        raise error
    yield Event("result", data=error if error is not None else finished[0].outputs(plan))


async def _joinable(plan: Plan, inputs: Mapping[str, Any], cache: Any
                    ) -> tuple[SharedScheduler, dict[str, Any]]:
    """The shared scheduler a single run joins, once resources are prepared, and the run's
    inputs; a resource that cannot be prepared or inputs that do not fit are raised."""
    shared = SharedScheduler.get(plan, cache)
    problem = await shared.prepare()
    if problem is None and (mismatch := input_mismatch(plan.inputs, inputs)):
        problem = InputError(f"run 0: {mismatch}")
    if problem is not None:
        raise problem
    return shared, dict(inputs)


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
