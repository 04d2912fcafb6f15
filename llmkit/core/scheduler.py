"""The scheduler: moves the items of many concurrent runs, of many callers, through one plan.

State. A *run* is one set of pipeline inputs, owned by a *caller* (one `arun`, `run_many`,
`astream`, ... call), which receives the run's result and, if it asked, its events and
statistics. Per run the scheduler holds the outputs of its finished nodes, per node the
number of upstream nodes still unfinished (`waiting`), how many nodes remain, which nodes it
has reached, and its error once failed. Per node it holds:

- ready: runs whose inputs for the node are all available (a FIFO queue);
- in_flight: calls started and not finished, never more than the node's `concurrency`;
- unarrived: admitted, unfailed runs that have not reached the node yet.

Policy. The owner's loop calls `dispatch` to start every call that may start, then sleeps
(`wait`) until a call finishes, a run is admitted, or a partial batch's wait runs out:

- a run reaches a node when its last upstream node finishes (source nodes: at admission);
- a batchable node sends a partial batch (fewer than `max_batch` ready runs) unless company
  is coming, and then waits for it, at most `max_wait_ms` from its first ready run:
  - runs *known* to be on their way (`unarrived > 0`): a `run_many` of 100 inputs, or 100
    `arun` calls admitted in one event-loop turn, make one call, with no timer wait. When
    they arrive over time, the wait is also bounded by a call's typical duration (a moving
    average): waiting longer would cost more than the extra call it saves, so a 0.1 ms
    search never holds a run for 20 ms behind an embedding call still in flight;
  - runs that arrived while a call of the node was in flight: under spread arrivals (the
    requests of a web service) more arrive meanwhile, and they go together when the call
    ends, so the batch size follows the load. Runs that were ready when a call started
    but did not fit in it are not held (the tail of a `run_many` goes at once);
  - otherwise the batch goes at once: a lone run never waits. A full batch always goes,
    up to `concurrency` calls in flight.
- other nodes start at once: async ones through up to `concurrency` worker tasks that take
  ready runs one by one (a task per worker, not per run); sync ones one worker-thread hop
  for several runs, or inside the loop itself when they are `inline` or their measured work
  is shorter than a hop (`CallRunner.cheap`);
- a finished call hands each run its outputs (or fails the run: the other runs go on) and
  makes the runs that now have all inputs of a successor ready for it.

Why this and not the serving systems' rules. Triton's dynamic batcher and TF Serving wait up
to a fixed queue delay for a batch to fill and form one when a model instance is free; Ray
Serve's `@serve.batch` waits `batch_wait_timeout_s` (10 ms) and runs one batch at a time by
default. All three see only the requests already queued, so a lone request pays the timer
whenever one is set, and with one batch at a time a full batch waits for the last one. This
scheduler sees the graph: it knows which runs can still reach a node and waits only for
those, and for arrivals nobody can predict it waits only while the node is busy anyway,
when waiting costs least and merges most (Nagle's rule), bounded by `max_wait_ms` (20 ms by
default: at 500 runs/s and 50 ms calls, about one call per 10 runs), while full batches go
side by side up to `concurrency`.

Callers are isolated. A run's failure fails that run only; `leave` withdraws a caller's
unfinished runs (it was cancelled, timed out, or stopped at its first error), and a call
whose runs were all withdrawn, and that no other run waits for, is cancelled.

Cache. With a store, a cacheable node's arriving run first gets an item key. A run whose key
is already being looked up or computed at the node waits for that one (single-flight, across
callers); otherwise its key joins the node's pending lookups, made in one `get_many` per
dispatch. Hits finish at once, misses become ready, and a finished call writes its results
(but no `Uncached` one) in one `set_many`. Until its lookup resolves, a run still counts as
unarrived, so batches wait for it. Each caller fingerprints a node once, when its first run
reaches it, so a resource that changed (a corpus that gained documents) keys the callers
that come after.

Routes. A routing node (`partial_outputs`) returns only the branch a run takes; when a run
reaches a node that a route can skip (`PlanNode.conditional`) and `plan.skips` says it is
skipped, the node is done for that run at once: it counts as never arriving (no batch waits
for it), is neither called nor looked up, and its successors see it as done, with all its
ports skipped (docs/control-flow.md). Other nodes pay one attribute test per arrival.

Values are passed by reference and never copied or checked, except that a node must return
the output ports its successors read.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections import deque
from collections.abc import Callable, Sequence
from math import ceil, inf
from typing import TYPE_CHECKING, Any

import anyio
import anyio.abc
import anyio.lowlevel

from llmkit.cache.keys import item_key
from llmkit.core.calls import CallRunner, Outcome
from llmkit.core.events import Event, TokenSink, _token_sink
from llmkit.core.memo import ELSEWHERE, MISS, NodeMemo, output_hash, value_hash
from llmkit.core.node import Uncached
from llmkit.core.plan import INPUT, OMIT, Plan, PlanNode, skips
from llmkit.core.stats import Profile
from llmkit.core.tracing import end_call, start_call
from llmkit.core.usage import Usage, _meter
from llmkit.errors import NodeError

if TYPE_CHECKING:
    from llmkit.cache import CacheStore
    from llmkit.core.tracing import CallSpans, RunTracer

__all__ = ["Caller", "Run", "Scheduler"]

ASYNC_CONCURRENCY = 64
SYNC_CONCURRENCY = 4
CHUNK_SECONDS = 0.005  # work per worker-thread hop of a sync node


class Caller:
    """One entry call's share of a scheduler: where its runs' results, events (`emit`),
    statistics (`profile`) and spans (`trace`, `core/tracing.py`) go, and which of its runs
    are unfinished."""

    __slots__ = ("done", "emit", "fingerprints", "profile", "runs", "trace", "writes",
                 "written")

    def __init__(self, done: Callable[[Run], None], *,
                 emit: Callable[[Event], None] | None = None,
                 profile: Profile | None = None, trace: RunTracer | None = None) -> None:
        self.done = done
        self.emit = emit
        self.profile = profile
        self.trace = trace
        self.runs: dict[int, Run] = {}  # unfinished runs by index
        self.fingerprints: dict[int, bytes | None] = {}  # by node index, taken on first use
        self.writes = 0  # cache writes of its runs' results still in progress
        self.written: anyio.Event | None = None  # set when `writes` drops to 0, if awaited

    @property
    def observes(self) -> bool:
        """Whether it wants events, statistics or spans of its runs' calls."""
        return self.emit is not None or self.profile is not None or self.trace is not None

    async def flush(self) -> None:
        """Wait until its runs' results are written to the cache (a caller that returns
        leaves them there for the next one)."""
        if self.writes:
            self.written = anyio.Event()
            await self.written.wait()


