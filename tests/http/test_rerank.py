"""The `rerank` node with `HttpReranker` against the loopback server's `/v1/rerank` (and TEI's
`/rerank`): order and top_n from the server's scores, one request per run with a micro-batch's
requests in flight together, retries per request, incomplete answers are errors that are
never cached, and the key shows nowhere."""

from __future__ import annotations

import logging

import pytest

from llmkit.cache import MemoryCache
from llmkit.cache.keys import hash_value
from llmkit.core.pipeline import Pipeline
from llmkit.errors import BackendError, LlmkitError, RetryableError
from llmkit.nodes.backends.rerank import HttpReranker
from llmkit.nodes.retrieval.rerank import Rerank
from tests.http.test_secrets import texts_of
from tests.servers.fake_llm import fake_relevance

pytestmark = pytest.mark.anyio

KEY = "sk-llmkit-rerank-5e4d3c2b1a"
QUERY = "how do bees make honey"
TEXTS = ["cats sleep all day", "bees make wax", "how bees make honey from nectar",
         "honey is sweet", "do bees sting"]
HITS = [{"id": f"d{i}", "score": 1.0 - i / 10, "metadata": {"text": t, "source": f"{i}.md"}}
        for i, t in enumerate(TEXTS)]


def reranker(server, transport="auto", **options) -> HttpReranker:
    options.setdefault("base_url", f"{server.url}/v1")
    return HttpReranker("fake-reranker", transport=transport, **options)


def pipeline(model: HttpReranker, top_n: int = 3) -> tuple[Pipeline, Rerank]:
    node = Rerank(model, top_n=top_n)
    p = Pipeline("rerank", inputs=["query", "hits"])
    p.add("rerank", node, query="query", hits="hits")
    p.outputs(hits="rerank.hits")
    return p, node


def expected_ids(query: str, top_n: int) -> list[str]:
    scores = [fake_relevance(query, t) for t in TEXTS]
    return [f"d{i}" for i in sorted(range(len(TEXTS)), key=lambda i: (-scores[i], i))[:top_n]]


async def test_hits_follow_the_servers_scores_and_keep_top_n(fake_server, transport):
    async with reranker(fake_server, transport) as model:
        p, _ = pipeline(model, top_n=3)
        out = await p.arun({"query": QUERY, "hits": HITS})
    assert [h["id"] for h in out["hits"]] == expected_ids(QUERY, 3) == ["d2", "d1", "d4"]
    assert [h["rerank_score"] for h in out["hits"]] == [fake_relevance(QUERY, TEXTS[i])
                                                        for i in (2, 1, 4)]
    assert out["hits"][0]["score"] == HITS[2]["score"]  # the retrieval score is kept
    assert out["hits"][0]["metadata"] == HITS[2]["metadata"]
    sent = fake_server.control.stats()["last"]["/v1/rerank"]
    assert sent == {"model": "fake-reranker", "query": QUERY, "documents": TEXTS, "top_n": 3}


async def test_the_tei_dialect_sends_texts_and_keeps_the_best_here(fake_server, transport):
    async with reranker(fake_server, transport, base_url=fake_server.url,
                        dialect="tei") as model:
        assert await model.arerank(QUERY, TEXTS, 2) == [
            (2, fake_relevance(QUERY, TEXTS[2])), (1, fake_relevance(QUERY, TEXTS[1]))]
    sent = fake_server.control.stats()["last"]["/rerank"]
    assert sent == {"query": QUERY, "texts": TEXTS, "truncate": True}


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_a_micro_batch_is_one_node_call_of_concurrent_requests(fake_server,
                                                                      anyio_backend):
    fake_server.control.config(latency_ms=300)
    queries = [f"{word} bees" for word in ("how", "do", "make", "honey", "sting", "wax")]
    async with reranker(fake_server) as model:
        p, node = pipeline(model, top_n=2)
        calls = []
        batch = node.run_batch
        node.run_batch = lambda items: calls.append(len(items)) or batch(items)
        outs = await p.arun_many([{"query": q, "hits": HITS} for q in queries])
    assert calls == [6]
    stats = fake_server.control.stats()
    assert stats["requests"] == {"/v1/rerank": 6} and stats["peak_in_flight"] == 6
    assert [[h["id"] for h in o["hits"]] for o in outs] == [expected_ids(q, 2) for q in queries]


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_requests_in_flight_stay_within_the_rerankers_concurrency(fake_server,
                                                                        anyio_backend):
    fake_server.control.config(latency_ms=100)
    async with reranker(fake_server, concurrency=2) as model:
        p, _ = pipeline(model)
        await p.arun_many([{"query": f"q{i} bees", "hits": HITS} for i in range(6)])
    stats = fake_server.control.stats()
    assert stats["requests"] == {"/v1/rerank": 6} and stats["peak_in_flight"] == 2


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_a_429_retries_that_request_alone(fake_server, anyio_backend):
    fake_server.control.faults(schedule=["429"], retry_after="0")
    async with reranker(fake_server) as model:
        p, _ = pipeline(model)
        outs = await p.arun_many([{"query": f"q{i} bees", "hits": HITS} for i in range(4)])
    assert all(len(o["hits"]) == 3 for o in outs)
    assert fake_server.control.stats()["requests"] == {"/v1/rerank": 5}  # 4 + 1 retry


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_a_request_that_keeps_failing_fails_its_run_only(fake_server, anyio_backend):
    fake_server.control.faults(schedule=["ok", "400"])
    async with reranker(fake_server, concurrency=1) as model:
        p, _ = pipeline(model)
        outs = await p.arun_many([{"query": f"q{i} bees", "hits": HITS} for i in range(3)],
                                 on_error="return")
    assert [isinstance(o, LlmkitError) for o in outs] == [False, True, False]
    assert "injected 400" in str(outs[1])


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_a_malformed_answer_is_an_error_and_is_not_cached(fake_server, anyio_backend):
    fake_server.control.faults(schedule=["malformed"] * 4, retry_after="0")
    cache = MemoryCache()
    async with reranker(fake_server) as model:
        p, _ = pipeline(model)
        with pytest.raises(LlmkitError, match="RetryableError: malformed JSON from"):
            await p.arun({"query": QUERY, "hits": HITS}, cache=cache)
        assert fake_server.control.stats()["requests"] == {"/v1/rerank": 4}
        out = await p.arun({"query": QUERY, "hits": HITS}, cache=cache)
        assert fake_server.control.stats()["requests"] == {"/v1/rerank": 5}  # not from cache
        again = await p.arun({"query": QUERY, "hits": HITS}, cache=cache)
    assert fake_server.control.stats()["requests"] == {"/v1/rerank": 5}  # now it is
    assert again == out and [h["id"] for h in out["hits"]] == expected_ids(QUERY, 3)


