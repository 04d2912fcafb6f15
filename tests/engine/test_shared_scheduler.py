"""Every caller of a pipeline on one event loop joins one shared scheduler: concurrent
`arun` calls, threads calling `run`, and runs spread over time share micro-batches,
single-flight and the cache, and never each other's failures, timeouts or cancellations."""

from __future__ import annotations

import contextvars
import threading

import anyio
import anyio.lowlevel
import pytest

from llmkit.cache import MemoryCache
from llmkit.core import shared
from llmkit.core.node import Node
from llmkit.core.pipeline import Pipeline
from llmkit.errors import NodeError

from .nodes import AddBatch, SlowAdd, SlowBatch, Tracker

pytestmark = pytest.mark.anyio

NO_TIMER = {"max_batch": 1000, "max_wait_ms": 60_000}  # a wait on this timer fails the test


def one_node(node: Node) -> Pipeline:
    return Pipeline(inputs=["x"]).add("n", node, x="x")


async def concurrently(*callers) -> None:
    """Run the callers as tasks of one task group (started in this order), within 5 s."""
    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            for caller in callers:
                tg.start_soon(caller)


def leaves(exc: BaseException) -> list[BaseException]:
    """The exceptions inside `exc`, out of any exception groups."""
    return [leaf for inner in getattr(exc, "exceptions", ()) for leaf in leaves(inner)] or [exc]


async def until(condition) -> None:
    while not condition():
        await anyio.sleep(0.002)


# -- batching across callers ----------------------------------------------------------------
async def test_a_hundred_concurrent_aruns_make_one_call_of_each_batch_node():
    first, second = Tracker(), Tracker()
    p = (Pipeline(inputs=["x"])
         .add("a", AddBatch(tracker=first).configure(**NO_TIMER), x="x")
         .add("b", AddBatch(n=10, tracker=second).configure(**NO_TIMER), x="a.x"))
    results = {}

    async def call(i: int) -> None:
        results[i] = await p.arun(x=i)

    await concurrently(*(lambda i=i: call(i) for i in range(100)))
    assert results == {i: {"x": i + 11} for i in range(100)}
    assert (first.batches, second.batches) == ([100], [100])