class Run:
    """One run's progress through the plan."""

    __slots__ = ("error", "hashes", "index", "inputs", "keys", "outs", "owner", "reached",
                 "remaining", "usage", "waiting")

    def __init__(self, owner: Caller, index: int, inputs: dict[str, Any], plan: Plan,
                 waiting: list[int]) -> None:
        self.owner = owner
        self.index = index
        self.inputs = inputs
        self.outs: list[Any] = [None] * len(plan.nodes)
        self.waiting = waiting
        self.remaining = len(plan.nodes)
        self.reached = bytearray(len(plan.nodes))
        self.error: BaseException | None = None
        self.keys: list[bytes | None] | None = None  # item key per cached node
        self.hashes: dict[str, bytes | None] | None = None  # hashes of pipeline inputs
        self.usage: Usage | None = None  # tokens its calls spent, when its caller observes

    def outputs(self, plan: Plan) -> dict[str, Any]:
        return {name: self.inputs[port] if src == INPUT else self.outs[src][port]
                for name, src, port in plan.outputs}


class Withdrawn(Exception):
    """The error of a run whose caller left (cancelled, timed out, or stopped)."""


_WITHDRAWN = Withdrawn("the caller of this run left")
_SKIPPED: dict[str, Any] = {}  # the outputs of a node a route skipped: none (never written)


class _Call:
    """A call in flight: its runs, the scope that cancels it when none still needs it, and
    once cancelled, the event its task sets when it has unwound."""

    __slots__ = ("runs", "scope", "unwound")

    def __init__(self, runs: list[Run]) -> None:
        self.runs = runs
        self.scope = anyio.CancelScope()
        self.unwound: anyio.Event | None = None

    def cancel(self) -> anyio.Event:
        self.scope.cancel()
        if self.unwound is None:
            self.unwound = anyio.Event()
        return self.unwound

    def end(self) -> None:
        if self.unwound is not None:
            self.unwound.set()


