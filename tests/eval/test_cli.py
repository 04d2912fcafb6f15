"""`llmkit eval` through the real command: the table, the files it writes (only where told,
atomically), and one-line errors with exit code 2 for bad input."""

import json
import os

import pytest

from tests.cli.conftest import PIPELINES as FIXTURES
from tests.cli.conftest import assert_one_line_error

from .fakes import PIPELINES

DATASET = "\n".join(json.dumps(q) for q in [
    {"id": "v", "question": "Why are stratovolcano eruptions explosive?",
     "sources": ["volcanoes.md"], "answers": ["gas"]},
    {"id": "b", "question": "How do bees communicate where flowers are?",
     "sources": ["bees.md"], "answers": ["waggle dance"]},
]) + "\n"


@pytest.fixture
def workspace(tmp_path):
    """A docs folder, its index and a dataset, and the environment the pipelines read."""
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "volcanoes.md").write_text(
        "# Volcanoes\n\nStratovolcano eruptions are explosive because their viscous magma "
        "traps gas until the pressure is released at once.\n")
    (docs / "bees.md").write_text(
        "# Bees\n\nHoney bees tell each other where flowers are with the waggle dance: its "
        "angle gives the direction and its length the distance.\n")
    (tmp_path / "qa.jsonl").write_text(DATASET)
    return {"LLMKIT_DOCS": str(docs), "LLMKIT_INDEX": str(tmp_path / "index")}


def test_two_pipelines_side_by_side_with_a_report_and_a_chart(llmkit, workspace, tmp_path):
    (tmp_path / "out").mkdir()
    result = llmkit("eval", PIPELINES / "rag.yaml", PIPELINES / "hybrid.yaml", "--dataset",
                    "qa.jsonl", "--json", "out/report.json", "--chart", "chart.svg",
                    env=workspace)
    assert result.code == 0, result.err
    lines = result.out.splitlines()
    assert lines[0] == "qa.jsonl: 2 questions, k=4, window=1"
    assert lines[1].startswith("| pipeline | hit@4 |")
    assert [line.split("|")[1].strip() for line in lines[3:5]] == ["rag", "hybrid"]
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert [p["name"] for p in report["pipelines"]] == ["rag", "hybrid"]
    assert report["pipelines"][0]["summary"]["hit"] == 1.0
    assert (tmp_path / "chart.svg").read_text().startswith("<svg ")
    assert not [f for f in os.listdir(tmp_path) if f.endswith(".llmkit-tmp")]


def test_limit_and_k(llmkit, workspace):
    result = llmkit("eval", PIPELINES / "rag.yaml", "--dataset", "qa.jsonl", "--limit", "1",
                    "--k", "1", env=workspace)
    assert result.code == 0, result.err
    assert result.out.splitlines()[0] == "qa.jsonl: 1 questions, k=1, window=1"
    assert "| hit@1 |" in result.out


@pytest.mark.parametrize(("args", "fragments"), [
    (["--dataset", "missing.jsonl"], ["missing.jsonl"]),
    (["--dataset", "bad.jsonl"], ["bad.jsonl:2: not valid JSON"]),
    (["--dataset", "qa.jsonl", "--retrieved", "hits"],
     ["rag.yaml: no output 'hits' (for --retrieved); its outputs: answer, sources"]),
    (["--dataset", "qa.jsonl", "--chart", "chart.png"], ["name it something.svg"]),
    (["--dataset", "qa.jsonl", "--json", "qa.jsonl"],
     ["--json qa.jsonl is the input file qa.jsonl", "choose another file"]),
    (["--dataset", "qa.jsonl", "--json", "same.svg", "--chart", "same.svg"],
     ["name the same file"]),
    (["--dataset", "qa.jsonl", "--judge", "hashing"], ["a chat resource type"]),
])
def test_bad_input_is_one_line_and_exit_2(llmkit, workspace, tmp_path, args, fragments):
    (tmp_path / "bad.jsonl").write_text('{"question": "ok?"}\n{oops\n')
    before = (tmp_path / "qa.jsonl").read_text()
    assert_one_line_error(llmkit("eval", PIPELINES / "rag.yaml", *args, env=workspace),
                          *fragments)
    assert (tmp_path / "qa.jsonl").read_text() == before


def test_a_bad_pipeline_is_one_line_and_exit_2(llmkit, workspace, tmp_path):
    (tmp_path / "broken.yaml").write_text("llmkit: 1\nnodes: {a: {type: nope}}\n")
    assert_one_line_error(llmkit("eval", "broken.yaml", "--dataset", "qa.jsonl",
                                 env=workspace), "broken.yaml:2", "unknown node type 'nope'")


def test_a_pipeline_that_is_not_there(llmkit, workspace):
    assert_one_line_error(llmkit("eval", "nope.yaml", "--dataset", "qa.jsonl", env=workspace),
                          "nope.yaml")


def test_an_existing_report_is_replaced_only_when_named(llmkit, workspace, tmp_path):
    (tmp_path / "report.json").write_text("old")
    result = llmkit("eval", PIPELINES / "rag.yaml", "--dataset", "qa.jsonl", "--json",
                    "report.json", env=workspace)
    assert result.code == 0, result.err
    assert json.loads((tmp_path / "report.json").read_text())["questions"] == 2
    assert sorted(os.listdir(tmp_path)) == ["docs", "index", "qa.jsonl", "report.json"]


def test_the_judge_from_the_command_line(llmkit, workspace, fake_server):
    fake_server.control.config(replies={"Candidate answer": "YES"})
    result = llmkit("eval", PIPELINES / "rag.yaml", "--dataset", "qa.jsonl", "--judge",
                    fake_server.url + "/v1", "--judge-model", "grader", env=workspace)
    assert result.code == 0, result.err
    assert "judge*" in result.out
    assert result.out.rstrip().endswith(f"by grader at {fake_server.url}/v1")
    assert fake_server.control.stats()["requests"]["/v1/chat/completions"] == 2


def test_failed_runs_exit_1_with_the_table(llmkit, workspace, tmp_path):
    (tmp_path / "fails.yaml").write_text(
        "llmkit: 1\nname: fails\ninputs: {question: str}\nnodes:\n"
        "  p: {type: prompt, params: {template: '{{ question }} {{ missing.x }}'}, "
        "inputs: {question: question, missing: question}}\noutputs: {answer: p.text}\n")
    result = llmkit("eval", "fails.yaml", "--dataset", "qa.jsonl", env=workspace)
    assert result.code == 1, result
    assert "| fails " in result.out and "2 runs failed" in result.err


def test_a_pipeline_with_nothing_to_score_is_refused(llmkit, workspace):
    assert_one_line_error(llmkit("eval", PIPELINES / "ingest.yaml", "--dataset", "qa.jsonl",
                                 env=workspace),
                          "ingest.yaml: neither a 'sources' nor an 'answer' output to score",
                          "its outputs: report")



def test_secrets_stay_out_of_the_report(llmkit, workspace, tmp_path):
    (tmp_path / "boom.jsonl").write_text('{"question": "boom", "answers": ["x"]}\n')
    result = llmkit("eval", FIXTURES / "fail.yaml", "--dataset", "boom.jsonl", "--answer", "y",
                    "--json", "report.json", "--allow-import",
                    env={**workspace, "FAIL_API_KEY": "sk-do-not-print"})
    assert result.code == 1, result
    error = json.loads((tmp_path / "report.json").read_text())["pipelines"][0]["questions"][0]
    assert error["error"] == "node 'check': ValueError: cannot take 'boom' (key ***)"
    assert "sk-do-not-print" not in result.out + result.err
