"""`load(dump(p))` is the same pipeline: the same plan and the same node fingerprints (what
cache keys are made of), for every shipped pipeline and for pipelines built in Python from
registered types, `@node` functions and plain functions; what no file can name is refused
with the reason."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from llmkit.core.node import FunctionNode, Node, Retry, node
from llmkit.core.pipeline import Pipeline
from llmkit.errors import PipelineError
from llmkit.spec import catalog, dump_pipeline, load_pipeline
from tests.spec import roundtrip_types as types

REPO = Path(__file__).parents[2]
SHIPPED = sorted((REPO / "pipelines").glob("*.yaml"))


def plan_of(p: Pipeline) -> list[Any]:
    """The compiled plan as plain data: each node's type (a function node's function), its
    wiring, order, defaults, settings and fingerprint; the inputs and outputs."""
    plan = p.validate()
    rows: list[Any] = [plan.name, plan.inputs, plan.outputs]
    for n in plan.nodes:
        kind = n.node.fn if isinstance(n.node, FunctionNode) else type(n.node)
        rows.append((n.index, n.name, kind, n.node.type_name, n.sources, dict(n.defaults),
                     n.successors, n.n_upstream, n.needed, n.guards, n.node.settings,
                     n.node.is_batch(), n.node.fingerprint))
    return rows


@pytest.fixture
def project(tmp_path, monkeypatch):
    """An empty folder that links the project's top-level folders, as the current one."""
    for entry in REPO.iterdir():
        if not entry.name.startswith("."):
            (tmp_path / entry.name).symlink_to(entry)
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.mark.parametrize("path", SHIPPED, ids=lambda path: path.name)
def test_every_shipped_pipeline_loads_back_to_the_same_plan_and_fingerprints(path, project):
    p = load_pipeline(project / "pipelines" / path.name, env={})  # beside its ../docs
    (project / "dumped.yaml").write_text(dump_pipeline(p))
    assert plan_of(load_pipeline(project / "dumped.yaml", env={})) == plan_of(p)


# -- pipelines built in Python -----------------------------------------------------------------
def _prompt(tail: str) -> Node:
    return catalog.lookup("prompt")("{text}" + tail)


#: node makers by kind: each takes a drawn text and gives a node with a `text` input port
MAKERS = {
    "prompt (built in)": _prompt,
    "registered here": lambda s: types.Suffix(s, times=len(s) % 3 + 1),
    "@node": lambda s: types.upper,
    "@node, two outputs": lambda s: types.both,
    "@node, batch": lambda s: types.stripped,
    "node(plain function)": lambda s: node(types.exclaim, outputs="text", version=s or "1"),
    "route": lambda s: catalog.lookup("route")({"long": f"text | length > {len(s)}"},
                                               default="short"),
}
SETTINGS = st.fixed_dictionaries({}, optional={
    "max_batch": st.integers(1, 64), "max_wait_ms": st.sampled_from([0.0, 1.5, 20.0]),
    "concurrency": st.none() | st.integers(1, 8), "timeout": st.none() | st.just(9.0),
    "cache": st.none() | st.booleans(), "inline": st.none() | st.booleans(),
    "retry": st.builds(Retry, attempts=st.integers(1, 4))})


@st.composite
def pipelines(draw: st.DrawFn) -> Pipeline:
    """A DAG of 1 to 6 nodes of any kind, each `text` port fed by the input or an earlier
    node's output."""
    p = Pipeline(draw(st.sampled_from(["default", "mine"])), inputs=["text"])
    sources = ["text"]
    for i in range(draw(st.integers(1, 6))):
        kind = draw(st.sampled_from(sorted(MAKERS)))
        made = MAKERS[kind](draw(st.text("abc?! ", max_size=4)))
        if not isinstance(made, FunctionNode) or kind == "node(plain function)":
            made.configure(**draw(SETTINGS))  # never the module's own @node object
        p.add(f"n{i}", made, text=draw(st.sampled_from(sources)))
        branches = [s for s in sources if s.endswith((".long", ".short"))]
        if branches and draw(st.booleans()):
            p.when(f"n{i}", draw(st.sampled_from(branches)))
        sources += [f"n{i}.{port}" for port in made.outputs]
    if draw(st.booleans()):
        p.outputs(last=sources[-1]) if sources[-1] != "text" else None
    try:
        p.validate()
    except PipelineError:  # a route may skip an output: read the input instead
        p.outputs(last="text")
    return p


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(pipelines())
def test_python_built_pipelines_load_back_to_the_same_plan_and_fingerprints(p):
    text = dump_pipeline(p)
    q = load_pipeline(text, allow_import=True)
    assert plan_of(q) == plan_of(p)
    assert dump_pipeline(q) == text


