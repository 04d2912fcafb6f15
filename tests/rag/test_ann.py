"""HNSWIndex: approximate search that keeps the exact index's rows, filters and scores."""

import sys

import numpy as np
import pytest

from llmkit.errors import MissingExtraError
from llmkit.nodes.retrieval.vector_index import VectorIndex
from tests.extras import require

require("faiss", "faiss")  # CI installs the extra with `dev`: missing there, it fails

from llmkit.nodes.retrieval.ann import HNSWIndex  # noqa: E402


def clustered(n: int, dim: int, seed: int = 0) -> np.ndarray:
    """Points around 50 centres: what embeddings of a real corpus look like, roughly."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(50, dim))
    points = centres[rng.integers(0, 50, n)] + 0.4 * rng.normal(size=(n, dim))
    return (points / np.linalg.norm(points, axis=1, keepdims=True)).astype(np.float32)


@pytest.fixture(scope="module")
def pair():
    vectors = clustered(5000, 64)
    ids = [f"r{i}" for i in range(len(vectors))]
    meta = [{"group": i % 4} for i in range(len(vectors))]
    exact, approx = VectorIndex(64), HNSWIndex(64)
    for index in (exact, approx):
        index.add(ids, vectors, meta)
    return exact, approx


def ids(hits):
    return [[h["id"] for h in per_query] for per_query in hits]


def test_recall_at_10_against_exact_search(pair):
    exact, approx = pair
    queries = clustered(100, 64, seed=1)
    truth, found = ids(exact.search(queries, 10)), ids(approx.search(queries, 10))
    recall = np.mean([len(set(t) & set(f)) / 10 for t, f in zip(truth, found, strict=True)])
    assert recall >= 0.95


def test_scores_are_the_exact_dot_products(pair):
    exact, approx = pair
    query = clustered(1, 64, seed=2)
    for hit in approx.search(query, 5)[0]:
        vector = exact.get(hit["id"])["vector"]
        assert hit["score"] == pytest.approx(float(vector @ query[0]), abs=1e-5)


def test_filters_hold_and_a_selective_one_is_answered_exactly(pair):
    exact, approx = pair
    queries = clustered(5, 64, seed=3)
    for per_query in approx.search(queries, 10, filter={"group": 2}):
        assert all(h["metadata"]["group"] == 2 for h in per_query) and len(per_query) == 10
    rare = {"group": [3]}
    assert ids(approx.search(queries, 3, filter=rare)) == ids(exact.search(queries, 3, rare))


def test_deleted_rows_are_never_returned_and_replaced_rows_move():
    vectors = clustered(2000, 32)
    index = HNSWIndex(32)
    index.add([f"r{i}" for i in range(2000)], vectors)
    index.search(vectors[:1], 5)  # builds the graph
    index.delete(["r0"])
    assert "r0" not in ids(index.search(vectors[:1], 5))[0]
    index.add(["r1"], vectors[1500:1501])  # r1 now sits where r1500 is
    assert set(ids(index.search(vectors[1500:1501], 2))[0]) == {"r1", "r1500"}


def test_save_and_load_keep_the_rows_and_the_settings(pair, tmp_path):
    _, approx = pair
    approx.save(tmp_path / "ix")
    loaded = HNSWIndex.load(tmp_path / "ix", m=16, ef_search=64)
    queries = clustered(3, 64, seed=4)
    assert len(loaded) == len(approx) and loaded.m == 16
    assert ids(loaded.search(queries, 5))[0][0] == ids(approx.search(queries, 5))[0][0]
    assert loaded.llmkit_fingerprint()["ann"] == "hnsw"


def test_a_missing_faiss_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "faiss", None)  # import faiss now raises ImportError
    with pytest.raises(MissingExtraError, match=r"pip install 'llmkit\[faiss\]'"):
        HNSWIndex(8)
