"""The `on_event=` hook of run, arun, run_many, arun_many and iter_many: the caller's
callback gets its runs' events; one that raises fails its own call only."""

from __future__ import annotations

import asyncio

import pytest

from llmkit.core.node import Node
from llmkit.core.pipeline import Pipeline


class Double(Node):
    inputs = {"x": int}
    outputs = {"x": int}

    async def run(self, x: int) -> dict:
        return {"x": 2 * x}


def pipeline() -> Pipeline:
    return (Pipeline("double", inputs=["x"]).add("a", Double(), x="x")
            .add("b", Double(), x="a.x").outputs(x="b.x"))


def kinds(events: list) -> list[tuple]:
    return [(e.kind, e.node) for e in events if e.kind != "token"]


def test_run_reports_each_node_then_the_run():
    events = []
    assert pipeline().run(x=1, on_event=events.append) == {"x": 4}
    assert kinds(events) == [("node_started", "a"), ("node_finished", "a"),
                             ("node_started", "b"), ("node_finished", "b"),
                             ("run_finished", None)]
    assert events[4].data == {"x": 4}
    assert events[1].seconds > 0 and events[1].runs == (0,)


def test_arun_reports_too():
    events = []
    assert asyncio.run(pipeline().arun(x=1, on_event=events.append)) == {"x": 4}
    assert ("run_finished", None) in kinds(events)


@pytest.mark.parametrize("call", ["run_many", "iter_many", "arun_many"])
def test_many_runs_report_every_run(call):
    p, events = pipeline(), []
    inputs = [{"x": x} for x in range(5)]
    if call == "arun_many":
        results = asyncio.run(p.arun_many(inputs, on_event=events.append))
    else:
        results = list(getattr(p, call)(inputs, on_event=events.append))
    assert results == [{"x": 4 * x} for x in range(5)]
    finished = sorted(e.runs[0] for e in events if e.kind == "run_finished")
    assert finished == list(range(5))
    assert sum(e.size for e in events if e.kind == "node_finished") == 10


def test_a_callback_that_raises_fails_its_run_and_the_pipeline_serves_on():
    p = pipeline()

    def broken(event) -> None:
        if event.kind == "node_finished":
            raise RuntimeError("the callback broke")

    with pytest.raises(RuntimeError, match="the callback broke"):
        p.run(x=1, on_event=broken)
    assert p.run(x=2) == {"x": 8}
