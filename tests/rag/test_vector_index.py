"""VectorIndex: batched blockwise search equals a one-query brute force, exactly."""

from __future__ import annotations

import tempfile
import threading

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llmkit.errors import LlmkitError
from llmkit.nodes.retrieval.vector_index import IndexLoadError, VectorIndex


def unit_grid_vector(draw, dim: int) -> np.ndarray:
    """A vector whose norm is exactly 1 (or 0) and whose dot products are exact: one entry
    of ±1, or four of ±0.5. Many ties, no rounding anywhere."""
    v = np.zeros(dim, dtype=np.float32)
    kind = draw(st.sampled_from(["one", "four", "zero"] if dim >= 4 else ["one", "zero"]))
    if kind == "zero":
        return v
    count = 1 if kind == "one" else 4
    places = draw(st.lists(st.integers(0, dim - 1), min_size=count, max_size=count,
                           unique=True))
    signs = draw(st.lists(st.sampled_from([-1.0, 1.0]), min_size=count, max_size=count))
    v[places] = np.array(signs, dtype=np.float32) / np.sqrt(count)
    return v


@st.composite
def scenarios(draw):
    dim = draw(st.integers(1, 9))
    grid = draw(st.booleans())
    n = draw(st.integers(0, 40))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    if grid:
        vectors = np.array([unit_grid_vector(draw, dim) for _ in range(n)],
                           dtype=np.float32).reshape(n, dim)
    else:
        vectors = rng.standard_normal((n, dim)).astype(np.float32)
        vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-6)
        if n > 3:
            vectors[1] = vectors[0]  # duplicates tie exactly
    id_pool = draw(st.integers(max(n, 1), 2 * n + 1))
    ids = [f"d{draw(st.integers(0, id_pool - 1))}" for _ in range(n)]  # repeats = replace
    groups = [draw(st.sampled_from(["a", "b", "c"])) for _ in range(n)]
    deletes = draw(st.lists(st.integers(0, id_pool), max_size=8))
    q = draw(st.integers(1, 7))
    queries = (np.array([unit_grid_vector(draw, dim) for _ in range(q)], dtype=np.float32)
               if grid else rng.standard_normal((q, dim)).astype(np.float32))
    k = draw(st.integers(0, n + 3))
    filt = draw(st.sampled_from([None, {"g": "a"}, {"g": ["a", "c"]}, {"g": "zzz"},
                                 {"g": ["b"], "odd": True}]))
    blocks = (draw(st.integers(1, 9)), draw(st.integers(1, 4)))
    return dim, vectors, ids, groups, deletes, queries, k, filt, blocks


def reference(model: dict, queries: np.ndarray, k: int, filt: dict | None) -> list:
    """One query at a time over the whole corpus: score every row, argsort, row order ties."""
    def keep(meta: dict) -> bool:
        for key, want in (filt or {}).items():
            options = want if isinstance(want, list) else [want]
            if meta.get(key) not in options:
                return False
        return True

    rows = [(id_, vec, meta) for id_, (vec, meta) in model.items() if keep(meta)]
    out = []
    for q in queries:
        if not rows or k == 0:
            out.append([])
            continue
        matrix = np.array([vec for _, vec, _ in rows], dtype=np.float64)
        scores = (matrix * q.astype(np.float64)).sum(axis=1).astype(np.float32)
        order = np.lexsort((np.arange(len(rows)), -scores))[:k]
        out.append([(rows[i][0], float(scores[i])) for i in order])
    return out


def as_pairs(results: list) -> list:
    return [[(h["id"], h["score"]) for h in hits] for hits in results]


@settings(max_examples=150, deadline=None)
@given(scenarios())
def test_blockwise_search_equals_brute_force(scenario):
    dim, vectors, ids, groups, deletes, queries, k, filt, (block_rows, query_block) = scenario
    index = VectorIndex(dim, block_rows=block_rows, query_block=query_block)
    model: dict = {}
    half = len(ids) // 2
    for part in (slice(0, half), slice(half, None)):  # two adds: the second may replace
        metas = [{"g": g, "odd": i % 2 == 1} for i, g in enumerate(groups)][part]
        index.add(ids[part], vectors[part], metas)
        for id_, vec, meta in zip(ids[part], vectors[part], metas, strict=True):
            model[id_] = (vec, meta)
    gone = [f"d{i}" for i in deletes]
    index.delete(gone)
    for id_ in gone:
        model.pop(id_, None)
    assert len(index) == len(model)

    expected = reference(model, queries, k, filt)
    batched = as_pairs(index.search(queries, k, filter=filt))
    assert batched == expected
    singles = [as_pairs(index.search(q[None, :], k, filter=filt))[0] for q in queries]
    assert singles == expected

    with tempfile.TemporaryDirectory() as tmp:
        index.save(tmp + "/ix")
        loaded = VectorIndex.load(tmp + "/ix", mmap=True, block_rows=block_rows)
        assert as_pairs(loaded.search(queries, k, filter=filt)) == expected
        assert loaded.content_version == index.content_version