@pytest.mark.parametrize(("body", "error", "says"), [
    ({"results": [{"index": 0, "relevance_score": 0.5}]}, BackendError, "expected 2 distinct"),
    ({"results": [{"index": 1, "relevance_score": 0.5}, {"index": 1, "relevance_score": 0.4}]},
     BackendError, "ranked indices [1, 1]"),
    ({"results": [{"index": 0, "relevance_score": 0.5}, {"index": 3, "relevance_score": 0.4}]},
     BackendError, "below 3"),
    ({"results": [{"index": 0, "relevance_score": "high"}, {"index": 1, "relevance_score": 1}]},
     BackendError, "finite score"),
    ({"results": [{"index": 0, "relevance_score": float("nan")},
                  {"index": 1, "relevance_score": 1}]}, BackendError, "finite score"),
    ({"results": [{"index": 0}]}, RetryableError, "results[].index and .relevance_score"),
    ({"error": {"message": "overloaded"}}, RetryableError, "the server said: overloaded"),
])
def test_an_incomplete_ranking_is_an_error_not_a_shorter_list(body, error, says):
    model = HttpReranker("m", base_url="http://127.0.0.1:9/v1")
    with pytest.raises(error) as caught:
        model._ranking(body, 3, 2)
    assert type(caught.value) is error and says in str(caught.value)


def test_a_server_that_ranks_every_document_is_cut_to_top_n():
    model = HttpReranker("m", base_url="http://127.0.0.1:9/v1")
    body = {"results": [{"index": i, "relevance_score": s} for i, s in enumerate([1, 3, 2])]}
    assert model._ranking(body, 3, 2) == [(1, 3.0), (2, 2.0)]


@pytest.mark.parametrize("fault", ["401", "429", "500", "malformed"])
async def test_the_key_appears_in_no_error_repr_log_or_cache_key(fake_server, transport, fault,
                                                                 caplog):
    caplog.set_level(logging.DEBUG)
    fake_server.control.faults(schedule=[fault] * 4, retry_after="0")  # errors quote the key
    async with reranker(fake_server, transport, api_key=KEY) as model:
        p, node = pipeline(model)
        with pytest.raises(LlmkitError) as caught:
            await p.arun({"query": QUERY, "hits": HITS})
        seen = [repr(model), repr(model.http), repr(node), str(node.describe()),
                *texts_of(caught.value), *(r.getMessage() for r in caplog.records)]
    assert "api_key='***'" in repr(model)
    assert not [text for text in seen if KEY in text or KEY[3:] in text]
    other = HttpReranker("fake-reranker", base_url=f"{fake_server.url}/v1", api_key="sk-other")
    assert hash_value(model) == hash_value(other)  # the cache key does not depend on it


async def test_the_key_is_sent_and_comes_from_rerank_api_key(fake_server, transport,
                                                             monkeypatch):
    monkeypatch.setenv("RERANK_API_KEY", KEY)
    monkeypatch.setenv("RERANK_BASE_URL", f"{fake_server.url}/v1")
    fake_server.control.faults(api_key=KEY)
    async with HttpReranker(transport=transport) as model:
        assert await model.arerank(QUERY, TEXTS, 1) == [(2, fake_relevance(QUERY, TEXTS[2]))]


def test_a_missing_server_is_one_line_that_says_where_to_set_it(monkeypatch):
    monkeypatch.delenv("RERANK_BASE_URL", raising=False)
    with pytest.raises(LlmkitError, match=r"pass base_url .* or set RERANK_BASE_URL"):
        HttpReranker("m")
    with pytest.raises(ValueError, match="dialect must be 'cohere' or 'tei'"):
        HttpReranker("m", base_url="http://h/v1", dialect="jina")


def test_the_fingerprint_names_what_changes_scores():
    model = HttpReranker("m", base_url="http://h:1/v1", dialect="tei")
    assert model.llmkit_fingerprint() == {"api": "rerank", "dialect": "tei", "model": "m",
                                          "base_url": "http://h:1/v1"}
    assert hash_value(model) != hash_value(HttpReranker("m2", base_url="http://h:1/v1",
                                                        dialect="tei"))
