"""The scheduler: moves the items of many concurrent runs through one plan.

State. A *run* is one set of pipeline inputs. Per run the scheduler holds the outputs of its
finished nodes, per node the number of upstream nodes still unfinished (`waiting`), how many
nodes remain, which nodes it has reached, and its error once failed. Per node it holds:

- ready: runs whose inputs for the node are all available (a FIFO queue);
- in_flight: calls started and not finished, never more than the node's `concurrency`;
- unarrived: admitted, unfailed runs that have not reached the node yet.

Policy. The driver's loop calls `dispatch` to start every call that may start, then sleeps
(`wait`) until a call finishes, a run is admitted, or a partial batch's wait runs out:

- a run reaches a node when its last upstream node finishes (source nodes: at admission);
- a batchable node flushes up to `max_batch` ready runs when it holds `max_batch`, when no
  admitted run can still reach it (`unarrived == 0`: a `run_many` of 100 inputs makes one
  call, with no timer wait), or `max_wait_ms` after its first ready run queued;
- other nodes start at once: async ones through up to `concurrency` worker tasks that take
  ready runs one by one (a task per worker, not per run); sync ones one worker-thread hop
  for several runs; inline ones inside the loop itself;
- a finished call hands each run its outputs (or fails the run: the other runs go on) and
  makes the runs that now have all inputs of a successor ready for it.

Cache. With a store, a cacheable node's arriving run first gets an item key. A run whose key
is already being looked up or computed at the node waits for that one (single-flight);
otherwise its key joins the node's pending lookups, made in one `get_many` per dispatch.
Hits finish at once, misses become ready, and a finished call writes its results in one
`set_many`. Until its lookup resolves, a run still counts as unarrived, so batches wait
for it.

Values are passed by reference and never copied or checked, except that a node must return
the output ports its successors read.
"""

from __future__ import annotations

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
from llmkit.core.memo import MISS, NodeMemo, output_hash, value_hash
from llmkit.core.plan import INPUT, Plan, PlanNode
from llmkit.core.stats import Profile
from llmkit.errors import NodeError

if TYPE_CHECKING:
    from llmkit.cache import CacheStore

__all__ = ["Run", "Scheduler"]

ASYNC_CONCURRENCY = 64
SYNC_CONCURRENCY = 4
CHUNK_SECONDS = 0.005  # work per worker-thread hop of a sync node


class Run:
    """One run's progress through the plan."""

    __slots__ = ("error", "hashes", "index", "inputs", "keys", "outs", "reached", "remaining",
                 "waiting")

    def __init__(self, index: int, inputs: dict[str, Any], plan: Plan,
                 waiting: list[int]) -> None:
        self.index = index
        self.inputs = inputs
        self.outs: list[Any] = [None] * len(plan.nodes)
        self.waiting = waiting
        self.remaining = len(plan.nodes)
        self.reached = bytearray(len(plan.nodes))
        self.error: NodeError | None = None
        self.keys: list[bytes | None] | None = None  # item key per cached node
        self.hashes: dict[str, bytes | None] | None = None  # hashes of pipeline inputs

    def outputs(self, plan: Plan) -> dict[str, Any]:
        return {name: self.inputs[port] if src == INPUT else self.outs[src][port]
                for name, src, port in plan.outputs}


class _NodeState:
    """The scheduler's view of one node."""

    __slots__ = ("batch", "caller", "first_at", "flights", "in_flight", "inline", "is_async",
                 "limit", "max_batch", "max_wait", "memo", "name", "pending", "plan", "ready",
                 "starting", "stats", "unarrived")

    def __init__(self, plan_node: PlanNode, stats: Any, memo: NodeMemo | None) -> None:
        node, settings = plan_node.node, plan_node.node.settings
        self.plan = plan_node
        self.name = plan_node.name
        self.batch = node.is_batch()
        self.is_async = node.is_async()
        # Inline runs skip retries and timeouts: those need a task to sleep or cancel in.
        self.inline = (settings.inline and not self.is_async and settings.timeout is None
                       and settings.retry.attempts <= 1)
        self.limit = settings.concurrency or (
            ASYNC_CONCURRENCY if self.is_async else SYNC_CONCURRENCY)
        self.max_batch = max(1, settings.max_batch)
        self.max_wait = settings.max_wait_ms / 1000
        self.caller = CallRunner(node, self.limit)
        self.ready: deque[Run] = deque()
        self.first_at = 0.0
        self.in_flight = 0
        self.starting = 0  # async workers started that have not taken a run yet
        self.unarrived = 0
        self.stats = stats
        self.memo = memo
        self.pending: list[tuple[Run, bytes]] = []  # (run, key) lookups still to be made
        self.flights: dict[bytes, list[Run]] = {}  # key -> runs waiting for it, leader first