class _NodeState:
    """The scheduler's view of one node."""

    __slots__ = ("batch", "call_seconds", "caller", "calls", "elsewhere", "finished",
                 "first_at", "flights", "held_at", "in_flight", "inline", "is_async", "leased",
                 "limit", "max_batch", "max_wait", "memo", "name", "pending", "plan", "polling",
                 "ready", "starting", "stats", "unarrived")

    def __init__(self, plan_node: PlanNode, stats: Any, memo: NodeMemo | None) -> None:
        node, settings = plan_node.node, plan_node.node.settings
        self.plan = plan_node
        self.name = plan_node.name
        is_async = node.is_async()
        self.limit = settings.concurrency or (ASYNC_CONCURRENCY if is_async else SYNC_CONCURRENCY)
        self.caller = CallRunner(node, self.limit)  # it knows how, and where, a call runs
        self.batch, self.is_async = self.caller.is_batch, self.caller.is_async
        self.inline = self.caller.inline
        self.max_batch = max(1, settings.max_batch)
        self.max_wait = settings.max_wait_ms / 1000
        self.call_seconds = inf  # a call's typical duration (moving average); unknown yet
        self.ready: deque[Run] = deque()
        self.first_at = 0.0
        self.in_flight = 0
        self.finished = 0  # calls finished so far
        self.held_at = -1  # `finished` when the oldest ready run arrived; -1: not held
        self.calls: set[_Call] = set()
        self.starting = 0  # async workers started that have not taken a run yet
        self.unarrived = 0
        self.stats = stats
        self.memo = memo
        self.pending: list[tuple[Run, bytes]] = []  # (run, key) lookups still to be made
        self.flights: dict[bytes, list[Run]] = {}  # key -> runs waiting for it, leader first
        self.leased: set[bytes] = set()  # keys this process computes, leased in a shared store
        self.elsewhere: list[tuple[Run, bytes]] = []  # (run, key) another process computes
        self.polling = False  # a task polls the store for `elsewhere`


