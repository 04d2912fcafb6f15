"""Prompt control of the stock nodes: generate's system prompt, template and messages;
build_context's layout; aggregate's sources from its wiring."""

from __future__ import annotations

from typing import Any

import pytest

from llmkit.core.pipeline import Pipeline
from llmkit.errors import PipelineError
from llmkit.nodes.generation.nodes import SYSTEM_PROMPT, Aggregate, BuildContext, Generate
from llmkit.spec.load import load_pipeline


class Recorder:
    """A chat model that answers "ok" and keeps the messages it was sent."""

    deterministic = True

    def __init__(self) -> None:
        self.sent: list[Any] = []

    async def agenerate(self, messages: Any, **options: Any) -> str:
        self.sent.append(messages)
        return "ok"

    async def astream(self, messages: Any) -> Any:
        yield "ok"


def test_default_prompt_is_unchanged():
    llm = Recorder()
    Pipeline(inputs=["q"]).add("g", Generate(llm), question="q").run(q="why?")
    assert llm.sent == [[{"role": "system", "content": SYSTEM_PROMPT},
                         {"role": "user", "content": "Context:\n\n\nQuestion: why?"}]]


def test_no_system_prompt_and_a_jinja_template_with_its_own_ports():
    llm = Recorder()
    g = Generate(llm, system_prompt=None,
                 template="{% for t in topics %}{{ t }};{% endfor %} as {{ persona }}")
    assert set(g.inputs) == {"question", "context", "topics", "persona"}
    assert g.defaults == {"question": "", "context": ""}  # unused: optional
    p = Pipeline(inputs=["ts", "who"]).add("g", g, topics="ts", persona="who")
    p.run(ts=["a", "b"], who="me")
    assert llm.sent == [[{"role": "user", "content": "a;b; as me"}]]


def test_messages_with_roles_reproduce_a_given_prompt():
    llm = Recorder()
    g = Generate(llm, messages=[
        {"role": "system", "content": "You are {{ persona }}."},
        {"role": "user", "content": "Example question"},
        {"role": "assistant", "content": "Example answer"},
        {"role": "user", "content": "{question}"}])
    Pipeline(inputs=["q"]).add("g", g, question="q", persona="q").run(q="x")
    assert [m["role"] for m in llm.sent[0]] == ["system", "user", "assistant", "user"]
    assert llm.sent[0][0]["content"] == "You are x." and llm.sent[0][3]["content"] == "x"


@pytest.mark.parametrize(("params", "message"), [
    ({"messages": [{"role": "user", "content": "x"}], "template": "{q}"},
     "messages replaces system_prompt and template"),
    ({"messages": [{"role": "user"}]}, r"messages\[0\] must be"),
    ({"messages": []}, "non-empty list"),
    ({"template": "{q.__class__}"}, "plain templates take only"),
    ({"system_prompt": "{{ ''.__class__ }}"}, "system_prompt line 1: '__class__' is not"),
])
def test_bad_prompt_params_fail_at_construction(params, message):
    with pytest.raises(ValueError, match=message):
        Generate(Recorder(), **params)


HITS = [{"id": "a", "score": 0.9, "text": "Alpha text.", "metadata": {"source": "a.md"}},
        {"id": "b", "score": 0.5, "text": "Beta text.", "metadata": {"source": "b.md"}}]


def test_build_context_template_and_separator():
    node = BuildContext(template="<doc n={{ n }} src={{ source }}>{{ text }}</doc>",
                        separator="\n---\n")
    assert node.run(HITS)["text"] == ("<doc n=1 src=a.md>Alpha text.</doc>\n---\n"
                                      "<doc n=2 src=b.md>Beta text.</doc>")
    assert BuildContext().run(HITS)["text"] == "[1] Alpha text.\n\n[2] Beta text."


def test_build_context_template_counts_in_the_budget():
    node = BuildContext(max_chars=30, template="SOURCE {{ source }}: {{ text }}")
    text = node.run(HITS)["text"]
    assert text == "SOURCE a.md: Alpha text." and len(text) <= 30


def test_build_context_template_names_hit_fields_only():
    with pytest.raises(ValueError, match="unknown variable 'body'"):
        BuildContext(template="{body}")


def test_aggregate_takes_its_sources_from_its_wiring():
    p = Pipeline(inputs=["x", "y"]).add("agg", Aggregate(), skeptic="x", optimist="y")
    assert p.run(x="no", y="yes") == {"text": "## skeptic\nno\n\n## optimist\nyes"}


def test_aggregate_with_sources_still_refuses_other_ports():
    p = Pipeline(inputs=["x"])
    with pytest.raises(PipelineError, match="no input port 'c'"):
        p.add("agg", Aggregate(sources=["a"]), c="x")


def test_aggregate_in_yaml_without_sources(tmp_path):
    path = tmp_path / "agg.yaml"
    path.write_text("llmkit: 1\ninputs: {x: str, y: str}\nnodes:\n  panel:\n"
                    "    type: aggregate\n    inputs: {one: x, two: y}\n"
                    "outputs: {text: panel.text}\n")
    assert load_pipeline(path).run(x="1", y="2") == {"text": "## one\n1\n\n## two\n2"}
