"""`llmkit run`: one run from -i, or a JSONL stream with one complete line per finished run."""

import json

import pytest

from tests.cli.conftest import PIPELINES


def records(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines()]


def test_single_run_prints_each_output(llmkit):
    result = llmkit("run", PIPELINES / "greet.yaml", "-i", "name=Ann", "--no-cache")
    assert (result.code, result.out, result.err) == (0, "greeting: Hello, Ann!!!\n", "")


def test_single_run_as_json_converts_numpy_values(llmkit):
    result = llmkit("run", PIPELINES / "vector.yaml", "-i", "x=abcd", "--json",
                    "--allow-import", "--no-cache")
    assert result.code == 0, result.err
    outputs = json.loads(result.out)
    assert outputs["vector"] == [4.0, 4.0, 4.0]  # a float32 array, as a list
    assert outputs["norm"] == pytest.approx(6.9282, abs=1e-3)  # a numpy float32, as a number


def test_readable_output_shows_arrays_compactly(llmkit):
    result = llmkit("run", PIPELINES / "vector.yaml", "-i", "x=ab", "--allow-import",
                    "--no-cache")
    assert result.out.splitlines()[0] == "vector: float32[3] [2, 2, 2]"


def test_json_input_values(llmkit):
    result = llmkit("run", PIPELINES / "list_inputs.yaml", "-i", 'x:=[1, "a"]', "--json",
                    "--no-cache")
    assert json.loads(result.out) == {"text": "[1, 'a']"}


def test_failed_run_exits_1_naming_node_and_cause_without_the_secret(llmkit):
    result = llmkit("run", PIPELINES / "fail.yaml", "-i", "x=boom", "--allow-import",
                    "--no-cache", env={"FAIL_API_KEY": "sk-do-not-print"})
    assert result.code == 1
    assert result.err == ("llmkit: error: node 'check' failed: ValueError: cannot take 'boom' "
                          "(key ***)\n")


def test_concurrency_overrides_every_node(llmkit):  # knobs.yaml sets concurrency: 3
    result = llmkit("run", PIPELINES / "knobs.yaml", "-i", "x=1", "--json", "--allow-import",
                    "--no-cache", "--concurrency", "7")
    assert json.loads(result.out) == {"concurrency": 7}


def test_jsonl_run_reports_a_malformed_line_and_processes_the_others(llmkit, tmp_path):
    (tmp_path / "in.jsonl").write_text(
        '{"x": "a"}\n{"x": oops}\n\n{"x": "boom"}\n[1]\n{"x": "d"}\n')
    result = llmkit("run", PIPELINES / "fail.yaml", "--input-file", "in.jsonl", "--output",
                    "out.jsonl", "--allow-import", "--no-cache",
                    env={"FAIL_API_KEY": "sk-do-not-print"})
    assert result.code == 1
    assert result.out == ""
    assert "in.jsonl:2: not valid JSON" in result.err
    assert "in.jsonl:5: expected a JSON object, not list" in result.err
    assert "sk-do-not-print" not in result.err
    got = {r["index"]: r for r in records((tmp_path / "out.jsonl").read_text())}
    assert got == {
        0: {"index": 0, "y": "a"},
        1: {"index": 1, "error": got[1]["error"], "node": None},
        2: {"index": 2, "error": "ValueError: cannot take 'boom' (key ***)", "node": "check"},
        3: {"index": 3, "error": "line 5: expected a JSON object, not list", "node": None},
        4: {"index": 4, "y": "d"},
    }
    assert got[1]["error"].startswith("line 2: not valid JSON:")


def test_jsonl_from_stdin_to_stdout_in_order(llmkit):
    lines = "".join(json.dumps({"x": i}) + "\n" for i in range(30))
    result = llmkit("run", PIPELINES / "slow.yaml", "--input-file", "-", "--ordered",
                    "--allow-import", "--no-cache", stdin=lines, env={"SLOW_DELAY": "0"})
    assert result.code == 0, result.err
    assert records(result.out) == [{"index": i, "y": i} for i in range(30)]


def test_missing_input_in_a_line_is_an_error_record_and_a_warning_naming_the_line(llmkit):
    result = llmkit("run", PIPELINES / "greet.yaml", "--input-file", "-", "--no-cache",
                    stdin='{"name": "a"}\n\n{"nme": "x"}\n')
    assert result.code == 1
    problem = "missing input 'name'; unknown input 'nme' (the pipeline takes: name)"
    assert sorted(records(result.out), key=lambda r: r["index"]) == [
        {"index": 0, "greeting": "Hello, a!!!"},
        {"index": 1, "node": None, "error": f"line 3: {problem}"}]
    assert result.err.splitlines() == [f"llmkit: warning: <stdin>:3: {problem}",
                                       "llmkit: 1 run failed (see the error records in the "
                                       "output)"]


def test_cache_hits_on_a_rerun_and_profile_shows_them(llmkit, tmp_path):
    (tmp_path / "in.jsonl").write_text("".join(json.dumps({"x": i}) + "\n" for i in range(5)))
    args = ("run", PIPELINES / "slow.yaml", "--input-file", "in.jsonl", "--allow-import",
            "--cache", tmp_path / "c.db", "--profile")
    first, second = llmkit(*args), llmkit(*args)
    assert first.code == second.code == 0
    assert sorted(records(second.out), key=lambda r: r["index"]) == [
        {"index": i, "y": i} for i in range(5)]
    header, _, row = second.err.splitlines()[:3]
    assert header.split()[:5] == ["node", "calls", "items", "batch", "hits"]
    assert row.split()[0] == "slow"
    assert row.split()[4] == "5"  # every item a cache hit
