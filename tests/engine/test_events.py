"""The events of `astream`: each call's start and finish, with its runs, size and errors."""

import pytest

from llmkit.core.node import node
from llmkit.core.pipeline import Pipeline

from .nodes import AddBatch, SlowAdd, SyncSlowAdd

pytestmark = pytest.mark.anyio


@node(outputs="x", inline=True)
def inline_add(x):
    return x + 1


@node(outputs="x", inline=True)
def inline_fail(x):
    raise ValueError("no")


@pytest.mark.parametrize("made", [AddBatch, SlowAdd, SyncSlowAdd, lambda: inline_add],
                         ids=["batch", "async", "thread", "inline"])
async def test_each_call_reports_its_start_and_finish_with_runs_and_size(made):
    p = Pipeline(inputs=["x"]).add("n", made(), x="x")
    events = [e async for e in p.astream(x=1)]
    calls = [(e.kind, e.node, e.runs, e.size, e.errors) for e in events
             if e.kind in ("node_started", "node_finished")]
    assert calls == [("node_started", "n", (0,), 1, 0), ("node_finished", "n", (0,), 1, 0)]
    assert [e.runs for e in events if e.kind == "run_finished"] == [(0,)]
    assert events[-1].kind == "result"
    assert events[-1].data == {"x": 2}


@pytest.mark.parametrize("made", [lambda: AddBatch(fail_on=1), lambda: inline_fail],
                         ids=["batch", "inline"])
async def test_a_failed_call_reports_its_errors(made):
    p = Pipeline(inputs=["x"]).add("n", made(), x="x")
    events = []
    with pytest.raises(Exception, match="node 'n' failed"):
        async for e in p.astream(x=1):
            events.append(e)
    finished = [e for e in events if e.kind == "node_finished"]
    assert [(e.runs, e.errors) for e in finished] == [((0,), 1)]


async def test_inputs_that_do_not_fit_are_the_result_under_on_error_return_else_raised():
    from llmkit.core.runner import events
    from llmkit.errors import InputError

    plan = Pipeline(inputs=["x"]).add("n", inline_add, x="x").validate()
    events_seen = [e async for e in events(plan, {"y": 1}, on_error="return")]
    assert [e.kind for e in events_seen] == ["run_finished", "result"]
    assert isinstance(events_seen[-1].data, InputError)
    assert "missing input 'x'" in str(events_seen[-1].data)
    with pytest.raises(InputError, match="missing input 'x'"):
        [e async for e in events(plan, {"y": 1})]
