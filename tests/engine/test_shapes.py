"""One table of graph shapes, each run through the same test on both anyio backends."""

import pytest

from llmkit.core.node import node
from llmkit.core.pipeline import Pipeline


@node(outputs="v")
def inc(v):
    return v + 1


@node(outputs="v")
def total(a, b=0, c=0):
    return a + b + c


def linear():
    p = Pipeline(inputs=["v"]).add("a", inc, v="v").add("b", inc, v="a.v").add("c", inc, v="b.v")
    return p.outputs(out="c.v"), lambda v: v + 3


def fan_out():
    p = Pipeline(inputs=["v"]).add("a", inc, v="v").add("b", inc, v="a.v").add("c", inc, v="a.v")
    return p.outputs(b="b.v", c="c.v"), lambda v: {"b": v + 2, "c": v + 2}


def fan_in():
    p = (Pipeline(inputs=["v"]).add("a", inc, v="v").add("b", inc, v="v")
         .add("t", total, a="a.v", b="b.v"))
    return p.outputs(out="t.v"), lambda v: 2 * v + 2


def diamond():
    p = (Pipeline(inputs=["v"]).add("a", inc, v="v").add("b", inc, v="a.v")
         .add("c", inc, v="a.v").add("t", total, a="b.v", b="c.v", c="a.v"))
    return p.outputs(out="t.v"), lambda v: 3 * v + 5


def wide():
    p = Pipeline(inputs=["v"])
    for i in range(12):
        p.add(f"n{i}", inc, v="v")
    return p.outputs(**{f"o{i}": f"n{i}.v" for i in range(12)}), (
        lambda v: {f"o{i}": v + 1 for i in range(12)})


SHAPES = {"linear": linear, "fan_out": fan_out, "fan_in": fan_in, "diamond": diamond,
          "wide": wide}


@pytest.mark.anyio
@pytest.mark.parametrize("shape", SHAPES)
async def test_shape_gives_the_expected_outputs(shape):
    pipeline, expect = SHAPES[shape]()
    results = await pipeline.arun_many([{"v": v} for v in range(50)])
    expected = [expect(v) for v in range(50)]
    expected = [e if isinstance(e, dict) else {"out": e} for e in expected]
    assert results == expected
