"""Mistakes made while writing a pipeline in Python get one clear line saying the fix."""

from __future__ import annotations

import pytest

from llmkit.core.node import node
from llmkit.core.pipeline import Pipeline
from llmkit.errors import InputError, PipelineError


@node(outputs="answer")
def echo(question: str) -> str:
    return question


def test_a_run_given_a_string_says_to_pass_a_mapping_or_keywords():
    p = Pipeline(inputs=["question"]).add("echo", echo, question="question")
    with pytest.raises(InputError, match=r"run\(\) takes the run's inputs as a mapping, not a "
                                         r"str: write p\.run\(\{'question': \.\.\.\}\) or "
                                         r"p\.run\(question=\.\.\.\)"):
        p.run("a")
    assert p.run({"question": "a"}) == p.run(question="a") == {"answer": "a"}


@pytest.mark.anyio
@pytest.mark.parametrize("method", ["arun", "astream"])
async def test_the_async_forms_say_so_too(method):
    p = Pipeline(inputs=["question"]).add("echo", echo, question="question")
    with pytest.raises(InputError, match=rf"{method}\(\) takes the run's inputs as a mapping"):
        if method == "arun":
            await p.arun(["a"])
        else:
            [e async for e in p.astream(["a"])]


def test_a_plain_function_given_as_a_node_suggests_the_decorator():
    def shout(text):
        return text.upper()

    with pytest.raises(PipelineError, match=r"node 'shout' is a function, not an llmkit Node: "
                                            r"decorate shout with @node \(from llmkit import "
                                            r"node\)"):
        Pipeline(inputs=["text"]).add("shout", shout)


def test_a_node_class_given_as_a_node_suggests_an_instance():
    from llmkit.core.node import Node

    class Shout(Node):
        def run(self, text):
            return {"text": text.upper()}

    with pytest.raises(PipelineError, match=r"pass an instance, Shout\(\.\.\.\)"):
        Pipeline().add("shout", Shout)


def test_a_pipeline_without_nodes_is_invalid():
    with pytest.raises(PipelineError, match="the pipeline has no nodes: add at least one"):
        Pipeline(inputs=["x"]).validate()
