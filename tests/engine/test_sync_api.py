"""The sync facade: one background loop for every call, usable inside a running loop."""

import asyncio
import gc
import signal
import threading
import time

import anyio
import pytest

from llmkit.core import background
from llmkit.core.node import Node
from llmkit.core.pipeline import Pipeline


class LoopSpy(Node):
    inputs = {"x": int}
    outputs = {"x": int}

    def __init__(self):
        self.loops = set()

    async def run(self, x):
        self.loops.add(id(asyncio.get_running_loop()))
        return {"x": x}


def test_a_thousand_sync_runs_use_one_event_loop():
    spy = LoopSpy()
    p = Pipeline(inputs=["x"]).add("s", spy, x="x")
    threads_before = threading.active_count()
    assert [p.run(x=i)["x"] for i in range(1000)] == list(range(1000))
    assert len(spy.loops) == 1
    assert threading.active_count() <= threads_before + 1  # at most the loop's own thread


def test_run_works_inside_a_running_loop():
    p = Pipeline(inputs=["x"]).add("s", LoopSpy(), x="x")

    async def notebook_cell():
        return p.run(x=7)

    assert asyncio.run(notebook_cell()) == {"x": 7}


def test_iter_many_streams_with_a_bounded_window():
    pulled = 0
    window = 32

    def inputs():
        nonlocal pulled
        for i in range(5000):
            pulled += 1
            yield {"x": i}

    p = Pipeline(inputs=["x"]).add("s", LoopSpy(), x="x")
    consumed = 0
    worst = 0
    for result in p.iter_many(inputs(), window=window):
        assert result == {"x": consumed}
        consumed += 1
        worst = max(worst, pulled - consumed)
    assert consumed == 5000
    assert worst <= window


def test_stopping_iteration_early_cancels_the_rest():
    p = Pipeline(inputs=["x"]).add("s", LoopSpy(), x="x")
    it = p.iter_many({"x": i} for i in range(10_000))
    assert next(it) == {"x": 0}
    it.close()
    gc.collect()
    assert p.run(x=1) == {"x": 1}  # the loop is still healthy


def test_ctrl_c_during_a_sync_call_waits_until_the_call_has_unwound():
    unwound = []

    async def slow():
        try:
            await anyio.sleep(30)
        finally:
            with anyio.CancelScope(shield=True):  # cleanup that takes a while (a cache write)
                await anyio.sleep(0.3)
                unwound.append(True)

    main = threading.get_ident()
    threading.Timer(0.2, signal.pthread_kill, (main, signal.SIGINT)).start()  # Ctrl-C
    with pytest.raises(KeyboardInterrupt):
        background.call(slow)
    assert unwound == [True]


async def _count(n, fail_at=None, seen=None):
    for i in range(n):
        if i == fail_at:
            raise ValueError(f"broke at {i}")
        if seen is not None:
            seen.append(i)
        yield i
        await anyio.sleep(0)


def test_iterate_streams_an_async_iterator_and_raises_its_error():
    assert list(background.iterate(_count, 5)) == [0, 1, 2, 3, 4]
    got = []
    with pytest.raises(ValueError, match="broke at 3"):
        for i in background.iterate(_count, 10, 3):
            got.append(i)
    assert got == [0, 1, 2]


def test_iterate_works_inside_a_running_loop_and_stops_when_left_early():
    seen = []

    async def notebook_cell():
        for i in background.iterate(_slow_count, seen):
            if i == 2:
                break
        return len(seen)

    assert asyncio.run(notebook_cell()) <= 4
    time.sleep(0.2)
    assert len(seen) <= 4  # nothing ran on after the consumer left


async def _slow_count(seen):
    for i in range(100):
        seen.append(i)
        yield i
        await anyio.sleep(0.01)
