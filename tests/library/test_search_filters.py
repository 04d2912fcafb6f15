"""A filter per run: `search` and `keyword_search` take a `filter` input; runs with different
filters share a micro-batch (one index call per distinct filter, one for the whole batch
when no run filters) and get exactly what one search each would give; an invalid filter
fails its own run only."""

from __future__ import annotations

import numpy as np
import pytest

from llmkit import load_pipeline
from llmkit.core.pipeline import Pipeline
from llmkit.errors import NodeError
from llmkit.nodes.retrieval.bm25 import BM25Index
from llmkit.nodes.retrieval.embedders import HashingEmbedder
from llmkit.nodes.retrieval.filters import check_filter, narrow
from llmkit.nodes.retrieval.nodes import KeywordSearch, Search
from llmkit.nodes.retrieval.vector_index import VectorIndex

EMBEDDER = HashingEmbedder(dim=64)
TEXTS = [f"{animal} note {i} about {animal} wool and {topic}"
         for i, (animal, topic) in enumerate(
             (a, t) for a in ("llama", "alpaca", "vicuna") for t in ("food", "care", "wool"))]
SOURCES = [f"{['a', 'b', 'c'][i % 3]}.md" for i in range(len(TEXTS))]
FILTERS = [None, {"source": "a.md"}, {"source": ["b.md", "c.md"]}, None, {"source": "c.md"},
           {"source": ["a.md"]}, {}, {"source": "nowhere.md"}]


class Counting:
    """An index that counts its calls and the filters they had."""

    def __init__(self, index):
        self.index, self.calls = index, []

    def search(self, queries, k, filter=None):
        self.calls.append(filter)
        return self.index.search(queries, k, filter)

    def keyword_search(self, queries, k, filter=None):
        self.calls.append(filter)
        return self.index.search(queries, k, filter)


def _indexes():
    ids = [f"n{i}" for i in range(len(TEXTS))]
    meta = [{"text": t, "source": s} for t, s in zip(TEXTS, SOURCES, strict=True)]
    vectors = VectorIndex(EMBEDDER.dim)
    vectors.add(ids, EMBEDDER.embed(TEXTS), meta)
    keywords = BM25Index()
    keywords.add(ids, TEXTS, meta)
    return vectors, keywords


QUESTIONS = [f"{animal} {topic}" for animal, topic in
             zip(("llama", "alpaca", "vicuna", "llama", "alpaca", "vicuna", "llama", "alpaca"),
                 ("wool", "care", "food", "care", "wool", "food", "food", "wool"), strict=True)]


@pytest.mark.parametrize("kind", ["vector", "keyword"])
def test_runs_with_mixed_filters_in_one_batch_equal_searching_one_by_one(kind):
    vectors, keywords = _indexes()
    if kind == "vector":
        index = Counting(vectors)
        node, port = Search(index, k=3), "vector"
        queries = list(EMBEDDER.embed(QUESTIONS))
        expected = [vectors.search(q, 3, f)[0] for q, f in zip(queries, FILTERS, strict=True)]
    else:
        index = Counting(keywords)
        node, port = KeywordSearch(index, k=3), "query"
        queries = QUESTIONS
        expected = [keywords.search([q], 3, f)[0] for q, f in zip(queries, FILTERS, strict=True)]
    p = Pipeline(inputs=["q", "filter"]).add("s", node, **{port: "q", "filter": "filter"})
    results = p.run_many([{"q": q, "filter": f} for q, f in zip(queries, FILTERS, strict=True)])
    assert [r["hits"] for r in results] == expected
    assert any(e for e in expected) and any(not e for e in expected)  # both kinds happen
    assert len(index.calls) == 6  # the distinct filters (None and {} are one), not 8 runs
    for hits, f in zip(expected, FILTERS, strict=True):
        if f and f["source"] != "nowhere.md":
            wanted = f["source"] if isinstance(f["source"], list) else [f["source"]]
            assert hits and {h["metadata"]["source"] for h in hits} <= set(wanted)

    index.calls.clear()
    p.run_many([{"q": q, "filter": None} for q in queries])
    assert index.calls == [None]  # no run filters: one call for the whole micro-batch


