"""The `rerank` node with the offline `lexical_reranker`: stems, BM25 over the candidates,
the blend with the retrieval order, one call per micro-batch; and the pipelines that use it
load, validate and run offline."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from llmkit import load_pipeline
from llmkit.core.pipeline import Pipeline
from llmkit.errors import PipelineError
from llmkit.nodes.retrieval.rerank import Rerank
from llmkit.nodes.retrieval.rerank_lexical import LexicalReranker, terms
from llmkit.nodes.retrieval.stemming import stem

from . import labelled
from .test_pipelines import llmkit

ROOT = Path(__file__).resolve().parents[2]


def hit(i: int, text: str, section: str | None = None) -> dict:
    metadata = {"text": text, "source": f"{i}.md"}
    if section is not None:
        metadata["section"] = section
    return {"id": f"d{i}", "score": 1.0 - i / 100, "metadata": metadata}


HITS = [hit(0, "The scheduler runs nodes in order."),
        hit(1, "Every page is cached for a day."),
        hit(2, "A full batch is flushed when the window fills."),
        hit(3, "Nothing here at all.")]


@pytest.mark.parametrize(("words", "same"), [
    (["flush", "flushes", "flushed", "flushing"], True),
    (["cache", "caches", "cached", "caching"], True),
    (["retry", "retries", "retried"], True),
    (["run", "running"], True),
    (["process", "processes"], True),
    (["caress", "cares"], False),  # "ss" is not a plural
])
def test_stems_join_a_words_forms(words, same):
    assert (len({stem(w) for w in words}) == 1) is same


def test_terms_drop_question_words():
    assert terms("What does the window bound?") == ["window", "bound"]


def test_terms_are_the_answerers_porter_stems():
    assert set(terms("connect connected connecting connection connections")) == {"connect"}


def test_candidates_with_the_querys_stems_come_first():
    ranking = LexicalReranker(weight=1.0).rerank(["when is a batch flushed"], [HITS], 2)[0]
    assert [i for i, _ in ranking] == [2, 0]  # then the retrieval order breaks the tie
    assert ranking[0][1] > ranking[1][1]


def test_weight_zero_keeps_the_retrieval_order():
    ranking = LexicalReranker(weight=0.0).rerank(["caching pages"], [HITS], 4)[0]
    assert [i for i, _ in ranking] == [0, 1, 2, 3]


def test_the_blend_lets_a_strong_retrieval_rank_hold_against_a_weak_word_match():
    hits = [hit(i, f"filler text number {i}") for i in range(10)] + [hit(10, "flush")]
    assert LexicalReranker(weight=1.0).rerank(["flush"], [hits], 1)[0][0][0] == 10
    assert LexicalReranker(weight=0.6).rerank(["flush"], [hits], 3)[0][0][0] == 10
    assert LexicalReranker(weight=0.3).rerank(["flush"], [hits], 1)[0][0][0] == 0


def test_the_section_heading_counts_as_text():
    hits = [hit(0, "Some words."), hit(1, "Other words.", section="Cache keys")]
    assert LexicalReranker(weight=1.0).rerank(["cache key"], [hits], 1)[0][0][0] == 1


def test_rare_stems_outweigh_common_ones():
    hits = [hit(0, "index index index"), hit(1, "ingest"), hit(2, "index")]
    assert LexicalReranker(weight=1.0).rerank(["ingest index"], [hits], 1)[0][0][0] == 1


def test_bad_params_are_refused():
    with pytest.raises(ValueError, match="weight must be between 0 and 1"):
        LexicalReranker(weight=1.5)
    with pytest.raises(TypeError, match="reranker must have rerank"):
        Rerank(object())
    with pytest.raises(ValueError, match="must be a positive integer"):
        Rerank(LexicalReranker(), top_n=0)


class Counting(LexicalReranker):
    def __init__(self):
        super().__init__()
        self.calls = []

    def rerank(self, queries, candidates, top_n):
        self.calls.append(len(queries))
        return super().rerank(queries, candidates, top_n)


def test_the_node_reranks_a_micro_batch_in_one_call_and_adds_rerank_score():
    reranker = Counting()
    p = Pipeline("r", inputs=["query", "hits"])
    p.add("rerank", Rerank(reranker, top_n=2), query="query", hits="hits")
    p.outputs(hits="rerank.hits")
    outs = p.run_many([{"query": q, "hits": HITS} for q in
                       ("batch flushed window", "pages cached", "scheduler nodes")])
    assert reranker.calls == [3]
    assert [[h["id"] for h in o["hits"]] for o in outs] == [["d2", "d0"], ["d1", "d0"],
                                                            ["d0", "d1"]]
    first = outs[0]["hits"][0]
    assert first["score"] == HITS[2]["score"] and first["metadata"] == HITS[2]["metadata"]
    assert first["rerank_score"] > outs[0]["hits"][1]["rerank_score"]
    assert p.run({"query": "anything", "hits": []}) == {"hits": []}


class Broken(LexicalReranker):
    def rerank(self, queries, candidates, top_n):
        return [[(0, 1.0), (0, 0.5)] for _ in queries]


def test_a_ranking_that_names_a_hit_twice_fails_the_run():
    p = Pipeline("r", inputs=["query", "hits"])
    p.add("rerank", Rerank(Broken(), top_n=2), query="query", hits="hits")
    p.outputs(hits="rerank.hits")
    with pytest.raises(Exception, match=r"ranked \[0, 0\] for 4 hits"):
        p.run({"query": "q", "hits": HITS})


def test_rag_rerank_yaml_validates_and_answers_offline(tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    labelled.write(docs)
    env = {"LLMKIT_DOCS": str(docs), "LLMKIT_INDEX": str(tmp_path / "index")}
    code, out, err = llmkit("validate", ROOT / "pipelines" / "rag_rerank.yaml", env=env)
    assert code == 0 and "5 nodes" in out, err
    code, out, err = llmkit("run", ROOT / "pipelines" / "rag_rerank.yaml", "-i",
                            "question=Why are stratovolcano eruptions explosive?", "--json",
                            "--no-cache", env=env)
    assert code == 0, err
    result = json.loads(out)
    assert "gas" in result["answer"] and result["sources"][0]["source"] == "volcanoes.md"
    assert len(result["sources"]) <= 4


def test_the_http_form_in_the_yaml_comment_loads(tmp_path, monkeypatch):
    text = (ROOT / "pipelines" / "rag_rerank.yaml").read_text()
    line = next(line for line in text.splitlines() if "type: http_reranker" in line)
    http = text.replace("  reranker: {type: lexical_reranker}", "  " + line.lstrip("# ").rstrip())
    assert http != text
    path = tmp_path / "rag_http_rerank.yaml"
    path.write_text(http)
    monkeypatch.setenv("RERANK_API_KEY", "sk-never-shown")
    monkeypatch.setenv("LLMKIT_DOCS", str(ROOT / "docs"))  # the copy is not beside them
    monkeypatch.setenv("LLMKIT_INDEX", str(tmp_path / "index"))
    p = load_pipeline(path)
    node = p.nodes["rerank"]
    assert type(node.reranker).__name__ == "HttpReranker" and node.is_async()
    assert node.reranker.http.base_url == "http://127.0.0.1:8080/v1"
    assert "sk-never-shown" not in repr(node.reranker)


def test_a_rerank_without_a_reranker_is_a_located_error(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("llmkit: 1\nname: bad\ninputs: {q: str, h: list}\nnodes:\n"
                    "  rerank: {type: rerank, params: {top_n: 2}, inputs: {query: q, hits: h}}\n"
                    "outputs: {hits: rerank.hits}\n")
    with pytest.raises(PipelineError, match=r"bad\.yaml:5:\d+: .*reranker"):
        load_pipeline(path)
