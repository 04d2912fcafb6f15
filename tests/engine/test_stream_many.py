"""Streaming many runs: results in input order although runs finish out of order, and an
early exit from `astream_many` stops the runs still in flight."""

import anyio
import pytest

from llmkit.core.node import node
from llmkit.core.pipeline import Pipeline
from llmkit.errors import NodeError

from .nodes import SlowAdd, Tracker

pytestmark = pytest.mark.anyio


def reversed_finish(n: int) -> Pipeline:
    """Run i finishes after (n - i) ticks: the last input is done first."""

    @node(outputs="x")
    async def later_first(x):
        await anyio.sleep(0.01 * (n - x))
        return x

    return Pipeline(inputs=["x"]).add("n", later_first, x="x")


async def test_ordered_stream_holds_runs_that_finish_early_until_their_turn():
    p, n = reversed_finish(10), 10
    with anyio.fail_after(10):  # a result held forever would hang here
        async with p.astream_many([{"x": i} for i in range(n)]) as results:
            assert [r["x"] async for r in results] == list(range(n))


async def test_as_completed_stream_yields_runs_in_the_order_they_finish():
    p, n = reversed_finish(10), 10
    async with p.astream_many([{"x": i} for i in range(n)], ordered=False) as results:
        assert [index async for index, _ in results] == list(reversed(range(n)))


def test_iter_many_holds_runs_that_finish_early_until_their_turn():
    assert [r["x"] for r in reversed_finish(10).iter_many([{"x": i} for i in range(10)])] == [
        *range(10)]


async def test_leaving_astream_many_early_cancels_the_runs_in_flight():
    tracker = Tracker()
    slow = SlowAdd(delay=0.05, tracker=tracker).configure(concurrency=4)
    p = Pipeline(inputs=["x"]).add("slow", slow, x="x")
    with anyio.fail_after(10):  # an exit that waited for 1,000 slow runs would time out
        async with p.astream_many([{"x": i} for i in range(1000)]) as results:
            async for _ in results:
                break
        assert tracker.in_flight == 0  # the calls in flight were cancelled, not abandoned
        calls = tracker.calls
        await anyio.sleep(0.2)  # four more rounds, had anything kept running
    assert tracker.calls == calls < 100


async def test_a_failed_run_stops_the_slow_runs_still_in_flight():
    @node(outputs="x")
    async def fail_first(x):
        if x == 0:
            raise ValueError("bad item")
        await anyio.sleep(60)
        return x

    p = Pipeline(inputs=["x"]).add("n", fail_first, x="x")
    with anyio.fail_after(10):  # waiting for the slow runs would time out
        with pytest.raises(NodeError, match="bad item"):
            await p.arun_many([{"x": i} for i in range(5)])