def test_an_invalid_filter_fails_its_own_run_only():
    vectors, _ = _indexes()
    index = Counting(vectors)
    node = Search(index, k=2)
    answer, batches = node._answer, []
    node._answer = lambda items, queries: batches.append(len(items)) or answer(items, queries)
    p = Pipeline(inputs=["v", "filter"]).add("s", node, vector="v", filter="filter")
    bad = ["a.md", {"source": {"$in": ["a.md"]}}, {3: "x"}]
    runs = [{"v": v, "filter": f} for v, f in
            zip(EMBEDDER.embed(QUESTIONS[:5]), [None, *bad, {"source": "b.md"}], strict=True)]
    results = p.run_many(runs, on_error="return")
    assert len(results[0]["hits"]) == 2 and len(results[4]["hits"]) == 2
    for result in results[1:4]:
        assert isinstance(result, NodeError)
    assert "a filter is a mapping of metadata keys" in str(results[1])
    assert "filter 'source' takes a value or a list of values" in str(results[2])
    assert "filter keys are metadata names" in str(results[3])
    assert len(index.calls) == 2 and batches == [5]  # the batch was not bisected


def test_a_run_filter_narrows_the_nodes_fixed_filter():
    _, keywords = _indexes()
    p = Pipeline(inputs=["q", "filter"]).add(
        "s", KeywordSearch(Counting(keywords), k=9, filter={"source": ["a.md", "b.md"]}), query="q",
        filter="filter")
    sources = [{h["metadata"]["source"] for h in r["hits"]} for r in p.run_many(
        [{"q": "wool", "filter": f} for f in (None, {"source": ["b.md", "c.md"]},
                                              {"source": "c.md"})])]
    assert sources == [{"a.md", "b.md"}, {"b.md"}, set()]
    assert narrow(check_filter({"source": "a.md", "x": 1}), check_filter({"y": [2]})) == {
        "source": "a.md", "x": 1, "y": [2]}


def test_an_unwired_filter_port_keeps_the_fixed_filter_and_a_bad_param_is_refused():
    vectors, _ = _indexes()
    p = Pipeline(inputs=["v"]).add("s", Search(vectors, k=9, filter={"source": "c.md"}),
                                   vector="v")
    hits = p.run(v=EMBEDDER.embed(["llama"])[0])["hits"]
    assert {h["metadata"]["source"] for h in hits} == {"c.md"}
    with pytest.raises(ValueError, match="a filter is a mapping"):
        Search(vectors, filter="c.md")
    with pytest.raises(ValueError, match="filter 'source' takes a value"):
        vectors.search(np.ones(64, np.float32), 1, {"source": [{"a": 1}]})


def test_a_yaml_pipeline_takes_the_filter_as_a_run_input(tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    for name, text in (("a.md", "Llamas carry loads in the Andes."),
                       ("b.md", "Llamas hum when they are anxious.")):
        (docs / name).write_text(text, encoding="utf-8")
    p = load_pipeline(f"""
llmkit: 1
inputs: {{question: str, filter: dict}}
resources:
  embedder: {{type: hashing, dim: 64}}
  index: {{type: corpus, path: null, source: "{docs}", embedder: $embedder}}
nodes:
  embed: {{type: embed, params: {{embedder: $embedder}}, inputs: {{text: question}}}}
  search:
    type: search
    params: {{index: $index, k: 2}}
    inputs: {{vector: embed.vector, filter: filter}}
outputs: {{hits: search.hits}}
""")
    runs = [{"question": "What do llamas do?", "filter": f}
            for f in (None, {"source": "a.md"}, {"source": ["b.md"]})]
    results = p.run_many(runs)
    assert [sorted(h["id"].split("#")[0] for h in r["hits"]) for r in results] == [
        ["a.md", "b.md"], ["a.md"], ["b.md"]]
