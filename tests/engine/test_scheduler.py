"""Scheduler behaviour: micro-batching across runs, concurrency, failures, retries, timeouts."""

import math

import anyio
import pytest

from llmkit.core.node import Node, Retry, node
from llmkit.core.pipeline import Pipeline
from llmkit.core.stats import Profile
from llmkit.errors import InputError, NodeError, RetryableError

from .nodes import AddBatch, SlowAdd, SyncSlowAdd, Tracker

pytestmark = pytest.mark.anyio


def chain(first: Node) -> Pipeline:
    """batchable → a → b → c"""
    return (Pipeline(inputs=["x"]).add("batch", first, x="x")
            .add("a", SlowAdd(), x="batch.x").add("b", SyncSlowAdd(), x="a.x")
            .add("c", SlowAdd(), x="b.x"))


@pytest.mark.parametrize("max_batch", [100, 1000, 32, 7, 1])
async def test_hundred_runs_make_ceil_hundred_over_max_batch_calls(max_batch):
    tracker = Tracker()
    # A timer of 60 s: any wait on it would hit the test timeout; flushing must not need it.
    first = AddBatch(tracker=tracker).configure(max_batch=max_batch, max_wait_ms=60_000)
    with anyio.fail_after(20):
        results = await chain(first).arun_many([{"x": i} for i in range(100)])
    assert results == [{"x": i + 4} for i in range(100)]
    assert tracker.calls == math.ceil(100 / max_batch)
    assert max(tracker.batches) == min(max_batch, 100)


async def test_a_partial_batch_flushes_after_max_wait_when_runs_are_still_upstream():
    # Runs reach `batch` at different times (after a slow node); the timer flushes them.
    tracker = Tracker()
    p = (Pipeline(inputs=["x"]).add("slow", SlowAdd(delay=0.0), x="x")
         .add("batch", AddBatch(tracker=tracker).configure(max_batch=1000, max_wait_ms=1),
              x="slow.x"))
    results = await p.arun_many([{"x": i} for i in range(20)])
    assert results == [{"x": i + 2} for i in range(20)]
    assert sum(tracker.batches) == 20


async def test_two_independent_branches_of_one_run_overlap():
    tracker = Tracker()  # shared by both branches
    p = (Pipeline(inputs=["x"]).add("left", SlowAdd(delay=0.05, tracker=tracker), x="x")
         .add("right", SlowAdd(delay=0.05, tracker=tracker), x="x"))
    assert await p.arun(x=1) == {"left.x": 2, "right.x": 2}
    assert tracker.peak == 2


@pytest.mark.parametrize("kind", [SlowAdd, SyncSlowAdd])
async def test_concurrency_limit_is_never_exceeded_and_is_reached(kind):
    tracker = Tracker()
    p = Pipeline(inputs=["x"]).add(
        "n", kind(delay=0.01, tracker=tracker).configure(concurrency=8), x="x")
    results = await p.arun_many([{"x": i} for i in range(100)])
    assert results == [{"x": i + 1} for i in range(100)]
    assert tracker.peak == 8


@pytest.mark.parametrize("first", ["batch", "single"])
async def test_one_failing_item_fails_its_run_only(first):
    tracker = Tracker()
    head = (AddBatch(tracker=tracker, fail_on=42) if first == "batch"
            else node(outputs="x")(lambda x: 1 / 0 if x == 42 else x + 1))
    results = await chain(head).arun_many([{"x": i} for i in range(100)], on_error="return")
    errors = [r for r in results if isinstance(r, NodeError)]
    assert len(errors) == 1 and results[42] is errors[0]
    assert errors[0].node == "batch" and errors[0].run == 42
    assert "cannot take 42" in str(errors[0]) or "ZeroDivisionError" in str(errors[0])
    assert [r["x"] for i, r in enumerate(results) if i != 42] == [
        i + 4 for i in range(100) if i != 42]


async def test_failure_raises_by_default():
    with pytest.raises(NodeError, match="node 'batch' failed: ValueError: cannot take 3"):
        await chain(AddBatch(fail_on=3)).arun_many([{"x": i} for i in range(10)])