def test_thirty_two_threads_calling_run_share_at_most_two_calls():
    node = SlowBatch(delay=0.05).configure(**NO_TIMER)
    p = one_node(node)
    start = threading.Barrier(32)
    results: dict[int, dict] = {}

    def call(i: int) -> None:
        start.wait()
        results[i] = p.run(x=i)

    threads = [threading.Thread(target=call, args=(i,)) for i in range(32)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert results == {i: {"x": i + 1} for i in range(32)}
    assert len(node.batches) <= 2


async def test_runs_arriving_every_2_ms_into_a_50_ms_node_are_batched():
    node = SlowBatch(delay=0.05).configure(**NO_TIMER)
    p = one_node(node)
    results = {}

    async def call(i: int) -> None:
        results[i] = await p.arun(x=i)

    with anyio.fail_after(20):
        async with anyio.create_task_group() as tg:
            for i in range(500):
                tg.start_soon(call, i)
                await anyio.sleep(0.002)
    assert results == {i: {"x": i + 1} for i in range(500)}
    assert len(node.batches) <= 100  # a fifth of the runs, at most


async def test_a_lone_run_does_not_wait_for_the_timer():
    first, second = SlowBatch().configure(**NO_TIMER), SlowBatch().configure(**NO_TIMER)
    p = Pipeline(inputs=["x"]).add("a", first, x="x").add("b", second, x="a.x")
    with anyio.fail_after(5):  # the timer is 60 s
        assert await p.arun(x=1) == {"x": 3}
        assert await p.arun(x=2) == {"x": 4}  # a lone run after another
    assert (first.batches, second.batches) == ([[1], [2]], [[2], [3]])


async def test_the_tail_of_a_run_many_does_not_wait_for_the_call_in_flight():
    tracker = Tracker()
    node = SlowBatch(delay=0.05, tracker=tracker).configure(
        max_batch=32, max_wait_ms=60_000, concurrency=2)
    with anyio.fail_after(5):
        results = await one_node(node).arun_many([{"x": i} for i in range(40)])
    assert results == [{"x": i + 1} for i in range(40)]
    assert sorted(len(b) for b in node.batches) == [8, 32]
    assert tracker.peak == 2


# -- callers are isolated ---------------------------------------------------------------------
@pytest.mark.parametrize("b_fails", [False, True], ids=["b-raises", "b-returns"])
async def test_one_callers_failing_item_leaves_the_others_runs_correct(b_fails):
    # A's 13 fails the batch that B's runs are in; B's go on to `after` while A raises.
    batch = SlowBatch(delay=0.02, fail_on=frozenset({13, 105})).configure(**NO_TIMER)
    p = (Pipeline(inputs=["x"]).add("batch", batch, x="x")
         .add("after", SlowAdd(delay=0.05), x="batch.x"))
    a_inputs = [{"x": x} for x in range(10, 20)]
    b_inputs = [{"x": x} for x in range(100 if b_fails else 200, 110 if b_fails else 210)]
    a_errors, b_results = [], []

    async def caller_a() -> None:
        with pytest.raises(NodeError) as info:
            await p.arun_many(a_inputs)
        a_errors.append(info.value)

    async def caller_b() -> None:
        b_results.extend(await p.arun_many(b_inputs, on_error="return" if b_fails else "raise"))

    await concurrently(caller_a, caller_b)
    assert (a_errors[0].node, a_errors[0].run) == ("batch", 3)
    assert sorted(batch.batches[0]) == sorted(i["x"] for i in a_inputs + b_inputs)  # shared
    for item, result in zip(b_inputs, b_results, strict=True):
        if item["x"] == 105:
            assert isinstance(result, NodeError) and (result.node, result.run) == ("batch", 5)
        else:
            assert result == {"x": item["x"] + 2}


@pytest.mark.parametrize("how", ["cancel", "timeout"])
async def test_a_caller_leaving_mid_call_leaves_the_shared_call_running(how):
    tracker = Tracker()
    node = SlowBatch(delay=0.2, tracker=tracker).configure(**NO_TIMER)
    p = one_node(node)
    scope = anyio.CancelScope()
    b_results = []

    async def caller_a() -> None:
        if how == "timeout":
            with pytest.raises(TimeoutError), anyio.fail_after(0.05):
                await p.arun(x=1)
        else:
            with scope:
                await p.arun(x=1)
            assert scope.cancelled_caught

    async def caller_b() -> None:
        b_results.extend(await p.arun_many([{"x": 2}, {"x": 3}]))

    async def cancel_a() -> None:
        if how == "cancel":
            await until(lambda: tracker.in_flight)
            scope.cancel()

    await concurrently(caller_a, caller_b, cancel_a)
    assert b_results == [{"x": 3}, {"x": 4}]
    assert len(node.batches) == 1 and {2, 3} <= set(node.batches[0])
    assert node.cancelled == []


async def test_a_call_only_a_leaving_caller_needed_is_cancelled_and_a_shared_one_is_not():
    # A's 3 runs and B's 1 run make two calls of 2: one A alone needs, one B shares.
    tracker = Tracker()
    node = SlowBatch(delay=0.2, tracker=tracker).configure(
        max_batch=2, max_wait_ms=60_000, concurrency=2)
    p = one_node(node)
    scope = anyio.CancelScope()
    b_results = []

    async def caller_a() -> None:
        with scope:
            await p.arun_many([{"x": 1}, {"x": 2}, {"x": 3}])

    async def caller_b() -> None:
        b_results.append(await p.arun(x=100))

    async def cancel_a() -> None:
        await until(lambda: tracker.in_flight == 2)
        scope.cancel()

    await concurrently(caller_a, caller_b, cancel_a)
    assert b_results == [{"x": 101}]
    assert len(node.batches) == 2
    assert node.cancelled == [xs for xs in node.batches if 100 not in xs]


async def test_fifty_callers_of_one_item_compute_it_once_with_a_cache():
    class Doubled(Node):
        inputs = {"x": int}
        outputs = {"y": int}

        def __init__(self) -> None:
            self.items: list[int] = []

        async def run_batch(self, items):
            self.items.extend(item["x"] for item in items)
            await anyio.sleep(0.02)
            return [{"y": 2 * item["x"]} for item in items]

    node = Doubled()
    p, store = one_node(node), MemoryCache()
    results = []

    async def call() -> None:
        results.append(await p.arun(x=7, cache=store))

    await concurrently(*[call] * 50)
    assert results == [{"y": 14}] * 50
    assert node.items == [7]


@pytest.mark.parametrize("kind", ["node_started", "run_finished"])
async def test_a_listener_that_raises_fails_its_caller_only(kind):
    node = SlowBatch(delay=0.05).configure(**NO_TIMER)
    p = one_node(node)
    b_results = []

    def listener(event) -> None:
        if event.kind == kind:
            raise RuntimeError("the listener broke")

    async def caller_a() -> None:
        with pytest.raises(RuntimeError, match="the listener broke"):
            await p.arun_many([{"x": 1}], on_event=listener)

    async def caller_b() -> None:
        b_results.extend(await p.arun_many([{"x": x} for x in range(10, 20)]))

    await concurrently(caller_a, caller_b)
    assert b_results == [{"x": x + 1} for x in range(10, 20)]
    assert sorted(node.batches[0]) == [1, *range(10, 20)]  # they shared the call
    with anyio.fail_after(5):
        assert await p.arun(x=5) == {"x": 6}  # and the scheduler serves on


async def test_a_stream_consumer_that_raises_mid_call_stops_its_runs_only():
    # A's 1 passes the gate and is called alone; A's 20 and B's 10 pass it during that call,
    # and share the next one, in flight when A's consumer raises.
    class Gate(Node):
        inputs = {"x": int}
        outputs = {"x": int}

        def __init__(self) -> None:
            self.open = anyio.Event()

        async def run(self, x):
            if x != 1:
                await self.open.wait()
            return {"x": x}

    gate, tracker = Gate(), Tracker()
    slow = SlowBatch(delay=0.2, tracker=tracker).configure(max_batch=1000, max_wait_ms=1)
    p = Pipeline(inputs=["x"]).add("gate", gate, x="x").add("slow", slow, x="gate.x")
    a_errors, b_results = [], []

    async def caller_a() -> None:
        try:
            async with p.astream_many([{"x": 1}, {"x": 20}]) as results:
                async for _ in results:
                    await until(lambda: len(slow.batches) == 2)
                    raise RuntimeError("the consumer broke")
        except Exception as exc:  # anyio's task group may wrap it in an exception group
            a_errors.extend(str(e) for e in leaves(exc))

    async def caller_b() -> None:
        b_results.append(await p.arun(x=10))

    async def open_gate() -> None:
        await until(lambda: slow.batches)
        gate.open.set()

    await concurrently(caller_a, caller_b, open_gate)
    assert a_errors == ["the consumer broke"]
    assert b_results == [{"x": 11}]
    assert [sorted(b) for b in slow.batches] == [[1], [10, 20]]
    assert slow.cancelled == []


async def test_a_cancellation_meant_for_a_leaving_run_spares_the_workers_next_run():
    # A leaves while the worker's call for A has just returned but not resumed: the worker
    # must not carry A's cancellation over to B's run, which it takes next.
    class Held(Node):
        inputs = {"x": int}
        outputs = {"x": int}

        def __init__(self) -> None:
            self.release, self.started = anyio.Event(), []

        async def run(self, x):
            self.started.append(x)
            if x == 1:
                await self.release.wait()  # then returns without another checkpoint
            else:
                await anyio.sleep(0.01)
            return {"x": x}

    node = Held().configure(concurrency=1)
    p = one_node(node)
    scope = anyio.CancelScope()
    b_results = []

    async def caller_a() -> None:
        with scope:
            await p.arun(x=1)

    async def caller_b() -> None:
        await until(lambda: node.started == [1])  # queued behind A's call (concurrency 1)
        b_results.append(await p.arun(x=2))

    async def leave_as_the_call_returns() -> None:
        await until(lambda: node.started == [1])
        for _ in range(5):
            await anyio.lowlevel.checkpoint()  # B's run is admitted and queued meanwhile
        scope.cancel()  # A's task runs first and leaves,
        node.release.set()  # then the worker resumes, its call for A done

    with anyio.fail_after(2):
        async with anyio.create_task_group() as tg:
            for caller in (caller_a, caller_b, leave_as_the_call_returns):
                tg.start_soon(caller)
    assert b_results == [{"x": 2}]


async def test_a_run_joining_a_single_flight_that_is_being_cancelled_still_finishes():
    # A's call is cancelled as A leaves; B's run of the same item arrives before it unwinds
    # and waits for that flight: it must be computed, not dropped with the flight.
    node = SlowBatch(delay=0.2).configure(**NO_TIMER, cache=True)
    p, store = one_node(node), MemoryCache()
    scope = anyio.CancelScope()
    b_results = []

    async def caller_a() -> None:
        with scope:
            await p.arun(x=7, cache=store)

    async def caller_b() -> None:
        b_results.append(await p.arun(x=7, cache=store))

    with anyio.fail_after(2):
        async with anyio.create_task_group() as tg:
            tg.start_soon(caller_a)
            await until(lambda: node.batches)
            scope.cancel()  # A leaves in the next loop turn, just before B arrives
            tg.start_soon(caller_b)
    assert b_results == [{"x": 8}]


# -- the shared loop ------------------------------------------------------------------------
async def test_the_shared_loop_ends_when_idle_and_a_later_run_starts_it_again(monkeypatch):
    monkeypatch.setattr(shared, "LINGER_SECONDS", 0.05)
    p = one_node(AddBatch())
    plan = p.validate()

    def mine() -> list[shared.SharedScheduler]:
        return [s for s in shared._active.values() if s.plan is plan]

    assert await p.arun(x=1) == {"x": 2}
    (first,) = mine()
    with anyio.fail_after(2):
        await until(lambda: not mine())
    assert not first._running and not first._tasks
    assert await p.arun(x=2) == {"x": 3}
    (again,) = mine()
    assert again._running


CALLER = contextvars.ContextVar("CALLER", default=None)


async def test_a_callers_context_variables_do_not_reach_calls_made_for_another():
    class Sees(Node):
        inputs = {"x": int}
        outputs = {"caller": object}

        def __init__(self) -> None:
            self.seen: dict[int, object] = {}

        async def run_batch(self, items):
            self.seen.update((item["x"], CALLER.get()) for item in items)
            return [{"caller": CALLER.get()} for _ in items]

    node = Sees()
    p = one_node(node)

    async def caller_a() -> None:  # it starts the shared loop, in a context of its own
        CALLER.set("A")
        await p.arun(x=1)

    await concurrently(caller_a)
    assert await p.arun(x=2) == {"caller": None}
    assert node.seen[2] is None
