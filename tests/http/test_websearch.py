"""SearxNG search results shaped as retrieval hits."""

from __future__ import annotations

import pytest

from llmkit.errors import BackendError, LlmkitError
from llmkit.nodes.backends.websearch import SearxClient
from tests.servers.fake_llm import fake_results

pytestmark = pytest.mark.anyio


async def test_results_are_distinct_hits_best_first(fake_server, transport):
    async with SearxClient(fake_server.url, transport=transport) as searx:
        hits = await searx.asearch("llamas", k=4, categories=["news", "science"], language="en")
    urls = list(dict.fromkeys(r["url"] for r in fake_results("llamas")))[:4]
    assert [h["id"] for h in hits] == urls
    assert [h["score"] for h in hits] == [1.0, 0.5, 1 / 3, 0.25]
    assert hits[0]["text"] == "Text 0 about llamas."
    assert hits[0]["metadata"] == {"source": urls[0], "title": "Result 0 for llamas"}
    assert fake_server.control.stats()["last"]["/search"] == {
        "q": "llamas", "format": "json", "categories": "news,science", "language": "en"}


async def test_retries_twice_by_default(fake_server, transport):
    fake_server.control.faults(schedule=["500", "429"], retry_after="0")
    async with SearxClient(fake_server.url, transport=transport) as searx:
        assert len(await searx.asearch("q")) == 5
    assert fake_server.control.stats()["requests"] == {"/search": 3}


async def test_403_says_to_enable_the_json_format(fake_server, transport):
    fake_server.control.faults(schedule=["403"])
    async with SearxClient(fake_server.url, transport=transport) as searx:
        with pytest.raises(BackendError, match="enable the json format"):
            await searx.asearch("q")


def test_needs_a_url(monkeypatch):
    monkeypatch.delenv("SEARX_URL", raising=False)
    with pytest.raises(LlmkitError, match="SEARX_URL"):
        SearxClient()
    monkeypatch.setenv("SEARX_URL", "http://searx:8080/")
    assert SearxClient().llmkit_fingerprint() == {"api": "searxng",
                                                  "base_url": "http://searx:8080"}