def test_function_nodes_are_written_as_module_function_and_need_allow_import():
    p = (Pipeline(inputs=["text"]).add("up", types.upper, text="text")
         .add("two", types.both, text="up.text")
         .add("bang", node(types.exclaim, outputs="text"), text="two.reversed"))
    data = yaml.safe_load(dump_pipeline(p))
    assert data["nodes"]["up"] == {"type": "tests.spec.roundtrip_types:upper",
                                   "inputs": {"text": "text"}}
    assert data["nodes"]["two"]["max_batch"] == 7  # the decorator's setting, written
    assert data["nodes"]["bang"]["params"] == {"outputs": "text"}
    with pytest.raises(PipelineError, match=r"roundtrip_types:upper' is a Python import "
                                            r"path.*--allow-import"):
        load_pipeline(dump_pipeline(p))
    assert load_pipeline(dump_pipeline(p), allow_import=True).run(text="ab") == {"text": "BA!"}


def test_a_hand_written_file_naming_a_decorated_function_gets_the_decorators_options():
    q = load_pipeline("llmkit: 1\ninputs: [text]\nnodes:\n  two: {type: 'tests.spec."
                      "roundtrip_types:both', inputs: {text: text}}\n", allow_import=True)
    made = q.nodes["two"]
    assert (made.fingerprint, made.settings, list(made.outputs)) == (
        types.both.fingerprint, types.both.settings, ["text", "reversed"])


def test_a_type_only_user_code_registers_is_written_by_its_import_path():
    p = Pipeline(inputs=["text"]).add("s", types.Suffix("?"), text="text")
    assert catalog.origin("roundtrip_suffix") is None
    assert yaml.safe_load(dump_pipeline(p))["nodes"]["s"]["type"] == \
        "tests.spec.roundtrip_types:Suffix"
    assert load_pipeline(dump_pipeline(p), allow_import=True).nodes["s"].type_name == \
        "roundtrip_suffix"  # the same name in its fingerprint, so the same cache entries


def test_a_loaded_file_keeps_the_type_names_it_was_written_with():
    text = "llmkit: 1\ninputs: [x]\nnodes:\n  s: {type: roundtrip_suffix, inputs: {text: x}}\n"
    assert yaml.safe_load(dump_pipeline(load_pipeline(text)))["nodes"]["s"]["type"] == \
        "roundtrip_suffix"


def _closure() -> Any:
    def inner(text):
        return text

    return inner


def _from_main(text):
    return text


_from_main.__module__ = "__main__"


def _replaced(text):
    return text


_shadowed = _replaced


def _replaced(text):  # the name now holds another function
    return text + "?"


@pytest.mark.parametrize(("fn", "reason"), [
    (lambda text: text, r"<lambda> is a lambda, which a pipeline file cannot name"),
    (_closure(), r"_closure.<locals>.inner is defined inside a function"),
    (_from_main, r"_from_main is defined in __main__ \(the script or notebook being run\), "
                 r"which a pipeline file cannot import: move it into a module"),
    (_shadowed, r"tests.spec.test_roundtrip:_replaced does not name it"),
])
def test_what_no_file_can_name_is_refused_with_the_reason(fn, reason):
    with pytest.raises(PipelineError, match=rf"^node 'f': {reason}"):
        dump_pipeline(Pipeline(inputs=["text"]).add("f", node(fn), text="text"))
