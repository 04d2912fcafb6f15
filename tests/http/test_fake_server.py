"""The fake server's own contract: counters, settings, the CLI and in-process use."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.servers.fake_llm import FakeLLMServer, fake_vector
from tests.servers.process import FakeServerProcess


def test_counters_count_and_reset(fake_server):
    httpx.post(f"{fake_server.url}/v1/embeddings", json={"model": "m", "input": ["a", "b"]})
    httpx.get(f"{fake_server.url}/search", params={"q": "x", "format": "json"})
    stats = fake_server.control.stats()
    assert stats["requests"] == {"/v1/embeddings": 1, "/search": 1}
    assert stats["inputs"] == {"/v1/embeddings": 2}
    assert stats["peak_in_flight"] == 1 and stats["in_flight"] == 0
    assert fake_server.control.reset_stats()["total"] == 0


def test_settings_merge_validate_and_reset(fake_server):
    assert fake_server.control.faults(schedule=["500", "ok"])["schedule"] == ["500", "ok"]
    with pytest.raises(httpx.HTTPStatusError):
        fake_server.control.config(no_such_setting=1)
    assert httpx.get(f"{fake_server.url}/v1/models").status_code == 500
    assert httpx.get(f"{fake_server.url}/v1/models").status_code == 200
    assert fake_server.control.reset()["faults"]["schedule"] == []


def test_cli_flags_set_the_startup_state():
    with FakeServerProcess("--api-key", "k", "--dim", "4", "--fail-rate", "1",
                           "--fail-with", "503") as server:
        assert httpx.get(f"{server.url}/v1/models").status_code == 401
        headers = {"Authorization": "Bearer k"}
        answer = httpx.get(f"{server.url}/v1/models", headers=headers)
        assert answer.status_code == 503 and answer.headers["Retry-After"] == "1"
        server.control.faults(fail_rate=0.0)
        body = httpx.post(f"{server.url}/v1/embeddings", headers=headers,
                          json={"model": "m", "input": "a"}).json()
        assert body["data"][0]["embedding"] == fake_vector("a", 4)


def test_embed_concurrency_queues_embedding_requests_beyond_n():
    def embed_three_and_chat_two(server: FakeServerProcess) -> dict:
        """The stats of three embedding and two chat requests sent at once."""
        url = server.url

        def post(i: int) -> httpx.Response:
            if i < 3:
                return httpx.post(f"{url}/v1/embeddings", timeout=10,
                                  json={"model": "m", "input": f"text {i}"})
            return httpx.post(f"{url}/v1/chat/completions", timeout=10,
                              json={"model": "m", "messages": [{"role": "user", "content": "q"}]})

        with ThreadPoolExecutor(5) as pool:
            answers = list(pool.map(post, range(5)))
        assert [a.status_code for a in answers] == [200] * 5
        assert answers[1].json()["data"][0]["embedding"] == fake_vector("text 1", 16)
        stats = server.control.stats()
        server.control.reset_stats()
        return stats

    with FakeServerProcess("--embed-concurrency", "1", "--latency-ms", "300") as server:
        stats = embed_three_and_chat_two(server)
        assert stats["peak_in_flight"] == 5  # all five arrived together ...
        assert stats["peak_embed_running"] == 1  # ... and the embeddings went one at a time
        server.control.config(embed_concurrency=None)  # the default: any number at once
        assert embed_three_and_chat_two(server)["peak_embed_running"] == 3


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_runs_in_process(anyio_backend):
    server = FakeLLMServer(config={"dim": 3})
    port = await server.start()
    try:
        async with httpx.AsyncClient() as client:
            answer = await client.post(f"http://127.0.0.1:{port}/api/embed",
                                       json={"model": "m", "input": ["x"]})
        assert answer.json()["embeddings"] == [fake_vector("x", 3)]
    finally:
        await server.stop()
