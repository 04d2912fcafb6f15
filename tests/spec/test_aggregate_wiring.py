"""The ports of an aggregate (a coalesce, a route) are the names it is wired with, and wiring
is the pipeline's: asking whether a port may be wired, or checking a wire's type, changes
nothing on the node."""

import numpy as np
import pytest

from llmkit.core.node import node
from llmkit.core.pipeline import Pipeline
from llmkit.errors import PipelineError, PortTypeError
from llmkit.nodes.control.nodes import Coalesce, Route
from llmkit.nodes.generation.nodes import Aggregate


def test_asking_about_a_port_does_not_add_it():
    agg = Aggregate()
    assert agg.accepts_input("skeptic") and not agg.accepts_input("not a name")
    assert dict(agg.inputs) == {}
    assert not Aggregate(sources=["a"]).accepts_input("b")


def test_one_aggregate_serves_two_pipelines_with_their_own_ports():
    agg = Aggregate()
    first = Pipeline(inputs=["x", "y"]).add("agg", agg, a="x", b="y")
    second = Pipeline(inputs=["x"]).add("agg", agg, c="x")
    assert second.run(x="3") == {"text": "## c\n3"}
    assert first.run(x="1", y="2") == {"text": "## a\n1\n\n## b\n2"}


def test_a_refused_wire_leaves_no_port_behind():
    p = Pipeline(inputs=["x"]).add("agg", Aggregate(), a="x")
    with pytest.raises(PipelineError, match="must be a string"):
        p.connect(3, "agg.b")  # type: ignore[arg-type]
    assert p.run(x="1") == {"text": "## a\n1"}


def test_a_wired_port_is_still_typed_str():
    def vector() -> np.ndarray:
        return np.zeros(2)

    def text() -> str:
        return "t"

    p = Pipeline().add("t", node(text)).add("agg", Aggregate(), a="t.output")
    assert p.run() == {"text": "## a\nt"}
    p = Pipeline().add("v", node(vector)).add("agg", Aggregate(), a="v.output")
    with pytest.raises(PortTypeError, match=r"agg\.a"):
        p.validate()


def test_sources_fix_the_order():
    p = Pipeline(inputs=["x", "y"]).add("agg", Aggregate(sources=["b", "a"]), a="x", b="y")
    assert p.run(x="1", y="2") == {"text": "## b\n2\n\n## a\n1"}


def test_one_coalesce_and_one_route_serve_two_pipelines_with_their_own_ports():
    join, route = Coalesce(), Route({"big": "x > 5"}, default="small")
    first = (Pipeline(inputs=["x", "y"]).add("route", route, x="x", y="y")
             .add("join", join, a="route.big", b="route.small").outputs(v="join.value"))
    second = (Pipeline(inputs=["x"]).add("route", route, x="x")
              .add("join", join, c="route.small", d="route.big").outputs(v="join.value"))
    assert second.run(x=1) == {"v": 1}  # one input: the branch carries it alone
    assert first.run(x=9, y=0) == {"v": {"x": 9, "y": 0}}
    assert (dict(join.inputs), list(route.inputs)) == ({}, ["x"])
