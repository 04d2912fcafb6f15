"""Routes in pipeline files: `route`/`coalesce` params, `when:`, the errors located at their
line, and a dump that loads back the same."""

from __future__ import annotations

import pytest

from llmkit import dump_pipeline, load_pipeline
from llmkit.errors import PipelineError

FILE = """\
llmkit: 1
inputs: [question]
nodes:
  route:
    type: route
    params:
      routes: {long: "question | length > 10"}
      default: short
    inputs: {question: question}
  shout:
    type: prompt
    params: {template: "{q}!"}
    inputs: {q: route.long}
  keep:
    type: prompt
    params: {template: "{q}."}
    inputs: {q: question}
    when: WHEN
  join:
    type: coalesce
    inputs: {a: shout.text, b: keep.text}
outputs:
  answer: OUTPUT
"""


def pipeline(when: str = "route.short", output: str = "join.value") -> str:
    return FILE.replace("WHEN", when).replace("OUTPUT", output)


def test_a_file_routes_each_run_and_dumps_back_the_same():
    p = load_pipeline(pipeline())
    assert p.run(question="hi") == {"answer": "hi."}
    assert p.run(question="a longer question") == {"answer": "a longer question!"}
    text = dump_pipeline(p)
    assert "when: route.short" in text
    again = load_pipeline(text)
    assert again.guards == {"keep": ["route.short"]}
    assert dump_pipeline(again) == text


def test_when_takes_a_list_of_branches():
    p = load_pipeline(pipeline(when="[route.short]"))
    assert p.guards == {"keep": ["route.short"]}


@pytest.mark.parametrize(("when", "output", "line", "message"), [
    ("route.shrt", "join.value", 18, "node 'keep' (when:) reads 'route.shrt', but node "
                                     "'route' has no output 'shrt' (did you mean 'short'?)"),
    ("shout.text", "join.value", 18, "when: 'shout.text' is not a route's branch"),
    ("{a: 1}", "join.value", 18, "expected a branch ('route.branch') or a list of them"),
    ("route.short", "shout.text", 23, "output 'answer' reads 'shout.text', which is "
                                      "skipped when route=short"),
])
def test_mistakes_are_one_line_at_their_place(when, output, line, message):
    with pytest.raises(PipelineError) as info:
        load_pipeline(pipeline(when, output))
    assert str(info.value).startswith(f"<string>:{line}:")
    assert message in str(info.value)


def test_a_condition_that_does_not_parse_is_refused_at_its_node():
    text = pipeline().replace("question | length > 10", "question >")
    with pytest.raises(PipelineError, match=r"^<string>:4:3: node 'route' \(route\): cannot "
                                            r"build it: ValueError: route 'long': "):
        load_pipeline(text)
