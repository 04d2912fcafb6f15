"""Pipelines to draw: the offline RAG file (its index in a scratch folder) and one built in
Python from `@node` functions; SVG parsed as XML."""

from __future__ import annotations

import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from llmkit import Pipeline, load_pipeline, node

REPO = Path(__file__).parents[2]
SVG = "{http://www.w3.org/2000/svg}"


@node
def clean(text: str) -> str:
    return text.strip()


@node(outputs=("words", "count"))
def split(output: str) -> dict:
    words = output.split()
    return {"words": words, "count": len(words)}


@node
def shout(words: list, count: int, text: str) -> str:
    return f"{text.upper()} ({count} words)"


def python_pipeline() -> Pipeline:
    """Three `@node` functions, one input read twice, two outputs."""
    return (Pipeline("functions", inputs=["text"])
            .add("clean", clean, text="text")
            .add("split", split, output="clean.output")
            .add("shout", shout, words="split.words", count="split.count", text="text")
            .outputs(loud="shout.output", count="split.count"))


@pytest.fixture
def rag(tmp_path, monkeypatch):
    monkeypatch.setenv("LLMKIT_INDEX", str(tmp_path / "index"))
    monkeypatch.setenv("LLMKIT_DOCS", str(REPO / "docs"))
    return load_pipeline(REPO / "pipelines" / "rag.yaml")


@pytest.fixture
def no_pillow(monkeypatch):
    """Pillow as if the `draw` extra were not installed."""
    for name in [m for m in sys.modules if m.partition(".")[0] == "PIL"]:
        monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.setitem(sys.modules, "PIL", None)


def texts(svg: str) -> list[str]:
    """The text of every <text> element, after checking the SVG parses as XML."""
    root = ET.fromstring(svg)
    assert root.tag == f"{SVG}svg"
    return [t.text or "" for t in root.iter(f"{SVG}text")]


def box_texts(svg: str) -> dict[str, list[str]]:
    """The texts of each box, by its id (`node:embed`), in the order painted."""
    return {g.get("data-box"): [t.text or "" for t in g.iter(f"{SVG}text")]
            for g in ET.fromstring(svg).iter(f"{SVG}g")}