@pytest.mark.parametrize("inline", [False, True])
async def test_a_failed_batch_is_bisected_to_the_bad_item(inline):
    tracker = Tracker()
    p = Pipeline(inputs=["x"]).add(
        "b", AddBatch(tracker=tracker, fail_on=5).configure(max_batch=64, inline=inline),
        x="x")
    results = await p.arun_many([{"x": i} for i in range(64)], on_error="return")
    assert sum(isinstance(r, NodeError) for r in results) == 1
    # One failed call of 64, then halves down to the single bad item: 1 + 2 * log2(64).
    assert tracker.calls == 1 + 2 * 6


async def test_retryable_errors_are_retried_then_succeed():
    attempts = {}

    class Flaky(Node):
        inputs = {"x": int}
        outputs = {"x": int}

        async def run(self, x):
            attempts[x] = attempts.get(x, 0) + 1
            if attempts[x] < 3:
                raise RetryableError("busy", retry_after=0.001)
            return {"x": x}

    ok = Pipeline(inputs=["x"]).add("f", Flaky().configure(retry=Retry(attempts=3)), x="x")
    assert await ok.arun_many([{"x": i} for i in range(5)]) == [{"x": i} for i in range(5)]
    attempts.clear()
    short = Pipeline(inputs=["x"]).add("f", Flaky().configure(retry=Retry(attempts=2)), x="x")
    with pytest.raises(NodeError, match="busy"):
        await short.arun(x=1)


async def test_other_errors_are_not_retried():
    calls = []

    @node(outputs="x", retry=Retry(attempts=5, backoff=0.001))
    def bug(x):
        calls.append(x)
        raise ValueError("bug")

    with pytest.raises(NodeError, match="ValueError: bug"):
        await Pipeline(inputs=["x"]).add("b", bug, x="x").arun(x=1)
    assert calls == [1]


async def test_timeout_fails_the_run_with_a_clear_cause():
    p = Pipeline(inputs=["x"]).add("s", SlowAdd(delay=5).configure(timeout=0.05), x="x")
    with anyio.fail_after(3):
        results = await p.arun_many([{"x": 1}], on_error="return")
    assert isinstance(results[0], NodeError)
    assert "TimeoutError: no result within 0.05 s" in str(results[0])


async def test_missing_output_port_blames_the_producing_node():
    @node(outputs=("a", "b"))
    def half(x):
        return {"a": x}

    p = Pipeline(inputs=["x"]).add("h", half, x="x").add("n", SlowAdd(), x="h.b")
    with pytest.raises(NodeError, match=r"node 'h' failed: KeyError: .*no output 'b'"):
        await p.arun(x=1)


async def test_a_node_returning_no_dict_fails_its_run_saying_what_it_returned():
    class Listing(Node):
        inputs = {"x": int}
        outputs = {"x": int}

        def run(self, x):
            return [x]

    p = Pipeline(inputs=["x"]).add("s", Listing(), x="x").add("n", SlowAdd(), x="s.x")
    with pytest.raises(NodeError, match="node 's' failed: TypeError: returned list, not a "
                                        "dict of outputs"):
        await p.arun(x=1)


@pytest.mark.parametrize("inline", [False, True])
async def test_wrong_run_batch_length_is_an_error(inline):
    class Short(Node):
        inputs = {"x": int}
        outputs = {"x": int}

        def run_batch(self, items):
            return items[:-1]

    short = Short().configure(inline=inline)
    results = await Pipeline(inputs=["x"]).add("s", short, x="x").arun_many(
        [{"x": 1}, {"x": 2}], on_error="return")
    assert all("returned 1 results for 2 items" in str(r) for r in results)


async def test_missing_and_unknown_inputs_are_named():
    p = Pipeline(inputs=["x"]).add("s", SlowAdd(), x="x")
    results = await p.arun_many([{"y": 1}, {"x": 1}], on_error="return")
    assert isinstance(results[0], InputError)
    assert "missing input 'x'" in str(results[0]) and "unknown input 'y'" in str(results[0])
    assert results[1] == {"x": 2}