class Scheduler:
    """Executes admitted runs of any number of callers, starting their calls as tasks of a
    task group (`bind`); hands each finished run (outputs or error) to its caller. The
    owner's loop alternates `dispatch` and `wait` while `idle` is false."""

    def __init__(self, plan: Plan, *, cache: CacheStore | None = None) -> None:
        self.plan = plan
        self.profile = Profile()  # every caller's calls: sizes the worker-thread hops
        self.nodes = [
            _NodeState(pn, self.profile.node(pn.name), NodeMemo.create(pn.name, pn.node, cache))
            for pn in plan.nodes]
        self.cached = any(ns.memo for ns in self.nodes)
        self._upstream = [pn.n_upstream for pn in plan.nodes]
        self._sources = [ns for ns in self.nodes if ns.plan.n_upstream == 0]
        self._wake = anyio.Event()
        self._tg: anyio.abc.TaskGroup | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._native: set[asyncio.Task[Any]] = set()
        self.failure: BaseException | None = None  # what a plain asyncio task raised
        self._deadline = inf
        self.live = 0  # runs admitted and not finished
        self.tasks = 0  # tasks started (calls, lookups, writes) and not finished
        self.observers = 0  # callers that want events, statistics or spans
        self.tracing = 0  # callers that want spans
        self._inline_meter = Usage()
        # runs finished by the call being reported, handed to their callers after its
        # `node_finished`, so a listener sees a run's last call before `run_finished`
        self._held: list[Run] | None = None
        self._callers: set[Caller] = set()

    def bind(self, tg: anyio.abc.TaskGroup, loop: asyncio.AbstractEventLoop | None = None
             ) -> None:
        """Start calls as tasks of `tg` (the owner's loop makes a new one per activation), or
        on asyncio as plain tasks of `loop`: 5.5 µs a task against anyio's 22 (a run of three
        async nodes made three), so the owner watches `failure` and cancels them itself.
        Called in the owner's task, whose usage meter counts the inline calls (each call
        task sets its own)."""
        self._tg = tg
        self._loop = loop
        self._wake = anyio.Event()
        _meter.set(self._inline_meter)  # in the owner's task: what inline calls spend

    def cancel_tasks(self) -> None:
        """Cancel the plain asyncio tasks still running (the owner's loop is ending)."""
        for task in list(self._native):
            task.cancel()

    @property
    def idle(self) -> bool:
        """True when no run is unfinished and no task is running."""
        return self.live == 0 and self.tasks == 0

    # -- callers and their runs -----------------------------------------------------------
    def join(self, caller: Caller) -> None:
        """Register a caller before it admits runs; `leave` when it is done."""
        self._callers.add(caller)
        if caller.observes:
            self.observers += 1
            self.tracing += caller.trace is not None
        if caller.profile is not None:
            caller.profile.enter()

    def admit(self, caller: Caller, index: int, inputs: dict[str, Any]) -> None:
        """Start a run; its source nodes see it at once. Call `notify` after admitting."""
        run = Run(caller, index, inputs, self.plan, list(self._upstream))
        if self.cached:
            run.keys = [None] * len(self.nodes)
            run.hashes = {}
        self.live += 1
        caller.runs[index] = run
        for ns in self.nodes:
            ns.unarrived += 1
        if not self.nodes:
            self._finish(run)
        for ns in self._sources:
            self._arrive(run, ns)

    def leave(self, caller: Caller) -> list[anyio.Event]:
        """The caller is done: withdraw its unfinished runs (it was cancelled, timed out, or
        stopped at its first error; no result reaches it any more) and cancel the calls that
        no run needs now; returns events set once those calls have unwound. The other
        callers' runs go on untouched."""
        if caller not in self._callers:
            return []
        self._callers.remove(caller)
        if caller.observes:
            self.observers -= 1
            self.tracing -= caller.trace is not None
        if caller.profile is not None:
            caller.profile.exit()
        if not caller.runs:
            return []
        for run in list(caller.runs.values()):
            run.error = _WITHDRAWN
            self._end(run)
        self._wake.set()
        return [call.cancel() for ns in self.nodes for call in ns.calls
                if not any(self._needed(ns, r) for r in call.runs)]

    def fail_all(self, error: BaseException) -> None:
        """End every unfinished run with `error` (the loop that drives them has stopped)."""
        for caller in list(self._callers):
            for run in list(caller.runs.values()):
                run.error = error
                self._end(run)
                caller.done(run)

    def notify(self) -> None:
        """Wake the loop: something changed outside it."""
        self._wake.set()

    # -- the loop -------------------------------------------------------------------------
    async def wait(self) -> None:
        """Sleep until `notify`, a finished call, or the next partial batch falls due."""
        deadline = self._deadline
        if self._wake.is_set():
            await anyio.lowlevel.checkpoint()
        elif deadline == inf:
            await self._wake.wait()
        else:
            with anyio.move_on_after(max(0.0, deadline - time.monotonic())):
                await self._wake.wait()
        self._wake = anyio.Event()

    def dispatch(self) -> None:
        """Start every call that may start now; note when a waiting batch falls due."""
        deadline = inf
        now = time.monotonic()
        for ns in self.nodes:
            if ns.pending:
                self._look_up(ns)
            ready = ns.ready
            while ready and ns.in_flight < ns.limit:
                if ns.batch:
                    # A partial batch waits while company is coming: the runs that arrive
                    # while a call is in flight (they go when it ends), or runs on their
                    # way, for no longer than a call of the node takes (waiting longer
                    # costs more than the second call it saves); never beyond max_wait.
                    if len(ready) < ns.max_batch:
                        if ns.in_flight and ns.held_at == ns.finished:
                            due = ns.first_at + ns.max_wait
                        elif ns.unarrived > 0:
                            due = ns.first_at + min(ns.max_wait, ns.call_seconds)
                        else:
                            due = now
                        if now < due:
                            deadline = min(deadline, due)
                            break
                    take = ns.max_batch
                elif ns.inline:
                    take = len(ready)
                elif ns.is_async:
                    if len(ready) <= ns.starting:
                        break  # the workers already on their way will take these
                    ns.in_flight += 1
                    ns.starting += 1
                    self._start(self._work, ns)
                    continue
                else:  # sync: share the ready runs among the free worker threads
                    take = self._chunk(ns)
                runs = []
                for _ in range(min(take, len(ready))):
                    run = ready.popleft()
                    if run.error is None or self._needed(ns, run) or self._discard(ns, run):
                        runs.append(run)
                if ready:
                    ns.first_at = now
                    ns.held_at = -1  # ready now, but did not fit: not held
                if not runs:
                    continue
                if ns.caller.runs_inline(len(runs)):
                    self._run_inline(ns, runs)
                else:
                    ns.in_flight += 1
                    self._start(self._call, ns, runs)
        self._deadline = deadline

    def _start(self, fn: Callable[..., Any], *args: Any) -> None:
        self.tasks += 1
        if self._loop is None:
            self._tg.start_soon(fn, *args)  # type: ignore[union-attr]
            return
        task = self._loop.create_task(fn(*args))
        self._native.add(task)  # the loop keeps only a weak reference
        task.add_done_callback(self._native_done)

    def _native_done(self, task: asyncio.Task[Any]) -> None:
        self._native.discard(task)
        if not task.cancelled() and task.exception() is not None and self.failure is None:
            self.failure = task.exception()  # an engine bug: the owner's loop raises it
            self._wake.set()

    def _chunk(self, ns: _NodeState) -> int:
        """Runs per worker-thread hop of a sync node: the ready runs shared among the free
        threads, but no more than ~5 ms of work, so slow nodes still stream results."""
        share = ceil(len(ns.ready) / (ns.limit - ns.in_flight))
        stats = ns.stats
        if not stats.items:
            return min(share, 8)  # no timing yet: a small first hop measures the node
        per_item = stats.seconds / stats.items
        return max(1, min(share, int(CHUNK_SECONDS / per_item) if per_item else share))

    # -- calls ----------------------------------------------------------------------------
    def _inputs(self, ns: _NodeState, run: Run) -> dict[str, Any]:
        args = dict(ns.plan.defaults) if ns.plan.defaults else {}
        outs = run.outs
        optional = ns.plan.optional
        for port, src, src_port in ns.plan.sources:
            if src == INPUT:
                args[port] = run.inputs[src_port]
            elif optional and src_port not in outs[src]:  # skipped by a route
                if optional[port] is not OMIT:
                    args[port] = optional[port]
            else:
                args[port] = outs[src][src_port]
        return args

    async def _call(self, ns: _NodeState, runs: list[Run]) -> None:
        # Only an async call can be stopped: a worker thread runs on, its result unread.
        call = _Call(runs) if ns.is_async else None
        outcomes = spans = None
        meter = Usage()
        _meter.set(meter)  # this task's: what the node's backends spend counts for this call
        try:
            if self.observers:
                spans = self._started(ns, runs)
            started = time.perf_counter()
            items = [self._inputs(ns, r) for r in runs]
            if call is None:
                outcomes = await ns.caller.call(items)
            else:
                ns.calls.add(call)
                with call.scope:
                    outcomes = await ns.caller.call(items)
        finally:
            if call is not None:
                ns.calls.discard(call)
                call.end()
            ns.in_flight -= 1
            ns.finished += 1
            self.tasks -= 1
            self._wake.set()
        if outcomes is None:  # cancelled: every run had left
            if spans is not None:
                end_call(spans, runs, None, None, None)
            self._forget(ns, runs)
        else:
            self._finish_call(ns, runs, outcomes, time.perf_counter() - started, meter.take(),
                              spans)

    async def _work(self, ns: _NodeState) -> None:
        """An async node's worker: calls the node for ready runs until none is left. Its one
        scope (a scope per call would cost 5 µs a run) is cancelled when the run in hand has
        left, which ends the worker; a cancellation that arrives late, after the next run's
        call began, hands that run back to the queue for another worker."""
        ns.starting -= 1
        ready, caller = ns.ready, ns.caller
        sinking = False  # a token sink is set in this task's context
        call = _Call([])  # on the run in hand
        ns.calls.add(call)
        run = spans = None
        meter = Usage()  # this task's, emptied after each run's call
        _meter.set(meter)
        try:
            with call.scope:
                while ready:
                    run = ready.popleft()
                    call.runs = [run]
                    if run.error is not None and not self._needed(ns, run):
                        self._discard(ns, run)
                        run = None
                        continue
                    if self.observers:
                        spans = self._started(ns, [run])
                    emit = run.owner.emit
                    if emit is not None:  # its tokens go to its caller, and no other run's
                        _token_sink.set(TokenSink(functools.partial(
                            self._token, emit, ns.name, run.index)))
                        sinking = True
                    elif sinking:
                        _token_sink.set(None)
                        sinking = False
                    started = time.perf_counter()
                    outcome = await caller.one(self._inputs(ns, run))
                    self._finish_call(ns, [run], [outcome], time.perf_counter() - started,
                                      meter.take(), spans)
                    run = spans = None
                    self._wake.set()
            if spans is not None:
                end_call(spans, [run], None, None, None)  # type: ignore[list-item]
            if run is not None:  # cancelled on this run
                if self._needed(ns, run):
                    ready.appendleft(run)  # meant for the run before it, which had left
                else:
                    self._forget(ns, [run])
        finally:
            ns.calls.discard(call)
            call.end()
            ns.in_flight -= 1
            self.tasks -= 1
            self._wake.set()

    @staticmethod
    def _token(emit: Callable[[Event], None], node: str, run: int, text: str) -> None:
        emit(Event("token", node, (run,), data=text))

    def _run_inline(self, ns: _NodeState, runs: list[Run]) -> None:
        """One attempt in the event loop; items whose failure the node's retry policy
        accepts go through a regular call, with its retries."""
        spans = self._started(ns, runs) if self.observers else None
        caller = ns.caller
        started = time.perf_counter()
        outcomes = caller.call_inline([self._inputs(ns, r) for r in runs])
        seconds = time.perf_counter() - started
        meter = self._inline_meter.take()  # the loop's own meter (`bind`)
        caller.timed(seconds, len(runs), inline=True)
        if caller.retry.attempts > 1:
            again = [isinstance(o, Exception) and caller.retry.retries(o, 1) for o in outcomes]
            if any(again):
                ns.in_flight += 1
                self._start(self._call, ns, [r for r, a in zip(runs, again, strict=True) if a])
                runs = [r for r, a in zip(runs, again, strict=True) if not a]
                outcomes = [o for o, a in zip(outcomes, again, strict=True) if not a]
        self._finish_call(ns, runs, outcomes, seconds, meter, spans)

    def _finish_call(self, ns: _NodeState, runs: list[Run], outcomes: Sequence[Outcome],
                     seconds: float, meter: Usage | None = None,  # what the call spent
                     spans: CallSpans | None = None) -> None:
        shares = self._metered(ns, runs, meter) if meter is not None else None
        if spans is not None:  # before the runs go on: a run's span ends after its nodes'
            end_call(spans, runs, outcomes, meter, shares)
        observed, outer = self.observers, self._held
        if observed:
            self._held = []
        try:
            complete = self._complete
            failed = [not complete(ns, run, outcome)
                      for run, outcome in zip(runs, outcomes, strict=True)]
            if ns.memo is not None:
                self._store(ns, runs, outcomes)
            ns.stats.record_call(len(runs), seconds, failed.count(True))
            ns.call_seconds = seconds if ns.call_seconds == inf else (
                0.8 * ns.call_seconds + 0.2 * seconds)
            if observed:
                self._tell("node_finished", ns, runs, seconds, failed, shares)
        finally:
            if observed:
                held, self._held = self._held, outer
                for run in held:
                    run.owner.done(run)

    def _metered(self, ns: _NodeState, runs: list[Run], meter: Usage) -> list[Usage] | None:
        """Count a call's tokens for the node, and for the runs whose callers observe, their
        shares (`shares[i]` is `runs[i]`'s)."""
        ns.stats.record_usage(meter)
        if not self.observers:
            return None
        shares = meter.split(len(runs))
        for run, share in zip(runs, shares, strict=True):
            if run.owner.observes:
                if run.usage is None:
                    run.usage = Usage()
                run.usage.add(share)
        return shares

    def _started(self, ns: _NodeState, runs: list[Run]) -> CallSpans | None:
        """Tell the listening callers that a call starts; its spans, when one traces."""
        self._tell("node_started", ns, runs)
        return start_call(ns.name, runs) if self.tracing else None

    def _tell(self, kind: Any, ns: _NodeState, runs: list[Run], seconds: float = 0.0,
              failed: list[bool] | None = None, shares: list[Usage] | None = None) -> None:
        """Report a call to each caller with runs in it that listens: an event with its own
        run indices (and their share of the call's usage), and for a finished call a line in
        its profile."""
        groups: dict[Caller, list[int]] = {}
        for i, run in enumerate(runs):
            if run.owner.emit is not None or run.owner.profile is not None:
                groups.setdefault(run.owner, []).append(i)
        for owner, positions in groups.items():
            errors = sum(failed[i] for i in positions) if failed else 0
            usage = None
            if shares is not None:
                usage = Usage()
                for i in positions:
                    usage.add(shares[i])
            if owner.profile is not None and kind == "node_finished":
                stats = owner.profile.node(ns.name)
                stats.record_call(len(positions), seconds, errors)
                if usage is not None:
                    stats.record_usage(usage)
            if owner.emit is not None:
                owner.emit(Event(kind, ns.name, tuple(runs[i].index for i in positions),
                                 len(positions), seconds, errors, usage=usage))

    def _complete(self, ns: _NodeState, run: Run, out: Any) -> bool:
        """Give `run` the outputs of node `ns`; False when the node failed for it."""
        if run.error is not None:
            return True
        if isinstance(out, Exception) or not isinstance(out, dict):
            self._fail(run, NodeError(ns.name, out if isinstance(out, Exception) else TypeError(
                f"returned {type(out).__name__}, not a dict of outputs"), run.index))
            return False
        for port in ns.plan.needed:
            if port not in out:
                self._fail(run, NodeError(ns.name, KeyError(
                    f"returned no output '{port}' (it returned: {', '.join(out) or 'nothing'})"),
                    run.index))
                return False
        run.outs[ns.plan.index] = out
        self._advance(ns, run)
        return True

    def _advance(self, ns: _NodeState, run: Run) -> None:
        """`run` is done with `ns` (computed or skipped): its successors that have all their
        upstream nodes done now see it; the run finishes after its last node (a successor
        that a route skips is done at once, within this call)."""
        run.remaining -= 1
        if run.remaining == 0:
            self._finish(run)
            return
        waiting = run.waiting
        for s in ns.plan.successors:
            waiting[s] -= 1
            if waiting[s] == 0:
                self._arrive(run, self.nodes[s])

    def _arrive(self, run: Run, ns: _NodeState) -> None:
        run.reached[ns.plan.index] = 1
        if ns.plan.conditional and skips(ns.plan, lambda src, port: port not in run.outs[src]):
            self._skip(run, ns)
            return
        if ns.memo is not None:
            key = self._item_key(ns, run)
            if key is not None:
                run.keys[ns.plan.index] = key  # type: ignore[index]
                waiting = ns.flights.get(key)
                if waiting is not None:  # the same item is already on its way: share it
                    waiting.append(run)
                    ns.unarrived -= 1
                else:
                    ns.flights[key] = [run]
                    ns.pending.append((run, key))  # stays unarrived until its lookup resolves
                return
        self._enqueue(run, ns)

    def _skip(self, run: Run, ns: _NodeState) -> None:
        """A route skipped `ns` for `run`: the run counts as never arriving (no batch waits
        for it), the node is neither called nor looked up, and all its ports are skipped."""
        ns.unarrived -= 1
        run.outs[ns.plan.index] = _SKIPPED
        if run.owner.emit is not None:
            run.owner.emit(Event("node_skipped", ns.name, (run.index,), 1))
        self._advance(ns, run)

    def _enqueue(self, run: Run, ns: _NodeState) -> None:
        ns.unarrived -= 1
        self._make_ready(run, ns)

    def _make_ready(self, run: Run, ns: _NodeState) -> None:
        if ns.batch and not ns.ready:  # only a batch waits, from its first run on
            ns.first_at = time.monotonic()
            ns.held_at = ns.finished
        ns.ready.append(run)

    # -- runs that end --------------------------------------------------------------------
    def _finish(self, run: Run) -> None:
        self.live -= 1
        owner = run.owner
        del owner.runs[run.index]
        if self._held is not None:
            self._held.append(run)
        else:
            owner.done(run)

    def _fail(self, run: Run, error: NodeError) -> None:
        run.error = error
        self._wake.set()  # nodes that no longer wait for this run may flush now
        self._end(run)
        if self._held is not None:
            self._held.append(run)
        else:
            run.owner.done(run)

    def _end(self, run: Run) -> None:
        """Take a failed or withdrawn run out of the count of every node it has not reached."""
        for ns in self.nodes:
            if not run.reached[ns.plan.index]:
                run.reached[ns.plan.index] = 1
                ns.unarrived -= 1
        self.live -= 1
        del run.owner.runs[run.index]

    def _needed(self, ns: _NodeState, run: Run) -> bool:
        """True while `run`'s result at `ns` matters: the run goes on, or other runs wait for
        its (single-flight) result."""
        if run.error is None:
            return True
        if ns.memo is None or run.keys is None or run.keys[ns.plan.index] is None:
            return False
        return len(ns.flights.get(run.keys[ns.plan.index], ())) > 1  # type: ignore[arg-type]

    def _discard(self, ns: _NodeState, run: Run) -> bool:
        """Drop a run that no longer needs `ns` from the node's single flights (a later run
        with its key must not wait for a call that will never be made); always False."""
        self._forget(ns, [run])
        return False

    def _forget(self, ns: _NodeState, runs: list[Run]) -> None:
        """Take runs whose result will not be computed out of the single flights they lead.
        A flight that other runs joined meanwhile (after its call was cancelled) passes to
        its first live waiter, which becomes ready: nobody is left waiting for nothing."""
        if ns.memo is None:
            return
        for run in runs:
            key = run.keys[ns.plan.index] if run.keys is not None else None
            waiting = ns.flights.get(key) if key is not None else None
            if waiting is None or waiting[0] is not run:
                continue
            del waiting[0]
            while waiting and waiting[0].error is not None:
                del waiting[0]  # a waiter that failed or left needs nothing
            if waiting:
                self._make_ready(waiting[0], ns)
            else:
                del ns.flights[key]
                if key in ns.leased:  # not computed here after all: free it for others
                    ns.leased.discard(key)
                    self._start(self._put, ns.memo, [], set(), [key])

    # -- cache ----------------------------------------------------------------------------
    def _fingerprint(self, ns: _NodeState, owner: Caller) -> bytes | None:
        """The node's fingerprint as `owner` sees it: taken when its first run gets here."""
        i = ns.plan.index
        if i not in owner.fingerprints:
            owner.fingerprints[i] = ns.memo.fingerprint()  # type: ignore[union-attr]
        return owner.fingerprints[i]

    def _item_key(self, ns: _NodeState, run: Run) -> bytes | None:
        """The run's item key at `ns`, or None when an input cannot be hashed. Unwired
        optional inputs take class defaults, which the node's fingerprint already covers."""
        memo = ns.memo
        assert memo is not None and run.keys is not None and run.hashes is not None
        fingerprint = self._fingerprint(ns, run.owner)
        if fingerprint is None:
            return None
        hashes: dict[str, bytes] = {}
        optional = ns.plan.optional
        for port, src, src_port in ns.plan.sources:
            if src == INPUT:
                if src_port not in run.hashes:
                    run.hashes[src_port] = value_hash(run.inputs[src_port])
                h = run.hashes[src_port]
            elif optional and src_port not in run.outs[src]:
                continue  # skipped: the call takes the default, or leaves the input out
            elif (upstream_key := run.keys[src]) is not None:
                h = output_hash(upstream_key, src_port)
            else:
                h = value_hash(run.outs[src][src_port])
            if h is None:
                memo.warn("unhashable", "input '%s' cannot be hashed; such items are not cached",
                          port)
                return None
            hashes[port] = h
        return item_key(fingerprint, hashes)

    def _look_up(self, ns: _NodeState) -> None:
        pending, ns.pending = ns.pending, []
        memo = ns.memo
        assert memo is not None
        if memo.blocking:
            self._start(self._look_up_async, ns, pending)
        else:
            self._resolve(ns, pending, memo.get_now([key for _, key in pending]))

    async def _look_up_async(self, ns: _NodeState, pending: list[tuple[Run, bytes]]) -> None:
        try:
            values = await ns.memo.get([key for _, key in pending])  # type: ignore[union-attr]
            self._resolve(ns, pending, values)
        finally:
            self.tasks -= 1
            self._wake.set()

    def _resolve(self, ns: _NodeState, pending: list[tuple[Run, bytes]],
                 values: list[Any]) -> None:
        """Finish the runs whose lookup hit; make the misses ours to compute ready; poll for
        those another process computes (it leased them)."""
        for (run, key), value in zip(pending, values, strict=True):
            if value is MISS:
                ns.stats.cache_misses += 1
                self._count(ns, [run], "cache_misses")
                if ns.memo.leases:  # type: ignore[union-attr]
                    ns.leased.add(key)
                self._enqueue(run, ns)
                continue
            if value is ELSEWHERE:  # still unarrived: batches wait for it as for a lookup
                ns.elsewhere.append((run, key))
                if not ns.polling:
                    ns.polling = True
                    self._start(self._poll, ns)
                continue
            ns.unarrived -= 1
            waiting = ns.flights.pop(key, [run])
            ns.stats.cache_hits += len(waiting)
            self._count(ns, waiting, "cache_hits")
            for waiter in waiting:
                self._complete(ns, waiter, value)

    async def _poll(self, ns: _NodeState) -> None:
        """Look up the items other processes compute until each is stored, or its lease is
        free (its holder finished without a result, or died: the lease expired) and taken
        here: then it is ours to compute. Every 20 ms at first, then less often."""
        delay = 0.02
        try:
            while ns.elsewhere:
                await anyio.sleep(delay)
                delay = min(2 * delay, 0.5)
                pending, ns.elsewhere = ns.elsewhere, []
                self._resolve(ns, pending, await ns.memo.get([k for _, k in pending]))  # type: ignore[union-attr]
        finally:
            ns.polling = False
            self.tasks -= 1
            self._wake.set()

    def _count(self, ns: _NodeState, runs: list[Run], counter: str) -> None:
        """Add the runs to their callers' cache counters, for callers that keep a profile."""
        if self.observers:
            for run in runs:
                owner = run.owner
                if owner.profile is not None:
                    stats = owner.profile.node(ns.name)
                    setattr(stats, counter, getattr(stats, counter) + 1)
                if owner.trace is not None and counter == "cache_hits":
                    owner.trace.hit(run.index, ns.name)

    def _store(self, ns: _NodeState, runs: list[Run], outcomes: Sequence[Outcome]) -> None:
        """Hand each computed outcome to the runs that waited for it; write the results."""
        i = ns.plan.index
        fresh = []
        owners: set[Caller] = set()
        release = []  # leases on the items computed, done or failed
        for run, outcome in zip(runs, outcomes, strict=True):
            key = run.keys[i] if run.keys is not None else None
            if key is None:
                continue
            waiting = ns.flights.pop(key, [])
            for waiter in waiting[1:]:
                ns.stats.cache_hits += 1
                self._complete(ns, waiter, outcome)
            self._count(ns, waiting[1:], "cache_hits")
            if isinstance(outcome, dict) and not isinstance(outcome, Uncached):
                fresh.append((key, outcome))
                owners.update(r.owner for r in waiting)
            if key in ns.leased:
                ns.leased.discard(key)
                release.append(key)
        if not fresh and not release:
            return
        memo = ns.memo
        entries = memo.encode_all(fresh)  # type: ignore[union-attr]
        if memo.blocking:  # type: ignore[union-attr]
            for owner in owners:
                owner.writes += 1
            self._start(self._put, memo, entries, owners, release)
        else:
            memo.put_now(entries)  # type: ignore[union-attr]

    async def _put(self, memo: NodeMemo, entries: list[tuple[bytes, bytes]],
                   owners: set[Caller], release: list[bytes] | None = None) -> None:
        try:
            await memo.put(entries, release or [])
        finally:
            self.tasks -= 1
            self._wake.set()
            for owner in owners:
                owner.writes -= 1
                if not owner.writes and owner.written is not None:
                    owner.written.set()
