"""BM25Index: ranking sanity, Lucene scores, filters, writes, persistence."""

from __future__ import annotations

import math

import pytest

from llmkit.nodes.retrieval.bm25 import BM25Index
from llmkit.nodes.retrieval.vector_index import IndexLoadError

DOCS = {
    "cats": "Cats are small domesticated carnivores. Cats purr.",
    "dogs": "Dogs are loyal domesticated animals that bark.",
    "axolotl": "The axolotl is a salamander that keeps its larval features.",
    "birds": "Birds have feathers; most birds can fly.",
}


def make(**kwargs) -> BM25Index:
    index = BM25Index(**kwargs)
    index.add(list(DOCS), list(DOCS.values()),
              [{"kind": "mammal" if k in ("cats", "dogs") else "other"} for k in DOCS])
    return index


def test_rare_query_word_ranks_its_document_first():
    hits = make().search(["where does the axolotl live", "domesticated"], 10)
    assert hits[0][0]["id"] == "axolotl"
    assert {h["id"] for h in hits[1]} == {"cats", "dogs"}  # only docs sharing a word
    assert set(hits[0][0]) == {"id", "score", "metadata"}


def test_scores_equal_the_lucene_formula():
    index, k1, b = make(), 1.5, 0.75
    lengths = {"cats": 7, "dogs": 7, "axolotl": 10, "birds": 7}  # words per doc
    avg = sum(lengths.values()) / 4
    idf = math.log(1 + (4 - 2 + 0.5) / (2 + 0.5))  # "domesticated" is in 2 of 4 docs
    want = idf * 1 / (1 + k1 * (1 - b + b * lengths["dogs"] / avg))
    hit = next(h for h in index.search(["domesticated"], 4)[0] if h["id"] == "dogs")
    assert hit["score"] == pytest.approx(want, rel=1e-6)  # float32 weights


def test_filters_deletes_and_replacement():
    index = make()
    assert [h["id"] for h in index.search(["domesticated birds"], 5,
                                          filter={"kind": "other"})[0]] == ["birds"]
    index.delete(["cats"])
    assert [h["id"] for h in index.search(["cats"], 5)[0]] == []
    index.add(["dogs"], ["now about axolotl care"])
    assert [h["id"] for h in index.search(["axolotl"], 5)[0]] == ["dogs", "axolotl"]
    assert index.search(["", "zzz unknown"], 5) == [[], []]
    assert index.search(["cats"], 0) == [[]]


def test_empty_texts_and_empty_index():
    index = BM25Index()
    assert index.search(["anything"], 3) == [[]]
    index.add(["a", "b"], ["", "!!"])
    assert len(index) == 2 and index.search(["anything"], 3) == [[]]
    index.add(["c"], ["anything goes"])
    assert [h["id"] for h in index.search(["anything"], 3)[0]] == ["c"]


def test_ties_keep_insertion_order():
    index = BM25Index()
    index.add(["b", "a", "c"], ["same words here"] * 3)
    assert [h["id"] for h in index.search(["words"], 2)[0]] == ["b", "a"]


def test_save_load_roundtrip_and_version(tmp_path):
    index = make()
    index.delete(["birds"])
    before = index.search(["domesticated axolotl"], 3, filter={"kind": ["mammal", "other"]})
    index.save(tmp_path / "bm25")
    loaded = BM25Index.load(tmp_path / "bm25")
    assert loaded.search(["domesticated axolotl"], 3,
                         filter={"kind": ["mammal", "other"]}) == before
    assert loaded.content_version == index.content_version
    assert loaded.llmkit_fingerprint() == index.llmkit_fingerprint()
    version = loaded.content_version
    loaded.add(["x"], ["extra"])
    assert loaded.content_version != version


def test_corrupt_or_missing_directory(tmp_path):
    with pytest.raises(IndexLoadError, match="run ingest"):
        BM25Index.load(tmp_path / "none")
    make().save(tmp_path / "bm25")
    path = tmp_path / "bm25" / "bm25.msgpack"
    path.write_bytes(path.read_bytes()[:-40])
    with pytest.raises(IndexLoadError, match=r"ingest .*--rebuild"):
        BM25Index.load(tmp_path / "bm25")