class Scheduler:
    """Executes admitted runs, starting their calls as tasks of a task group; reports each
    finished run (outputs or error) to `on_done`. The owner's loop alternates `dispatch`
    and `wait`."""

    def __init__(self, plan: Plan, *, on_done: Callable[[Run], None],
                 profile: Profile | None = None, cache: CacheStore | None = None,
                 emit: Callable[[Event], None] | None = None) -> None:
        self.plan = plan
        self.on_done = on_done
        self.emit = emit
        profile = profile if profile is not None else Profile()
        self.nodes = [
            _NodeState(pn, profile.node(pn.name), NodeMemo.create(pn.name, pn.node, cache))
            for pn in plan.nodes]
        self.cached = any(ns.memo for ns in self.nodes)
        self._upstream = [pn.n_upstream for pn in plan.nodes]
        self._sources = [ns for ns in self.nodes if ns.plan.n_upstream == 0]
        self._wake = anyio.Event()
        self._tg: anyio.abc.TaskGroup | None = None
        self._deadline = inf

    def bind(self, tg: anyio.abc.TaskGroup) -> None:
        """Start calls as tasks of `tg`."""
        self._tg = tg

    # -- entering runs --------------------------------------------------------------------
    def admit(self, index: int, inputs: dict[str, Any]) -> None:
        """Start a run; its source nodes see it at once. Call `notify` after admitting."""
        run = Run(index, inputs, self.plan, list(self._upstream))
        if self.cached:
            run.keys = [None] * len(self.nodes)
            run.hashes = {}
        for ns in self.nodes:
            ns.unarrived += 1
        if not self.nodes:
            self.on_done(run)
        for ns in self._sources:
            self._arrive(run, ns)

    @property
    def busy(self) -> bool:
        """True while any call is in flight."""
        return any(ns.in_flight for ns in self.nodes)

    def notify(self) -> None:
        """Wake the loop: something changed outside it."""
        self._wake.set()

    # -- the loop -------------------------------------------------------------------------
    async def wait(self) -> None:
        """Sleep until `notify`, a finished call, or the next partial batch falls due."""
        if self._wake.is_set():
            await anyio.lowlevel.checkpoint()
        elif self._deadline == inf:
            await self._wake.wait()
        else:
            with anyio.move_on_after(max(0.0, self._deadline - time.monotonic())):
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
                    if len(ready) < ns.max_batch and ns.unarrived > 0:
                        due = ns.first_at + ns.max_wait
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
                    self._tg.start_soon(self._work, ns)  # type: ignore[union-attr]
                    continue
                else:  # sync: share the ready runs among the free worker threads
                    take = self._chunk(ns)
                runs = [ready.popleft() for _ in range(min(take, len(ready)))]
                if ready:
                    ns.first_at = now
                runs = [r for r in runs if r.error is None or self._awaited(ns, r)]
                if not runs:
                    continue
                if ns.inline:
                    self._run_inline(ns, runs)
                else:
                    ns.in_flight += 1
                    self._tg.start_soon(self._call, ns, runs)  # type: ignore[union-attr]
        self._deadline = deadline

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
        for port, src, src_port in ns.plan.sources:
            args[port] = run.inputs[src_port] if src == INPUT else outs[src][src_port]
        return args

    async def _call(self, ns: _NodeState, runs: list[Run]) -> None:
        if self.emit:
            self.emit(Event("node_started", ns.name, tuple(r.index for r in runs), len(runs)))
        started = time.perf_counter()
        try:
            outcomes = await ns.caller.call([self._inputs(ns, r) for r in runs])
        finally:
            ns.in_flight -= 1
            self._wake.set()
        self._finish_call(ns, runs, outcomes, time.perf_counter() - started)

    async def _work(self, ns: _NodeState) -> None:
        """An async node's worker: calls the node for ready runs until none is left."""
        ns.starting -= 1
        ready, caller, emit = ns.ready, ns.caller, self.emit
        try:
            while ready:
                run = ready.popleft()
                if run.error is not None and not self._awaited(ns, run):
                    continue
                if emit:
                    emit(Event("node_started", ns.name, (run.index,), 1))
                    _token_sink.set(TokenSink(functools.partial(self._token, ns.name, run.index)))
                started = time.perf_counter()
                outcome = await caller.one(self._inputs(ns, run))
                self._finish_call(ns, [run], [outcome], time.perf_counter() - started)
                self._wake.set()
        finally:
            ns.in_flight -= 1
            self._wake.set()

    def _token(self, node: str, run: int, text: str) -> None:
        self.emit(Event("token", node, (run,), data=text))  # type: ignore[misc]

    def _run_inline(self, ns: _NodeState, runs: list[Run]) -> None:
        if self.emit:
            self.emit(Event("node_started", ns.name, tuple(r.index for r in runs), len(runs)))
        started = time.perf_counter()
        outcomes = ns.caller.call_inline([self._inputs(ns, r) for r in runs])
        self._finish_call(ns, runs, outcomes, time.perf_counter() - started)

    def _finish_call(self, ns: _NodeState, runs: list[Run], outcomes: Sequence[Outcome],
                     seconds: float) -> None:
        errors = 0
        for run, outcome in zip(runs, outcomes, strict=True):
            if not self._complete(ns, run, outcome):
                errors += 1
        if ns.memo is not None:
            self._store(ns, runs, outcomes)
        ns.stats.record_call(len(runs), seconds, errors)
        if self.emit:
            self.emit(Event("node_finished", ns.name, tuple(r.index for r in runs), len(runs),
                            seconds, errors))

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
        run.remaining -= 1
        waiting = run.waiting
        for s in ns.plan.successors:
            waiting[s] -= 1
            if waiting[s] == 0:
                self._arrive(run, self.nodes[s])
        if run.remaining == 0:
            self.on_done(run)
        return True

    def _arrive(self, run: Run, ns: _NodeState) -> None:
        run.reached[ns.plan.index] = 1
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

    def _enqueue(self, run: Run, ns: _NodeState) -> None:
        ns.unarrived -= 1
        if not ns.ready:
            ns.first_at = time.monotonic()
        ns.ready.append(run)

    # -- cache ----------------------------------------------------------------------------
    def _item_key(self, ns: _NodeState, run: Run) -> bytes | None:
        """The run's item key at `ns`, or None when an input cannot be hashed. Unwired
        optional inputs take class defaults, which the node's fingerprint already covers."""
        memo = ns.memo
        assert memo is not None and run.keys is not None and run.hashes is not None
        hashes: dict[str, bytes] = {}
        for port, src, src_port in ns.plan.sources:
            if src == INPUT:
                if src_port not in run.hashes:
                    run.hashes[src_port] = value_hash(run.inputs[src_port])
                h = run.hashes[src_port]
            elif (upstream_key := run.keys[src]) is not None:
                h = output_hash(upstream_key, src_port)
            else:
                h = value_hash(run.outs[src][src_port])
            if h is None:
                memo.warn("unhashable", "input '%s' cannot be hashed; such items are not cached",
                          port)
                return None
            hashes[port] = h
        return item_key(memo.fingerprint, hashes)

    def _look_up(self, ns: _NodeState) -> None:
        pending, ns.pending = ns.pending, []
        memo = ns.memo
        assert memo is not None and self._tg is not None
        if memo.blocking:
            self._tg.start_soon(self._look_up_async, ns, pending)
        else:
            self._resolve(ns, pending, memo.get_now([key for _, key in pending]))

    async def _look_up_async(self, ns: _NodeState, pending: list[tuple[Run, bytes]]) -> None:
        values = await ns.memo.get([key for _, key in pending])  # type: ignore[union-attr]
        self._resolve(ns, pending, values)
        self._wake.set()

    def _resolve(self, ns: _NodeState, pending: list[tuple[Run, bytes]],
                 values: list[Any]) -> None:
        """Finish the runs whose lookup hit; make the others ready."""
        for (run, key), value in zip(pending, values, strict=True):
            if value is MISS:
                ns.stats.cache_misses += 1
                self._enqueue(run, ns)
                continue
            ns.unarrived -= 1
            waiting = ns.flights.pop(key, [run])
            ns.stats.cache_hits += len(waiting)
            for waiter in waiting:
                self._complete(ns, waiter, value)

    def _awaited(self, ns: _NodeState, run: Run) -> bool:
        """True when other runs wait for this (failed) run's result at `ns`."""
        if ns.memo is None or run.keys is None or run.keys[ns.plan.index] is None:
            return False
        return len(ns.flights.get(run.keys[ns.plan.index], ())) > 1  # type: ignore[arg-type]

    def _store(self, ns: _NodeState, runs: list[Run], outcomes: Sequence[Outcome]) -> None:
        """Hand each computed outcome to the runs that waited for it; write the results."""
        i = ns.plan.index
        fresh = []
        for run, outcome in zip(runs, outcomes, strict=True):
            key = run.keys[i] if run.keys is not None else None
            if key is None:
                continue
            waiting = ns.flights.pop(key, [])
            for waiter in waiting[1:]:
                ns.stats.cache_hits += 1
                self._complete(ns, waiter, outcome)
            if isinstance(outcome, dict):
                fresh.append((key, outcome))
        if not fresh:
            return
        memo = ns.memo
        entries = memo.encode_all(fresh)  # type: ignore[union-attr]
        if memo.blocking:  # type: ignore[union-attr]
            self._tg.start_soon(memo.put, entries)  # type: ignore[union-attr]
        else:
            memo.put_now(entries)  # type: ignore[union-attr]

    def _fail(self, run: Run, error: NodeError) -> None:
        run.error = error
        self._wake.set()  # nodes that no longer wait for this run may flush now
        for ns in self.nodes:
            if not run.reached[ns.plan.index]:
                run.reached[ns.plan.index] = 1
                ns.unarrived -= 1
        self.on_done(run)
