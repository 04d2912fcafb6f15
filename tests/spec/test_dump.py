"""Writing pipelines back: round trips for files, Python-built pipelines and every registered
node type; secrets never in clear; `$` escaped; what YAML cannot express is refused."""

from pathlib import Path
from typing import Any

import pytest
import yaml

from llmkit.core.node import Retry, node
from llmkit.core.pipeline import Pipeline
from llmkit.errors import PipelineError
from llmkit.spec import catalog, dump_pipeline, load_pipeline
from llmkit.spec.format import parameters
from llmkit.spec.resources import resource, spec_of
from tests.fixtures.nodes import Fail, Lookup, Table

REPO = Path(__file__).parents[2]
FILES = sorted([*(REPO / "tests" / "fixtures" / "pipelines").glob("*.yaml"),
                *(REPO / "pipelines").glob("*.yaml")])

#: Values for constructor params that have no default, by registered type. A type whose
#: required params are missing here is skipped (with the reason shown by `pytest -rs`).
REQUIRED_PARAMS: dict[str, dict[str, Any]] = {
    "prompt": {"template": "Question: {question}\nContext: {context}"},
    "search": {"index": resource("corpus", name="index", path=None)},
    "keyword_search": {"index": resource("corpus", name="index", path=None)},
    "ingest": {"index": resource("corpus", name="index", path=None)},
    "web_search": {"client": resource("searx", name="web", base_url="http://127.0.0.1:9")},
    "route": {"routes": {"long": "text | length > 3"}, "default": "short"},
    "rerank": {"reranker": resource("lexical_reranker", name="reranker")},
    "agent": {"llm": resource("openai_chat", name="llm", model="m",
                              base_url="http://127.0.0.1:9/v1")},
    "dask_test_logged": {"log": "computed.log"},  # tests/dask/nodes.py, when collected
}


def _plain(value: Any) -> Any:
    """Params compared across a round trip: tuples are lists in YAML, resources by spec."""
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    spec = spec_of(value)
    return ("resource", spec.type, _plain(dict(spec.params))) if spec else value


def assert_equivalent(p: Pipeline, q: Pipeline) -> None:
    assert (q.name, q.description, q.inputs) == (p.name, p.description, p.inputs)
    assert list(q.nodes) == list(p.nodes)
    for name, a in p.nodes.items():
        b = q.nodes[name]
        assert (type(b), b.type_name) == (type(a), a.type_name)
        assert _plain(b.params) == _plain(a.params), name
        assert b.settings == a.settings, name
    assert q.wiring == p.wiring
    assert q.output_map == p.output_map


@pytest.mark.parametrize("path", FILES, ids=lambda path: path.name)
def test_a_written_file_dumps_to_the_same_data_and_reloads_equivalent(path):
    p = load_pipeline(path, allow_import=True, env={})
    beside = dump_pipeline(p, base=path.parent)  # for a file in its folder (paths as written)
    assert yaml.safe_load(beside) == yaml.safe_load(path.read_text())
    assert_equivalent(p, load_pipeline(dump_pipeline(p), allow_import=True, env={}))


def _registered() -> list[str]:
    return list(catalog.available())


@pytest.mark.parametrize("type_name", _registered())
def test_every_registered_node_type_round_trips(type_name):
    cls = catalog.available()[type_name]
    params = REQUIRED_PARAMS.get(type_name, {})
    known = parameters(cls)
    missing = [p.name for p in (known[0] if known else [])
               if p.default is p.empty and p.name not in params]
    if missing:
        pytest.fail(f"{type_name} needs {missing}: add test values to REQUIRED_PARAMS")
    made = cls(**params).configure(max_batch=7, max_wait_ms=1.5, concurrency=3, timeout=9,
                                   inline=True, retry=Retry(attempts=3, backoff=0.5),
                                   cache=True, cache_ttl=60)
    ports = list(made.inputs)
    p = Pipeline(name=f"{type_name}-trip", inputs=ports, description="one node").add("n", made)
    for port in ports:
        p.connect(port, f"n.{port}")
    if made.partial_outputs:  # a route: each branch is skipped in some runs, never an output
        p.outputs(**{port: port for port in ports})
    text = dump_pipeline(p)
    # a type only test code registers is written by its import path, which loads back
    written = type_name if catalog.origin(type_name) else f"{cls.__module__}:{cls.__qualname__}"
    assert f"type: {written}" in text
    assert_equivalent(p, load_pipeline(text, allow_import=True))


