"""The runner scores each question of a set, and the report and chart show the pipelines
side by side."""

import json
import xml.etree.ElementTree as ET

import pytest

from llmkit.cache.stores.memory import MemoryCache
from llmkit.core.node import Node
from llmkit.core.pipeline import Pipeline
from llmkit.errors import InputError
from llmkit.eval import Example, evaluate
from llmkit.eval.chart import svg
from llmkit.eval.report import report, table

from .fakes import scripted

EXAMPLES = [
    Example("1", "Where is caching?", ("cache.md",), ("per node",)),
    Example("2", "What bounds memory?", ("performance.md",), ("runs in flight",)),
    Example("3", "boom?", ("cache.md",), ("anything",)),
    Example("4", "Unlabelled?"),
]


def test_each_question_is_scored_and_a_failed_run_scores_zero():
    result = evaluate(scripted(), EXAMPLES, k=4)
    first, second, failed, unlabelled = result.outcomes
    assert first.retrieved == [["docs/intro.md"], ["docs/cache.md", "c#1"]]
    assert first.scores == {"hit": 1.0, "recall": 1.0, "mrr": 0.5,
                            "ndcg": pytest.approx(1 / 1.5849625), "exact": 0.0,
                            "contains": 1.0, "f1": pytest.approx(2 * 0.4 / 1.4)}
    assert second.scores["hit"] == 0.0 and second.scores["contains"] == 0.0
    assert "no answer for boom" in failed.error and failed.scores["hit"] == 0.0
    assert unlabelled.scores == {} and unlabelled.error is None
    assert result.mean("hit") == pytest.approx(1 / 3)  # over the three labelled questions
    assert result.errors == 1
    assert all(o.seconds > 0 for o in result.outcomes)
    assert result.profile.nodes["answer"].items == 4  # the runs went through the scheduler


def test_k_cuts_the_ranking():
    assert evaluate(scripted(), EXAMPLES[:1], k=1).outcomes[0].scores["hit"] == 0.0


def test_a_missing_output_skips_its_metrics():
    result = evaluate(scripted(), EXAMPLES[:1], retrieved="nope")
    assert set(result.outcomes[0].scores) == {"exact", "contains", "f1"}
    assert result.mean("hit") is None


class TwoInputs(Node):
    inputs = {"question": str, "user": str}
    outputs = {"answer": str}

    def run(self, question, user):
        return {"answer": question}


def test_a_pipeline_with_more_inputs_than_the_question_is_refused():
    p = Pipeline("two", inputs=["question", "user"]).add("a", TwoInputs(), question="question",
                                                          user="user").outputs(answer="a.answer")
    with pytest.raises(InputError, match="takes inputs question, user"):
        evaluate(p, EXAMPLES)


def test_the_table_puts_pipelines_side_by_side_and_marks_missing_figures():
    results = [evaluate(scripted("one"), EXAMPLES, k=2),
               evaluate(scripted("two"), EXAMPLES[:1], k=2, retrieved=None)]
    text = table(results)
    head, _, one, two = text.splitlines()
    assert head.split("|")[1:-1] == [
        " pipeline ", " hit@2 ", " recall@2 ", "   MRR ", " nDCG@2 ", " exact ", " contains ",
        "    F1 ", " p50 ms ", " p95 ms ", " calls ", " errors "]
    assert one.startswith("| one ") and one.rstrip(" |").endswith("1")  # one failed run
    assert two.split("|")[2].strip() == "-"  # no retrieval figures: not a zero
    assert len({len(line) for line in text.splitlines()}) == 1  # aligned


def test_the_json_report_holds_every_question():
    results = [evaluate(scripted(), EXAMPLES)]
    data = json.loads(json.dumps(report(results, dataset="qa.jsonl", window=1)))
    assert data["questions"] == 4 and data["k"] == 4
    questions = data["pipelines"][0]["questions"]
    assert [q["id"] for q in questions] == ["1", "2", "3", "4"]
    assert questions[2]["error"].startswith("node 'answer': ValueError")
    assert data["pipelines"][0]["summary"]["errors"] == 1


def test_the_chart_is_svg_with_a_bar_per_pipeline_and_metric():
    results = [evaluate(scripted("one"), EXAMPLES), evaluate(scripted("t<wo>"), EXAMPLES)]
    root = ET.fromstring(svg(results))
    titles = [t.text for t in root.iter("{http://www.w3.org/2000/svg}title")]
    assert len(titles) == 2 * 7  # 4 retrieval + 3 answer metrics
    assert "t<wo> hit@4: 0.333" in titles


def test_tokens_show_when_the_backends_report_them():
    result = evaluate(scripted(), EXAMPLES[:1])
    assert "tokens" not in table([result])
    result.profile.node("answer").prompt_tokens = 7
    result.profile.node("answer").completion_tokens = 3
    head, _, row = table([result]).splitlines()
    assert head.split("|")[-3].strip() == "tokens" and row.split("|")[-3].strip() == "10"


def test_cache_hits_come_from_the_profile():
    cache = MemoryCache()
    first = evaluate(scripted(), EXAMPLES[:2], cache=cache)
    again = evaluate(scripted(), EXAMPLES[:2], cache=cache)
    assert "cache hits" not in table([first])
    head, _, row = table([again]).splitlines()
    assert head.split("|")[-3].strip() == "cache hits" and row.split("|")[-3].strip() == "2"