def test_large_random_corpus_matches_reference_and_thresholding_path():
    rng = np.random.default_rng(7)
    n, dim = 5000, 48
    vectors = rng.standard_normal((n, dim)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    vectors[10:20] = vectors[3]
    ids = [f"r{i}" for i in range(n)]
    queries = rng.standard_normal((40, dim)).astype(np.float32)
    queries[0] = vectors[3]
    model = {id_: (v, {"g": i % 5}) for i, (id_, v) in enumerate(zip(ids, vectors, strict=True))}
    for parallel in (True, False):  # the shared thread pool, and the calling thread alone
        index = VectorIndex(dim, block_rows=512, query_block=16, parallel=parallel)
        index.add(ids, vectors, [{"g": i % 5} for i in range(n)])
        for filt in (None, {"g": 1}, {"g": [1, 2, 3, 4]}):
            assert as_pairs(index.search(queries, 10, filter=filt)) == reference(
                model, queries, 10, filt)
    top = index.search(queries[:1], 12)[0]
    assert [h["id"] for h in top[:11]] == ["r3"] + [f"r{i}" for i in range(10, 20)]


def test_hits_are_plain_dicts_with_copied_metadata():
    index = VectorIndex(2)
    index.add(["a", "b"], [[1, 0], [0, 1]], [{"source": "x.md"}, {"source": "y.md"}])
    hit = index.search([[1.0, 0.0]], 1)[0][0]
    assert hit == {"id": "a", "score": 1.0, "metadata": {"source": "x.md"}}
    hit["metadata"]["source"] = "changed"
    assert index.get("a")["metadata"] == {"source": "x.md"}


def test_k_larger_than_corpus_empty_index_and_zero_k():
    index = VectorIndex(3)
    assert index.search(np.ones((2, 3)), 5) == [[], []]
    index.add(["a", "b"], np.eye(3)[:2])
    assert [h["id"] for h in index.search([[1, 1, 0]], 10)[0]] == ["a", "b"]
    assert index.search([[1, 1, 0]], 0) == [[]]


def test_wrong_dimension_and_bad_values_raise_clear_errors():
    index = VectorIndex(4)
    with pytest.raises(ValueError, match=r"shape \(q, 4\)"):
        index.search(np.ones((1, 3)), 1)
    with pytest.raises(ValueError, match=r"shape \(2, 4\)"):
        index.add(["a", "b"], np.ones((2, 5)))
    with pytest.raises(ValueError, match="NaN"):
        index.add(["a"], [[np.nan, 0, 0, 0]])
    with pytest.raises(ValueError, match="k must be"):
        index.search(np.ones(4), -1)


def test_rows_are_normalised_and_replacing_keeps_position():
    index = VectorIndex(2)
    index.add(["a", "b"], [[3.0, 4.0], [0.0, 0.0]])
    np.testing.assert_allclose(index.get("a")["vector"], [0.6, 0.8], rtol=1e-6)
    assert index.get("missing") is None
    index.add(["c"], [[0.6, 0.8]])
    index.add(["a"], [[0.6, 0.8]])  # replaces in place: still ahead of "c" on a tie
    assert [h["id"] for h in index.search([[0.6, 0.8]], 3)[0]] == ["a", "c", "b"]


def test_content_version_changes_on_every_write():
    index = VectorIndex(2)
    versions = {index.content_version}
    index.add(["a"], [[1, 0]])
    versions.add(index.content_version)
    index.add(["a"], [[0, 1]])
    versions.add(index.content_version)
    index.delete(["a"])
    versions.add(index.content_version)
    index.delete(["a"])  # nothing deleted: no change
    versions.add(index.content_version)
    assert len(versions) == 4
    assert index.llmkit_fingerprint()["content_version"] == index.content_version


def test_missing_and_corrupt_directories_raise_index_load_error(tmp_path):
    with pytest.raises(IndexLoadError, match="run ingest"):
        VectorIndex.load(tmp_path / "nothing")
    index = VectorIndex(4)
    index.add([f"r{i}" for i in range(50)], np.random.default_rng(0).random((50, 4)))
    index.save(tmp_path / "ix")
    vectors = tmp_path / "ix" / "vectors.npy"
    vectors.write_bytes(vectors.read_bytes()[:200])
    with pytest.raises(IndexLoadError, match=r"ingest .*--rebuild") as info:
        VectorIndex.load(tmp_path / "ix")
    assert str(tmp_path / "ix") in str(info.value)
    assert isinstance(info.value, ValueError) and isinstance(info.value, LlmkitError)
    index.save(tmp_path / "ix")
    (tmp_path / "ix" / "meta.msgpack").write_bytes(b"\xc1garbage")
    with pytest.raises(IndexLoadError, match="corrupt"):
        VectorIndex.load(tmp_path / "ix", mmap=False)
    (tmp_path / "ix" / "meta.msgpack").unlink()
    with pytest.raises(IndexLoadError):
        VectorIndex.load(tmp_path / "ix")


def test_save_compacts_and_mmap_index_accepts_writes(tmp_path):
    index = VectorIndex(3)
    index.add(["a", "b", "c"], np.eye(3))
    index.delete(["b"])
    index.save(tmp_path / "ix")
    loaded = VectorIndex.load(tmp_path / "ix")
    assert len(loaded) == 2 and "b" not in loaded
    assert isinstance(loaded._vectors, np.memmap)
    loaded.add(["d"], [[1, 1, 0]])  # copies the mapped rows into memory first
    assert [h["id"] for h in loaded.search([[1, 0, 0]], 3)[0]] == ["a", "d", "c"]
    VectorIndex(3).save(tmp_path / "empty")
    assert len(VectorIndex.load(tmp_path / "empty")) == 0


def test_concurrent_searches_from_threads_agree():
    rng = np.random.default_rng(3)
    index = VectorIndex(16, block_rows=256)
    index.add([str(i) for i in range(3000)], rng.standard_normal((3000, 16)))
    queries = rng.standard_normal((64, 16)).astype(np.float32)
    expected = index.search(queries, 5)
    results: dict[int, list] = {}

    def worker(i: int) -> None:
        results[i] = [index.search(queries[j:j + 1], 5)[0] for j in range(len(queries))]

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(r == expected for r in results.values())
