"""`run_finished` is the last event of a run before `result`: every node's `node_finished`
comes before it, on asyncio and trio, for every kind of call."""

import pytest

from llmkit.core.node import node
from llmkit.core.pipeline import Pipeline

from .nodes import AddBatch, SlowAdd, SyncSlowAdd

pytestmark = pytest.mark.anyio


@node(outputs="x", inline=True)
def inline_add(x):
    return x + 1


KINDS = [AddBatch, SlowAdd, SyncSlowAdd, lambda: inline_add]
IDS = ["batch", "async", "thread", "inline"]


def chain(made):
    return Pipeline(inputs=["x"]).add("a", made(), x="x").add("b", made(), x="a.x")


def assert_finished_last(kinds):
    assert kinds[-2:] == ["run_finished", "result"], kinds
    assert kinds.count("node_finished") == 2


@pytest.mark.parametrize("made", KINDS, ids=IDS)
async def test_astream_ends_with_run_finished_then_result(made):
    assert_finished_last([e.kind async for e in chain(made).astream(x=1)])


@pytest.mark.parametrize("made", KINDS, ids=IDS)
async def test_on_event_sees_run_finished_after_the_last_node_finished(made):
    seen = []
    await chain(made).arun({"x": 1}, on_event=lambda e: seen.append(e.kind))
    assert_finished_last([*seen, "result"])


@pytest.mark.parametrize("made", KINDS, ids=IDS)
async def test_run_many_tells_each_run_finished_after_its_last_node_finished(made):
    events = []
    await chain(made).arun_many([{"x": i} for i in range(6)], on_event=events.append)
    for run in range(6):
        kinds = [e.kind for e in events if run in e.runs and e.kind != "node_started"]
        assert kinds == ["node_finished", "node_finished", "run_finished"], (run, kinds)
