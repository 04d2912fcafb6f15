"""Pipeline construction and validation: each problem has its own error naming node and port."""

import pytest

from llmkit.core.node import node
from llmkit.core.pipeline import Pipeline
from llmkit.errors import (
    CycleError,
    DuplicateNodeError,
    DuplicateSourceError,
    PipelineError,
    UnknownNodeError,
    UnknownPortError,
    UnwiredInputError,
)


@node(outputs="y")
def double(x):
    return 2 * x


@node(outputs="s")
def add(a, b=10):
    return a + b


def test_duplicate_node_name_is_refused():
    p = Pipeline(inputs=["x"]).add("d", double, x="x")
    with pytest.raises(DuplicateNodeError, match="'d'"):
        p.add("d", double, x="x")


@pytest.mark.parametrize("port", [None, "", "a.b", 3])
def test_a_port_name_from_params_that_is_no_name_is_refused_naming_the_node(port):
    from llmkit.nodes.generation.nodes import (
        Aggregate,  # its input ports are the names in `sources`
    )

    with pytest.raises(PipelineError, match=rf"invalid node 'panel' port name {port!r}"):
        Pipeline("p", inputs=["x"]).add("panel", Aggregate(sources=[port]))


def test_unknown_target_port_names_node_and_suggests():
    with pytest.raises(UnknownPortError,
                       match=r"node 'd' has no input port 'xx'.*did you mean 'x'"):
        Pipeline(inputs=["x"]).add("d", double, xx="x")


def test_unknown_source_node_is_named():
    p = Pipeline(inputs=["x"]).add("d", double, x="dbl.y")
    with pytest.raises(UnknownNodeError, match=r"input 'd.x' reads 'dbl.y'.*no node 'dbl'"):
        p.validate()


def test_unknown_source_port_is_named():
    p = Pipeline(inputs=["x"]).add("d", double, x="x").add("e", double, x="d.z")
    with pytest.raises(UnknownPortError, match=r"node 'd' has no output 'z'"):
        p.validate()


def test_bare_source_that_is_not_an_input_suggests_one():
    p = Pipeline(inputs=["question"]).add("d", double, x="questoin")
    with pytest.raises(UnknownNodeError, match="did you mean 'question'"):
        p.validate()


def test_unwired_required_input_is_named_but_defaults_are_optional():
    p = Pipeline(inputs=["x"]).add("s", add, a="x")
    assert p.run(x=1) == {"s": 11}
    p = Pipeline(inputs=["x"]).add("s", add, b="x")
    with pytest.raises(UnwiredInputError, match=r"'s\.a'"):
        p.validate()


def test_two_sources_on_one_port_are_refused():
    p = Pipeline(inputs=["x", "z"]).add("d", double, x="x")
    with pytest.raises(DuplicateSourceError, match=r"'d\.x' is wired twice"):
        p.connect("z", "d.x")


def test_cycle_is_reported_with_its_path():
    p = Pipeline(inputs=["x"]).add("a", add, a="x", b="b.s").add("b", add, a="a.s")
    with pytest.raises(CycleError, match=r"cycle: (a -> b -> a|b -> a -> b)"):
        p.validate()


def test_output_naming_nothing_is_refused():
    p = Pipeline(inputs=["x"]).add("d", double, x="x").outputs(out="d.nope")
    with pytest.raises(UnknownPortError, match="output 'out'"):
        p.validate()


def test_names_with_dots_are_refused():
    with pytest.raises(PipelineError, match="invalid node name"):
        Pipeline(inputs=["x"]).add("a.b", double, x="x")


def test_default_outputs_are_the_sink_ports():
    p = Pipeline(inputs=["x"]).add("d", double, x="x").add("e", double, x="d.y")
    assert p.output_map == {"y": "e.y"}
    assert p.run(x=3) == {"y": 12}


def test_graph_is_a_networkx_digraph_with_ports():
    p = Pipeline(inputs=["x"]).add("d", double, x="x").add("s", add, a="d.y", b="d.y")
    g = p.graph
    assert list(g.edges) == [("d", "s")]
    assert sorted(g.edges["d", "s"]["ports"]) == [("y", "a"), ("y", "b")]


def test_non_node_is_refused():
    with pytest.raises(PipelineError, match="not an llmkit Node"):
        Pipeline(inputs=["x"]).add("d", lambda x: x, x="x")


@pytest.mark.parametrize(("build", "error", "at_fault"), [
    (lambda p: p.add("d", double).validate(), UnwiredInputError, ("d", "x", None)),
    (lambda p: p.add("d", double, x="dd.y").validate(), UnknownNodeError, ("d", "x", None)),
    (lambda p: p.add("d", double, x="x").outputs(out="d.z").validate(), UnknownPortError,
     (None, None, "out")),
    (lambda p: p.add("d", double, x="x").connect("x", "d.x"), DuplicateSourceError,
     ("d", "x", None)),
    (lambda p: p.add("d", double, x="e.s").add("e", add, a="d.y").validate(), CycleError,
     ("d", "x", None)),
    (lambda p: p.add("d", double, x="x").add("d", double), DuplicateNodeError,
     ("d", None, None)),
    (lambda p: p.outputs(**{"no good": "x"}), PipelineError, (None, None, "no good")),
])
def test_errors_name_the_node_port_or_output_at_fault_in_fields(build, error, at_fault):
    with pytest.raises(error) as caught:
        build(Pipeline(inputs=["x"]))
    assert (caught.value.node, caught.value.port, caught.value.output) == at_fault
