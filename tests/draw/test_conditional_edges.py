"""A route's branches and the `when:` guards on them are drawn dashed, labelled with the
branch, in every format; other edges stay solid."""

from __future__ import annotations

from llmkit.core.node import node
from llmkit.core.pipeline import Pipeline
from llmkit.nodes.control.nodes import Coalesce, Route


@node(outputs="y")
def plus_one(x: int) -> int:
    return x + 1


def routed() -> Pipeline:
    return (Pipeline(inputs=["x"])
            .add("route", Route({"odd": "x % 2 == 1"}, default="even"), x="x")
            .add("a", plus_one, x="route.odd")
            .add("b", plus_one, x="x").when("b", "route.even")
            .add("join", Coalesce(), a="a.y", b="b.y")
            .outputs(y="join.value"))


def test_mermaid_draws_branches_and_guards_dashed_with_the_branch_name():
    text = routed().draw(format="mermaid")
    assert 'node_route -.->|"odd → x"| node_a' in text
    assert 'node_route -.->|"even"| node_b' in text
    assert 'input_x -->|"x"| node_route' in text
    assert text.count("-.->") == 2


def test_dot_and_svg_draw_them_dashed():
    text = routed().draw(format="dot")
    assert '"node:route" -> "node:b" [label="even", style=dashed];' in text
    assert text.count("style=dashed") == 2
    assert routed().draw(format="svg").count("stroke-dasharray") == 2