async def test_profile_counts_calls_and_batch_sizes():
    profile = Profile()
    p = Pipeline(inputs=["x"]).add("b", AddBatch().configure(max_batch=50), x="x")
    await p.arun_many([{"x": i} for i in range(100)], profile=profile)
    stats = profile.nodes["b"]
    assert (stats.calls, stats.items, stats.mean_batch) == (2, 100, 50.0)
    assert "b" in profile.table()


async def test_as_completed_mode_yields_every_index_once():
    p = Pipeline(inputs=["x"]).add("s", SlowAdd(delay=0.001), x="x")
    async with p.astream_many(({"x": i} for i in range(200)), ordered=False,
                              window=16) as results:
        seen = {i: r async for i, r in results}
    assert seen == {i: {"x": i + 1} for i in range(200)}


async def test_astream_reports_node_events_then_the_result():
    p = chain(AddBatch())
    kinds = [(e.kind, e.node) async for e in p.astream(x=1)]
    assert kinds[-1] == ("result", None)
    started = [n for k, n in kinds if k == "node_started"]
    assert started == ["batch", "a", "b", "c"]
    results = [e async for e in p.astream(x=1)]
    assert results[-1].data == {"x": 5}


async def test_an_async_input_stream_longer_than_the_window_is_all_admitted():
    async def inputs():
        for i in range(100):
            await anyio.sleep(0)
            yield {"x": i}

    p = Pipeline(inputs=["x"]).add("s", SlowAdd(delay=0.005), x="x")  # the window fills
    with anyio.fail_after(10):
        results = await p.arun_many(inputs(), window=4)
    assert results == [{"x": i + 1} for i in range(100)]


def last_is_late(tracker: Tracker) -> Pipeline:
    """Runs 0-18 reach `batch` at once, run 19 0.2 s later; `batch` may wait 60 s."""

    @node(outputs="x")
    async def late(x):
        await anyio.sleep(0.2 if x == 19 else 0)
        return x

    return (Pipeline(inputs=["x"]).add("late", late, x="x")
            .add("batch", AddBatch(tracker=tracker).configure(max_batch=1000,
                                                              max_wait_ms=60_000), x="late.x"))


async def test_a_batch_waits_for_the_last_run_still_upstream_then_flushes_once():
    # 19 runs reach `batch` at once, the 20th later: the batch must wait for it (no timer
    # needed, it is the last run that can still arrive), not flush 19 and then 1.
    tracker = Tracker()
    p = last_is_late(tracker)
    with anyio.fail_after(20):
        assert await p.arun_many([{"x": i} for i in range(20)]) == [
            {"x": i + 1} for i in range(20)]
    assert tracker.batches == [20]


async def test_a_cheap_batch_waits_for_runs_on_their_way_no_longer_than_one_of_its_calls():
    # Once `batch` has shown that its calls take microseconds, a run that reaches it does not
    # wait 60 s (its max_wait) for one still 0.2 s upstream: a second call costs less.
    tracker = Tracker()
    p = last_is_late(tracker)
    with anyio.fail_after(20):
        for _ in range(2):  # the first timed its call (it waited: nothing was known yet)
            await p.arun_many([{"x": i} for i in range(20)])
    assert tracker.batches == [20, 19, 1]


async def test_unwired_optional_inputs_take_the_class_defaults():
    class Scale(Node):
        inputs = {"x": int, "k": int}
        outputs = {"x": int}
        defaults = {"k": 3}

        def run(self, x, k):
            return {"x": x * k}

    assert await Pipeline(inputs=["x"]).add("s", Scale(), x="x").arun(x=2) == {"x": 6}


async def test_an_inline_node_with_retries_is_retried():
    failed = []

    @node(outputs="x", inline=True, retry=Retry(attempts=2, backoff=0.001))
    def flaky(x):
        if not failed:
            failed.append(x)
            raise RetryableError("busy")
        return x

    assert await Pipeline(inputs=["x"]).add("f", flaky, x="x").arun(x=1) == {"x": 1}
