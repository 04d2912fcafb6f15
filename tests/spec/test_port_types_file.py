"""Port types in pipeline files: the library's nodes declare theirs, a wire whose types do not
fit is refused at `file:line`, and `llmkit nodes` shows them."""

from __future__ import annotations

from pathlib import Path

import pytest

from llmkit.errors import PipelineError, PortTypeError
from llmkit.spec import load_pipeline

BAD = """\
llmkit: 1
name: bad
inputs:
  question: str
resources:
  embedder: {type: hashing, dim: 64}
  llm: {type: extractive}
nodes:
  embed: {type: embed, params: {embedder: $embedder}, inputs: {text: question}}
  generate:
    type: generate
    params: {llm: $llm}
    inputs: {question: embed.vector, context: question}
"""


def test_an_array_wired_into_a_text_port_is_refused_at_its_line():
    with pytest.raises(PortTypeError, match=r"^<string>:13:\d+: embed\.vector \(ndarray\) → "
                                            r"generate\.question \(str\): the types do not fit"):
        load_pipeline(BAD)


def test_a_typed_input_wired_into_an_array_port_is_refused():
    text = BAD.replace("inputs: {question: embed.vector,", "inputs: {question: question,")
    text = text.replace("inputs: {text: question}}", "inputs: {text: question}}\n"
                        "  search: {type: search, params: {index: $ix}, inputs: {vector: "
                        "question}}").replace("resources:\n", "resources:\n  ix: {type: "
                                              "corpus, path: ix, source: docs, embedder: "
                                              "$embedder}\n")
    with pytest.raises(PortTypeError, match=r"^<string>:\d+:\d+: question \(str\) → "
                                            r"search\.vector \(ndarray\)"):
        load_pipeline(text)


def test_no_nodes_is_refused_at_the_nodes_key():
    with pytest.raises(PipelineError, match=r"^<string>:3:1: the pipeline has no nodes"):
        load_pipeline("llmkit: 1\nname: empty\nnodes: {}\n")


SHIPPED = sorted((Path(__file__).parents[2] / "pipelines").glob("*.yaml"))


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_every_shipped_pipeline_wires_types_that_fit(path):
    assert load_pipeline(path).validate().nodes


def test_the_library_declares_the_types_of_its_ports():
    from llmkit.nodes.protocols import Hits
    from llmkit.spec.catalog import lookup

    declared = {name: (lookup(name).inputs, lookup(name).outputs)
                for name in ("embed", "search", "build_context", "generate", "rerank", "fuse")}
    assert declared["embed"][1]["vector"].__name__ == "ndarray"
    assert declared["generate"][0]["question"] is str
    assert declared["search"][1]["hits"] is Hits and declared["fuse"][0]["a"] is Hits
    assert declared["build_context"][0]["hits"] is Hits
    assert declared["build_context"][1] == {"text": str, "sources": list}
    assert declared["rerank"][0] == {"query": str, "hits": Hits}


def test_llmkit_nodes_shows_port_types():
    from llmkit.cli.render import node_types

    listing = node_types()
    assert "  inputs:  vector: ndarray, filter: dict = None\n  outputs: hits: Hits\n" in listing
    assert "  inputs:  question: str, context: str = ''\n" in listing
    # aggregate's ports are the names it is wired with: the listing says so, not "none"
    assert "  inputs:  any name (one port per source wired in)\n" in listing
