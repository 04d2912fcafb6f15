"""The shipped pipelines on the shipped labelled set over docs/: quality must not fall below
floors set from measurement (docs/retrieval.md, "Measuring quality", has the figures; each
floor is the figure measured when it was set, less a margin for docs that change)."""

import pytest

from llmkit.eval import evaluate, load_dataset
from llmkit.spec import load_pipeline

from .fakes import PIPELINES

DATASET = PIPELINES / "datasets" / "docs_qa.jsonl"
FLOORS = {  # measured less about 0.05; measured on 60 questions (hit, recall, MRR, nDCG,
    # contains): rag 1.000 0.914 0.889 0.848 0.833, hybrid 0.983 0.858 0.871 0.806 0.800
    "rag.yaml": {"hit": 0.95, "recall": 0.86, "mrr": 0.84, "ndcg": 0.80, "contains": 0.78},
    "hybrid.yaml": {"hit": 0.93, "recall": 0.81, "mrr": 0.82, "ndcg": 0.76, "contains": 0.75},
}


@pytest.fixture
def in_the_project(tmp_path, monkeypatch):
    """The pipelines index the project's docs/ into a scratch index."""
    monkeypatch.chdir(PIPELINES.parent)
    monkeypatch.delenv("LLMKIT_DOCS", raising=False)
    monkeypatch.setenv("LLMKIT_INDEX", str(tmp_path / "index"))


@pytest.mark.parametrize("pipeline", sorted(FLOORS))
def test_the_shipped_pipelines_stay_above_their_floors(pipeline, in_the_project):
    examples = load_dataset(DATASET)
    assert len(examples) >= 60
    result = evaluate(load_pipeline(PIPELINES / pipeline), examples, k=4)
    assert result.errors == 0
    measured = {metric: round(result.mean(metric), 3) for metric in FLOORS[pipeline]}
    below = {m: (v, FLOORS[pipeline][m]) for m, v in measured.items() if v < FLOORS[pipeline][m]}
    assert not below, f"{pipeline}: (measured, floor) {below}; all: {measured}"
