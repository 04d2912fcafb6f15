"""Routes: a run takes one branch; the nodes only other branches reach are skipped for it,
count as never arriving (no batch waits for them), and are neither called nor looked up."""

from __future__ import annotations

from typing import Any

import anyio
import pytest

from llmkit.cache import MemoryCache
from llmkit.core.node import Node, node
from llmkit.core.pipeline import Pipeline
from llmkit.errors import NodeError, PipelineError
from llmkit.nodes.control.nodes import Coalesce, Route


class Batch(Node):
    """A batchable node that records its calls' sizes and doubles `x`."""

    inputs = {"x": int}
    outputs = {"y": int}
    cache = False  # its `calls` param changes: so would its fingerprint

    def __init__(self, calls: list[int], fail_on: int | None = None) -> None:
        self.calls, self.fail_on = calls, fail_on

    async def run_batch(self, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        self.calls.append(len(items))
        if any(item["x"] == self.fail_on for item in items):
            raise ValueError("refused")
        return [{"y": 2 * item["x"]} for item in items]


@node(outputs="y", inline=True)
def plus_one(x: int) -> int:
    return x + 1


def fallback_pipeline(web: Node) -> Pipeline:
    """`odd` runs go to `web` (guarded); every run's answer joins both branches."""
    return (Pipeline(inputs=["x"])
            .add("route", Route({"odd": "x % 2 == 1"}, default="even"), x="x")
            .add("web", web, x="x").when("web", "route.odd")
            .add("local", plus_one, x="route.even")
            .add("join", Coalesce(), a="web.y", b="local.y")
            .outputs(y="join.value"))


@pytest.mark.anyio
async def test_each_run_takes_its_branch_and_skipped_nodes_are_never_called(anyio_backend):
    calls: list[int] = []
    results = await fallback_pipeline(Batch(calls)).arun_many([{"x": x} for x in range(10)])
    assert results == [{"y": 2 * x if x % 2 else x + 1} for x in range(10)]
    assert sum(calls) == 5  # the five odd runs only


@pytest.mark.anyio
async def test_skipped_runs_never_hold_a_batch(anyio_backend):
    """With a 60 s wait, the batch of the taken runs goes at once: the skipped runs count as
    never arriving."""
    calls: list[int] = []
    web = Batch(calls).configure(max_wait_ms=60_000, max_batch=100)
    with anyio.fail_after(10):
        results = await fallback_pipeline(web).arun_many([{"x": x} for x in range(20)])
    assert calls == [10]
    assert results[1] == {"y": 2}


@pytest.mark.anyio
async def test_no_branch_and_no_default_fails_that_run_naming_types_not_values(anyio_backend):
    p = (Pipeline(inputs=["x"]).add("route", Route({"odd": "x % 2 == 1"}), x="x")
         .add("web", Batch([]), x="route.odd").outputs(y="web.y"))
    results = await p.arun_many([{"x": 1}, {"x": 123456}], on_error="return")
    assert results[0] == {"y": 2}
    error = results[1]
    assert isinstance(error, NodeError) and error.node == "route"
    assert "no route matched" in str(error) and "x: int" in str(error)
    assert "123456" not in str(error)


@pytest.mark.anyio
async def test_a_failing_branch_fails_only_its_run(anyio_backend):
    results = await fallback_pipeline(Batch([], fail_on=3)).arun_many(
        [{"x": x} for x in range(6)], on_error="return")
    assert [isinstance(r, NodeError) for r in results] == [False, False, False, True, False,
                                                            False]
    assert results[3].node == "web"


@pytest.mark.anyio
async def test_events_tell_skipped_nodes_and_no_call_of_them(anyio_backend):
    events = []
    await fallback_pipeline(Batch([])).arun({"x": 2}, on_event=events.append)
    skipped = {e.node for e in events if e.kind == "node_skipped"}
    called = {e.node for e in events if e.kind == "node_started"}
    assert skipped == {"web"}
    assert [e.size for e in events if e.kind == "node_skipped"] == [1]
    assert called == {"route", "local", "join"}


class Count(Node):
    """Cached: counts calls; `hits` is optional (None when its source is skipped)."""

    inputs = {"x": int, "hits": Any}
    outputs = {"text": str}
    defaults = {"hits": None}

    calls: list[int]  # set after construction: a param would change the fingerprint

    def run(self, x: int, hits: Any = "unset") -> dict[str, Any]:
        self.calls.append(x)
        return {"text": f"{x}:{hits}"}


def counting(calls: list[int]) -> Count:
    made = Count()
    made.calls = calls
    return made


@pytest.mark.anyio
async def test_an_input_with_a_default_is_optional_and_cached_without_it(anyio_backend):
    calls: list[int] = []
    p = (Pipeline(inputs=["x"])
         .add("route", Route({"odd": "x % 2 == 1"}, default="even"), x="x")
         .add("web", Batch([]), x="route.odd")
         .add("answer", counting(calls), x="x", hits="web.y")
         .outputs(text="answer.text"))
    store = MemoryCache()
    first = await p.arun_many([{"x": x} for x in range(4)], cache=store)
    assert first == [{"text": "0:None"}, {"text": "1:2"}, {"text": "2:None"}, {"text": "3:6"}]
    again = await p.arun_many([{"x": x} for x in range(4)], cache=store)
    assert again == first and sorted(calls) == [0, 1, 2, 3]  # the second time: all hits


@pytest.mark.anyio
async def test_coalesce_takes_the_first_branch_in_wiring_order(anyio_backend):
    p = (Pipeline(inputs=["x"])
         .add("route", Route({"big": "x > 5", "odd": "x % 2 == 1"}, default="other"), x="x")
         .add("a", plus_one, x="route.big")
         .add("b", plus_one, x="route.odd")
         .add("first", Coalesce(), b="b.y", a="a.y", c="route.other", x="x")
         .outputs(v="first.value"))
    assert [r["v"] for r in await p.arun_many([{"x": x} for x in (1, 2, 7)])] == [2, 2, 8]


def test_a_join_whose_inputs_are_all_skipped_is_skipped():
    p = (Pipeline(inputs=["x"])
         .add("route", Route({"odd": "x % 2 == 1"}, default="even"), x="x")
         .add("a", plus_one, x="route.odd")
         .add("join", Coalesce(), a="a.y")
         .add("answer", counting([]), x="x", hits="join.value")
         .outputs(text="answer.text"))
    assert p.run(x=2) == {"text": "2:None"}
    assert p.run(x=3) == {"text": "3:4"}


def test_a_guard_must_name_a_route_branch():
    p = Pipeline(inputs=["x"]).add("a", plus_one, x="x").add("b", plus_one, x="x")
    p.when("b", "a.y")
    with pytest.raises(PipelineError, match="not a route's branch"):
        p.validate()
    with pytest.raises(PipelineError, match="no node 'c'"):
        p.when("c", "a.y")


def test_validate_names_an_output_a_route_may_skip_and_the_choice():
    p = (Pipeline(inputs=["x"])
         .add("r1", Route({"a": "x > 1"}, default="b"), x="x")
         .add("r2", Route({"c": "x > 2"}, default="d"), x="x")
         .add("n", plus_one, x="r1.a").when("n", "r2.d")
         .outputs(y="n.y"))
    with pytest.raises(PipelineError) as info:
        p.validate()
    assert info.value.output == "y"
    assert "skipped when r1=a, r2=c" in str(info.value)


def test_validate_falls_back_to_a_coarser_check_beyond_the_cap(monkeypatch):
    from llmkit.core import routes

    p = fallback_pipeline(Batch([]))
    p.validate()  # exact: the join always has a branch
    monkeypatch.setattr(routes, "MAX_COMBINATIONS", 2)
    p._plan = None
    p.validate()  # two combinations, at the cap: still exact
    monkeypatch.setattr(routes, "MAX_COMBINATIONS", 1)
    p._plan = None
    with pytest.raises(PipelineError, match="too many to check"):
        p.validate()
    ok = Pipeline(inputs=["x"]).add("route", Route({"odd": "x % 2 == 1"}, default="even"),
                                    x="x").add("n", plus_one, x="x").outputs(y="n.y")
    ok.validate()


def test_a_route_condition_is_checked_when_it_is_built():
    with pytest.raises(ValueError, match="route 'odd'"):
        Route({"odd": "x %% 2"})
    with pytest.raises(ValueError, match="also a route"):
        Route({"odd": "x"}, default="odd")
    assert list(Route({"a": "hits and hits[0].score > q"}).inputs) == ["hits", "q"]


def test_a_condition_runs_in_the_sandbox():
    p = (Pipeline(inputs=["x"]).add("route", Route({"a": "x.__class__"}, default="b"), x="x")
         .add("n", plus_one, x="x").outputs(y="n.y"))
    with pytest.raises(NodeError, match="route 'a': the condition failed: SecurityError"):
        p.run(x=1)
