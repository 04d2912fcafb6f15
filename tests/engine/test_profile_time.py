"""A profile's time figures: a node's busy time counts overlapping calls once, and the wall
time counts callers that fill one profile at once once."""

from __future__ import annotations

import time

import anyio
import pytest

from llmkit import Pipeline, Profile, node
from llmkit.core import stats
from llmkit.core.stats import NodeStats


def test_busy_time_counts_overlapping_calls_once():
    s = NodeStats()
    s.record_call(1, 1.0, 0, end=10.0)   # [9, 10]
    s.record_call(1, 1.0, 0, end=10.5)   # [9.5, 10.5]: overlaps by 0.5
    s.record_call(1, 4.0, 0, end=12.0)   # [8, 12]: covers both, ends last
    s.record_call(1, 1.0, 0, end=20.0)   # [19, 20]: apart
    assert s.seconds == 7.0 and s.busy_seconds == pytest.approx(5.0)


def test_busy_time_survives_folding_old_calls(monkeypatch):
    monkeypatch.setattr(stats, "_SAMPLES", 4)
    s = NodeStats()
    for i in range(50):  # back to back, each overlapping the next by half
        s.record_call(1, 1.0, 0, end=i * 0.5 + 1.0)
    assert len(s._spans) <= 8
    assert s.busy_seconds == pytest.approx(25.5)


def test_merged_busy_time_adds_up():
    a, b = NodeStats(), NodeStats()
    a.record_call(1, 2.0, 0, end=5.0)
    b.record_call(1, 3.0, 0, end=5.0)  # another process: its clock is not ours
    a.merge(b)
    assert a.busy_seconds == pytest.approx(5.0)


@node(inline=False)
def nap(x: int) -> int:
    time.sleep(0.05)
    return x


def test_two_callers_filling_one_profile_count_their_wall_time_once():
    p = Pipeline("naps", inputs=["x"]).add("nap", nap, x="x")
    profile = Profile()
    spans: list[tuple[float, float]] = []

    async def one(x: int) -> None:
        started = time.perf_counter()
        await p.arun({"x": x}, profile=profile)
        spans.append((started, time.perf_counter()))

    async def both() -> None:
        await p.arun({"x": 0})  # resources prepared and threads started: both overlap whole
        async with anyio.create_task_group() as tg:
            tg.start_soon(one, 1)
            tg.start_soon(one, 2)

    anyio.run(both)
    union = max(end for _, end in spans) - min(start for start, _ in spans)
    assert 0.05 <= profile.wall_seconds <= union
    assert profile.nodes["nap"].busy_seconds <= profile.wall_seconds
