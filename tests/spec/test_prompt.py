"""Prompt templates: plain `{name}` fields or sandboxed Jinja2, compiled once, ports from
the template's variables, escapes refused when the template is built."""

import jinja2
import pytest

from llmkit.core.pipeline import Pipeline
from llmkit.errors import PipelineError
from llmkit.nodes.generation.nodes import Prompt
from llmkit.nodes.generation.prompt import compile_template
from llmkit.spec.catalog import lookup
from llmkit.spec.load import load_pipeline


def test_prompt_is_registered_and_inline():
    assert lookup("prompt") is Prompt
    assert Prompt("x").settings.inline is True


def test_plain_ports_are_the_field_names_in_order():
    p = Prompt("{question} about {context}, again {question}")
    assert list(p.inputs) == ["question", "context"]
    assert p.run(question="q", context=1) == {"text": "q about 1, again q"}


def test_jinja_ports_loops_and_conditionals():
    p = Prompt("{% for d in docs %}- {{ d }}\n{% endfor %}{% if strict %}Only these.{% endif %}"
               " Q: {{ question | upper }}")
    assert set(p.inputs) == {"docs", "strict", "question"}
    assert p.run(docs=["a", "b"], strict=True, question="why")["text"] == \
        "- a\n- b\nOnly these. Q: WHY"
    assert p.run(docs=[], strict=False, question="x")["text"] == " Q: X"


@pytest.mark.parametrize("template", [
    "{q.__class__}", "{q.__class__.__mro__}", "{q[0]}", "{q!r}", "{q:>8}", "{}", "{0}",
])
def test_plain_templates_cannot_reach_attributes(template):
    with pytest.raises(ValueError, match="plain templates take only"):
        Prompt(template)


@pytest.mark.parametrize("template", [
    "{{ q.__class__.__mro__ }}", "{{ ''.__class__ }}", "{{ q['__globals__'] }}",
    "{% for c in q.__class__.__subclasses__() %}{{ c }}{% endfor %}",
])
def test_jinja_escapes_are_refused_when_built(template):
    with pytest.raises(ValueError, match="not allowed: templates cannot read private"):
        Prompt(template)


def test_the_sandbox_refuses_what_the_build_check_cannot_see():
    p = Prompt("{{ q|attr(name) }}")  # the attribute's name arrives at run time
    with pytest.raises(jinja2.exceptions.SecurityError):
        p.run(q="x", name="__class__")


def test_the_template_is_compiled_once(monkeypatch):
    node = Prompt("Hello, {{ name }}!")
    monkeypatch.setattr(jinja2.Environment, "parse", lambda *a, **k: pytest.fail("parsed"))
    assert [node.run(name=n)["text"] for n in ("a", "b")] == ["Hello, a!", "Hello, b!"]


@pytest.mark.parametrize(("template", "message"), [
    ("{a", "expected '}'"),
    ("line one\n{% if x %}never closed", "template line 2: Unexpected end of template"),
    ("{{ a b }}", "template line 1: expected token"),
])
def test_bad_templates_fail_at_construction(template, message):
    with pytest.raises(ValueError, match=message):
        compile_template(template)


@pytest.mark.parametrize(("template", "expected"), [
    ("{% if q %}open", ["template line 1: Unexpected end of template"]),
    ("{{ q }} in {context}", ["{context} would be printed as is", "{{ context }}"]),  # old
])
def test_a_template_error_is_one_line_at_its_node_in_the_file(tmp_path, template, expected):
    path = tmp_path / "f.yaml"
    path.write_text("llmkit: 1\ninputs: {q: str}\nnodes:\n  p:\n    type: prompt\n"
                    f"    params: {{template: \"{template}\"}}\n    inputs: {{q: q}}\n")
    with pytest.raises(PipelineError) as caught:
        load_pipeline(path)
    message = str(caught.value)
    assert message.startswith(f"{path}:4:") and "\n" not in message
    assert all(part in message for part in expected)


def test_an_undefined_variable_is_an_unwired_port_at_validation():
    p = Pipeline(inputs=["q"]).add("p", Prompt("{{ q }} and {{ missing }}"), q="q")
    with pytest.raises(PipelineError, match="missing"):
        p.validate()


def test_runs_in_a_pipeline():
    p = Pipeline(inputs=["who"]).add("p", Prompt("Hi {who}"), who="who")
    assert p.run_many([{"who": "a"}, {"who": "b"}]) == [{"text": "Hi a"}, {"text": "Hi b"}]


@pytest.mark.parametrize(("template", "field", "fix"), [
    ("Answer {{ question }} from {context}", "{context}", "{{ context }}"),
    ("line one\n{% if q %}yes{% endif %}\nthen { name }", "{ name }", "{{ name }}"),
])
def test_a_format_field_left_as_text_in_jinja_is_refused_with_the_fix(template, field, fix):
    # `{{` was str.format's literal brace: the old template now reads as Jinja2, where the
    # `{name}` fields would be printed as they are
    with pytest.raises(ValueError) as caught:
        compile_template(template)
    message = str(caught.value)
    line = template[:template.index(field)].count("\n") + 1
    assert message.startswith(f"template line {line}: {field} would be printed as is")
    assert fix in message and "{% raw %}" in message and "\n" not in message


@pytest.mark.parametrize("template", [
    'Reply as JSON: {{"answer": "{answer}"}}', "Empty {{}} braces for {q}",
])
def test_double_braces_around_no_expression_name_the_old_meaning(template):
    with pytest.raises(ValueError, match=r"if this was a str.format template: \{\{ now starts "
                                         r"Jinja2, not a literal brace; write \{name\} as"):
        compile_template(template)


@pytest.mark.parametrize("template", [
    "{{ q }} and {% raw %}{kept}{% endraw %}", '{{ q }} as {"json": 1} or {1}', "{{ q }}",
    "{{name}} and {{ other }}",
])
def test_jinja_templates_without_text_fields_still_build(template):
    assert compile_template(template).names


def test_a_bad_jinja_template_that_no_format_template_could_be_has_no_hint():
    with pytest.raises(ValueError) as caught:
        compile_template("{{ question }")
    assert "str.format" not in str(caught.value)