def test_python_built_pipeline_writes_what_a_person_would():
    p = Pipeline(inputs={"question": str}).add(
        "ask", catalog.lookup("prompt")("Q: {question}").configure(max_batch=8),
        question="question")
    assert yaml.safe_load(dump_pipeline(p)) == {
        "llmkit": 1,
        "inputs": {"question": "str"},
        "nodes": {"ask": {"type": "prompt", "params": {"template": "Q: {question}"},
                          "inputs": {"question": "question"}, "max_batch": 8}},
    }  # no outputs: the default (every output of the sink nodes) needs none


def test_multiline_text_is_written_as_a_block():
    p = Pipeline(inputs=["a"]).add("t", catalog.lookup("prompt")("line {a}\nline 2\n"), a="a")
    assert "template: |\n" in dump_pipeline(p)


def test_resources_built_in_python_are_declared_and_referred_to():
    table = resource("tests.fixtures.nodes:Table", name="countries", allow_import=True,
                     rows={"paris": "France"})
    other = resource("tests.fixtures.nodes:Table", name="countries", allow_import=True)
    p = (Pipeline(inputs=["k"])
         .add("one", Lookup(table), key="k")
         .add("two", Lookup(other, default="?"), key="k"))
    data = yaml.safe_load(dump_pipeline(p))
    assert data["resources"] == {
        "countries": {"type": "tests.fixtures.nodes:Table", "rows": {"paris": "France"}},
        "countries_2": {"type": "tests.fixtures.nodes:Table"}}
    assert data["nodes"]["one"]["params"] == {"table": "$countries"}
    assert data["nodes"]["two"]["params"] == {"table": "$countries_2", "default": "?"}
    q = load_pipeline(dump_pipeline(p), allow_import=True)
    assert_equivalent(p, q)
    assert q.run(k="paris") == {"one.value": "France", "two.value": "?"}


def test_secrets_are_written_as_their_reference_or_hidden():
    text = """\
llmkit: 1
inputs: [x]
nodes:
  from_env: {type: "tests.fixtures.nodes:Fail", params: {api_key: "${FAIL_API_KEY}"},
             inputs: {x: x}}
  literal: {type: "tests.fixtures.nodes:Fail", params: {api_key: sk-literal-key}, inputs: {x: x}}
"""
    p = load_pipeline(text, allow_import=True, env={"FAIL_API_KEY": "sk-from-environment"})
    out = dump_pipeline(p)
    assert "sk-from-environment" not in out
    assert "sk-literal-key" not in out
    nodes = yaml.safe_load(out)["nodes"]
    assert nodes["from_env"]["params"]["api_key"] == "${FAIL_API_KEY}"
    assert nodes["literal"]["params"]["api_key"] == "***"
    python_built = Pipeline(inputs=["x"]).add("f", Fail(api_key="sk-python"), x="x")
    assert "sk-python" not in dump_pipeline(python_built)
    assert "sk-python" not in repr(python_built.nodes["f"])


@pytest.mark.parametrize("text", ["${HOME}", "$$", "$name", "cost $5", "a $ b", "${", "$"])
def test_dollar_signs_survive_a_round_trip(text):
    p = Pipeline(inputs=["x"]).add("f", Fail(bad=text), x="x")
    loaded = load_pipeline(dump_pipeline(p), allow_import=True, env={})
    assert loaded.nodes["f"].params["bad"] == text


def test_default_name_and_outputs_are_not_written_when_the_file_had_none():
    text = (REPO / "tests" / "fixtures" / "pipelines" / "list_inputs.yaml").read_text()
    data = yaml.safe_load(dump_pipeline(load_pipeline(text)))
    assert "name" not in data
    assert "outputs" not in data
    assert data["inputs"] == ["x"]


def test_changed_outputs_of_a_loaded_pipeline_are_written():
    text = (REPO / "tests" / "fixtures" / "pipelines" / "list_inputs.yaml").read_text()
    p = load_pipeline(text).outputs(echoed="echo.text")
    assert yaml.safe_load(dump_pipeline(p))["outputs"] == {"echoed": "echo.text"}


def test_what_yaml_cannot_express_is_refused():
    @node(outputs="y")
    def double(x):
        return 2 * x

    with pytest.raises(PipelineError, match=r"node 'd': test_what_yaml_cannot_express_is_refu"
                                            r"sed.<locals>.double is defined inside a function"):
        dump_pipeline(Pipeline(inputs=["x"]).add("d", double, x="x"))
    with pytest.raises(PipelineError, match=r"nodes\.l\.params\.table: a Table has no YAML "
                                            r"form; build it with llmkit.spec.resource"):
        dump_pipeline(Pipeline(inputs=["k"]).add("l", Lookup(Table()), key="k"))

    with pytest.raises(PipelineError, match=r"retry\.on lists exception classes"):
        dump_pipeline(Pipeline(inputs=["x"]).add(
            "c", Fail().configure(retry=Retry(on=(KeyError,))), x="x"))
