"""The shipped pipelines, run offline through the real `llmkit` command."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from . import labelled

ROOT = Path(__file__).resolve().parents[2]


def llmkit(*args, env=None, cwd=ROOT):
    full_env = {**os.environ, **(env or {})}
    done = subprocess.run([sys.executable, "-m", "llmkit", *map(str, args)], cwd=cwd,
                          env=full_env, capture_output=True, text=True, timeout=120)
    return done.returncode, done.stdout, done.stderr


@pytest.fixture
def docs(tmp_path):
    folder = tmp_path / "docs"
    folder.mkdir()
    labelled.write(folder)
    return folder


def run_json(pipeline, question, docs, index):
    code, out, err = llmkit("run", ROOT / "pipelines" / pipeline, "-i", f"question={question}",
                            "--json", "--no-cache",
                            env={"LLMKIT_DOCS": str(docs), "LLMKIT_INDEX": str(index)})
    assert code == 0, err
    return json.loads(out)


@pytest.mark.parametrize("pipeline", ["rag.yaml", "hybrid.yaml"])
def test_question_answering_pipelines_cite_the_right_document(pipeline, docs, tmp_path):
    result = run_json(pipeline, "Why are stratovolcano eruptions explosive?", docs,
                      tmp_path / "index")
    assert "gas" in result["answer"] and "[1]" in result["answer"]
    assert result["sources"][0]["source"] == "volcanoes.md"


def test_the_quickstart_answers_from_the_projects_own_docs(tmp_path):
    code, out, err = llmkit("run", "pipelines/rag.yaml", "-i",
                            "question=How does llmkit cache node results?", "--json",
                            "--no-cache", env={"LLMKIT_INDEX": str(tmp_path / "index")})
    assert code == 0, err
    result = json.loads(out)
    cited = {int(n) for n in re.findall(r"\[(\d+)\]", result["answer"])}
    assert cited and cited <= {s["n"] for s in result["sources"]}  # cites what it lists
    assert all(s["source"].endswith(".md") for s in result["sources"])


def test_ingest_pipeline_and_command_agree_and_are_incremental(docs, tmp_path):
    code, out, err = llmkit("run", "pipelines/ingest.yaml", "-i", f"path={docs}", "--json",
                            "--no-cache", env={"LLMKIT_INDEX": str(tmp_path / "index")})
    assert code == 0, err
    report = json.loads(out)["report"]
    assert len(report["added"]) == len(labelled.DOCUMENTS)
    code, out, err = llmkit("ingest", docs, "--index", tmp_path / "index")
    assert code == 0, err
    assert f"{len(labelled.DOCUMENTS)} unchanged files" in out


def test_the_index_refreshes_when_a_source_file_changes(docs, tmp_path):
    index = tmp_path / "index"
    run_json("rag.yaml", "What are moraines?", docs, index)
    (docs / "new.md").write_text("Zebras have black and white stripes that confuse flies.")
    result = run_json("rag.yaml", "Why do zebras have stripes?", docs, index)
    assert result["sources"][0]["source"] == "new.md"


def test_binary_and_undecodable_files_are_skipped_not_fatal(docs, tmp_path):
    (docs / "image.txt").write_bytes(bytes(range(256)) * 4)
    (docs / "latin1.md").write_bytes("caf\xe9 cr\xe8me".encode("latin-1"))
    code, out, err = llmkit("ingest", docs, "--index", tmp_path / "index")
    assert code == 0, err
    assert err.startswith("llmkit: warning: skipped 2 files: 1 binary (image.txt: ") and (
        "1 not UTF-8 (latin1.md: " in err) and err.count("\n") == 1
    assert f"{len(labelled.DOCUMENTS)} added" in out


@pytest.mark.parametrize("question", ["", "x" * 5000, "    "])
def test_odd_questions_get_a_sensible_answer(question, docs, tmp_path):
    result = run_json("rag.yaml", question, docs, tmp_path / "index")
    assert isinstance(result["answer"], str) and result["answer"]


def test_a_missing_source_folder_is_one_clear_line(tmp_path):
    code, _, err = llmkit("run", "pipelines/rag.yaml", "-i", "question=hi", "--no-cache",
                            env={"LLMKIT_DOCS": str(tmp_path / "nope"),
                                 "LLMKIT_INDEX": str(tmp_path / "index")})
    assert code == 2
    assert err.count("\n") == 1 and "nope" in err and "Traceback" not in err


def test_an_empty_folder_is_an_empty_index_and_a_warning(tmp_path):
    (tmp_path / "empty").mkdir()
    code, _, err = llmkit("ingest", tmp_path / "empty", "--index", tmp_path / "index")
    assert code == 0 and "warning: no documents found" in err and "Traceback" not in err


def test_a_corrupt_index_without_a_source_is_one_line_naming_the_way_out(docs, tmp_path):
    index = tmp_path / "index"
    assert llmkit("ingest", docs, "--index", index)[0] == 0
    (index / "vectors" / "vectors.npy").write_bytes(b"garbage")
    code, _, err = llmkit("run", "pipelines/ingest.yaml", "-i", f"path={docs}", "--no-cache",
                          env={"LLMKIT_INDEX": str(index)})
    assert code == 2 and err.count("\n") == 1 and "Traceback" not in err
    assert "corrupt" in err and f"llmkit ingest SOURCE --index {index} --rebuild" in err
    assert llmkit("ingest", docs, "--index", index)[0] == 0  # the way out works


def test_a_corrupt_index_with_a_source_is_rebuilt(docs, tmp_path):
    index = tmp_path / "index"
    run_json("rag.yaml", "What are moraines?", docs, index)
    (index / "manifest.msgpack").write_bytes(b"\xc1garbage")
    result = run_json("rag.yaml", "What are moraines?", docs, index)
    assert result["sources"][0]["source"] == "glaciers.md"
