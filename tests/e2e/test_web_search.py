"""The `WebSearch` facade against the fake SearxNG endpoint: sync calls share llmkit's
background loop (never a loop per call), async calls run on the caller's loop, and the
engine's retries and optional cache apply."""

from __future__ import annotations

import asyncio

import pytest

from llmkit import LlmkitError, MemoryCache, WebSearch
from llmkit.core import background
from llmkit.nodes.backends.websearch import SearxClient
from tests.servers.fake_llm import fake_results


def expected(query: str, k: int) -> list[str]:
    return list(dict.fromkeys(r["url"] for r in fake_results(query)))[:k]


def test_search_returns_hits_best_first(fake_server):
    hits = WebSearch(fake_server.url, k=4).search("llamas")
    assert [h["id"] for h in hits] == expected("llamas", 4)
    assert hits[0]["text"] == "Text 0 about llamas."
    assert hits[0]["metadata"] == {"source": hits[0]["id"], "title": "Result 0 for llamas"}


def test_searx_url_comes_from_the_environment(fake_server, monkeypatch):
    monkeypatch.setenv("SEARX_URL", fake_server.url)
    assert len(WebSearch().search("otters")) == 5


def test_100_sync_searches_run_on_the_one_background_loop(fake_server, monkeypatch):
    loops = []
    search = SearxClient.asearch

    async def recording(self, query, **options):
        loops.append(asyncio.get_running_loop())
        return await search(self, query, **options)

    def no_new_loops(*args, **kwargs):
        raise AssertionError("WebSearch.search started an event loop")

    monkeypatch.setattr(SearxClient, "asearch", recording)
    monkeypatch.setattr(asyncio, "run", no_new_loops)
    monkeypatch.setattr(asyncio, "new_event_loop", no_new_loops)
    web = WebSearch(fake_server.url, k=3)
    for i in range(100):
        assert [h["id"] for h in web.search(f"query {i}")] == expected(f"query {i}", 3)
    assert len(loops) == 100 and len(set(loops)) == 1 and background.is_loop(loops[0])
    assert fake_server.control.stats()["requests"] == {"/search": 100}


def test_asearch_runs_on_the_callers_loop(fake_server):
    web = WebSearch(fake_server.url, k=2)

    async def both() -> list:
        try:
            return await asyncio.gather(web.asearch("cats"), web.asearch("dogs"))
        finally:
            await web.aclose()

    cats, dogs = asyncio.run(both())
    assert [h["id"] for h in cats] == expected("cats", 2)
    assert [h["id"] for h in dogs] == expected("dogs", 2)


def test_server_errors_are_retried_by_the_engine(fake_server):
    fake_server.control.faults(schedule=["500", "429"], retry_after="0")
    assert len(WebSearch(fake_server.url).search("q")) == 5
    assert fake_server.control.stats()["requests"] == {"/search": 3}


def test_results_are_cached_only_when_asked(fake_server):
    web = WebSearch(fake_server.url, cache=MemoryCache())
    assert web.search("q") == web.search("q")
    WebSearch(fake_server.url).search("q")
    assert fake_server.control.stats()["requests"] == {"/search": 2}


def test_a_missing_url_says_to_set_searx_url(monkeypatch):
    monkeypatch.delenv("SEARX_URL", raising=False)
    with pytest.raises(LlmkitError, match="SEARX_URL"):
        WebSearch()
