"""`llmkit graph --format|-o` and `llmkit run --profile-out`, in process: pictures that parse,
a missing extra named in one line before anything runs, files replaced only where named."""

from __future__ import annotations

import io
import json

import pytest

from llmkit.cli import main
from tests.cli.conftest import Result, assert_one_line_error
from tests.draw.conftest import REPO, box_texts, texts
from tests.extras import require

RAG = str(REPO / "pipelines" / "rag.yaml")
NODES = ["embed", "search", "context", "generate"]


@pytest.fixture
def llmkit(rag, tmp_path, monkeypatch, capsysbinary):
    """`llmkit(*args)` runs the command here (in a scratch folder) and returns a Result."""
    monkeypatch.chdir(tmp_path)

    def run(*args: str) -> Result:
        code = main(list(args))
        out, err = capsysbinary.readouterr()
        return Result(code, out.decode(errors="replace"), err.decode())

    return run


def test_graph_prints_svg_naming_every_node(llmkit):
    result = llmkit("graph", RAG, "--format", "svg")
    assert result.code == 0, result
    assert set(NODES) <= set(texts(result.out))


def test_graph_writes_the_format_its_output_suffix_names(llmkit, tmp_path):
    pil = require("PIL.Image", "draw")
    (tmp_path / "rag.png").write_bytes(b"an old picture")
    assert llmkit("graph", RAG, "-o", "rag.png") == Result(0, "", "")
    data = (tmp_path / "rag.png").read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    with pil.open(io.BytesIO(data)) as image:
        assert image.size[0] > 0 and image.size[1] > 0
    assert llmkit("graph", RAG, "-o", "rag.html").code == 0
    assert "<svg" in (tmp_path / "rag.html").read_text()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rag.html", "rag.png"]


def test_png_without_the_extra_is_one_line_naming_it(llmkit, no_pillow, tmp_path):
    result = llmkit("graph", RAG, "--format", "png", "-o", "rag.png")
    assert_one_line_error(result, "pip install 'llmkit[draw]'")
    assert not (tmp_path / "rag.png").exists()


def test_an_unknown_suffix_is_one_line_naming_the_choices(llmkit):
    assert_one_line_error(llmkit("graph", RAG, "-o", "rag.txt"), "rag.txt", ".svg, .png")


def test_profile_out_draws_each_nodes_figures(llmkit, tmp_path):
    (tmp_path / "in.jsonl").write_text("".join(
        json.dumps({"question": f"How are node results cached? {i}"}) + "\n"
        for i in range(6)))
    result = llmkit("run", RAG, "--input-file", "in.jsonl", "-o", "out.jsonl",
                    "--cache", "memory://", "--profile-out", "run.svg")
    assert result.code == 0, result
    assert result.err == "llmkit: the run's picture is in run.svg\n"
    boxes = box_texts((tmp_path / "run.svg").read_text())
    for name in NODES:
        shown = boxes[f"node:{name}"]
        assert "1 call · batch 6.0" in shown, shown
        assert "cache hits 0%" in shown
        assert any(t.startswith("p50 ") and " · p95 " in t for t in shown)
        assert any(t.endswith("% of wall time") for t in shown)
    assert sum(t == "bottleneck" for shown in boxes.values() for t in shown) == 1


def test_profile_out_is_checked_before_the_run(llmkit, no_pillow, tmp_path):
    for out, message in [("run.png", "pip install 'llmkit[draw]'"),
                         ("run.dot", ".svg, .png or .html"),
                         ("missing/run.svg", "no folder")]:
        result = llmkit("run", RAG, "-i", "question=q", "--profile-out", out)
        assert_one_line_error(result, message)
        assert result.out == ""  # nothing ran
    assert list(tmp_path.iterdir()) == []  # not even the default cache
