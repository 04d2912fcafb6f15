"""The built-in `prompt` node: ports from placeholders, a template compiled once."""

import string

import pytest

from llmkit.core.pipeline import Pipeline
from llmkit.nodes.generation.nodes import Prompt
from llmkit.spec.catalog import lookup


def test_prompt_is_registered_and_inline():
    assert lookup("prompt") is Prompt
    assert Prompt("x").settings.inline is True


def test_ports_are_the_placeholder_names_in_order():
    p = Prompt("{question} about {context.title} and {items[0]} then {question!r:>10}")
    assert list(p.inputs) == ["question", "context", "items"]
    assert list(p.outputs) == ["text"]


def test_fills_like_str_format():
    template = "Q: {q!r:>6} | {d[k]} | {{literal}} | {n:.2f}"
    values = {"q": "hi", "d": {"k": 1}, "n": 3.14159}
    assert Prompt(template).run(**values) == {"text": template.format(**values)}


def test_template_is_parsed_once_at_construction(monkeypatch):
    node = Prompt("Hello, {name}!")
    calls = []
    monkeypatch.setattr(string.Formatter, "parse",
                        lambda self, s: calls.append(s) or iter(()))
    assert [node.run(name=n)["text"] for n in ("a", "b")] == ["Hello, a!", "Hello, b!"]
    assert calls == []


@pytest.mark.parametrize(("template", "message"), [
    ("{}", "must start with a name"),
    ("{0}", "must start with a name"),
    ("{a:{b}}", "nested placeholders"),
    ("{a", "expected '}'"),
])
def test_bad_templates_fail_at_construction(template, message):
    with pytest.raises(ValueError, match=message):
        Prompt(template)


def test_runs_in_a_pipeline():
    p = Pipeline(inputs=["who"]).add("p", Prompt("Hi {who}"), who="who")
    assert p.run_many([{"who": "a"}, {"who": "b"}]) == [{"text": "Hi a"}, {"text": "Hi b"}]
