"""Ollama's native API: /api/embed and /api/chat (NDJSON streaming)."""

from __future__ import annotations

import time

import numpy as np
import pytest

from llmkit.errors import BackendError
from llmkit.nodes.backends.ollama import OllamaChat, OllamaEmbedder, ollama_base_url
from tests.servers.fake_llm import fake_answer, fake_vector

pytestmark = pytest.mark.anyio


async def test_embed_keeps_order_across_requests(fake_server, transport):
    texts = [f"doc {i}" for i in range(7)]
    async with OllamaEmbedder("fake-model", base_url=fake_server.url, max_inputs_per_request=3,
                              transport=transport) as embedder:
        vectors = await embedder.aembed(texts)
    assert fake_server.control.stats()["requests"] == {"/api/embed": 3}
    np.testing.assert_array_equal(
        vectors, np.array([fake_vector(t, 16) for t in texts], dtype=np.float32))


async def test_chat_sends_options_in_ollamas_names(fake_server, transport):
    async with OllamaChat("fake-model", base_url=fake_server.url, max_tokens=3, seed=5,
                          stop=["END"], system_prompt="sys", transport=transport) as chat:
        assert await chat.agenerate("why?") == fake_answer("why?", max_tokens=3)
    body = fake_server.control.stats()["last"]["/api/chat"]
    assert body["options"] == {"temperature": 0.0, "num_predict": 3, "stop": ["END"], "seed": 5}
    assert body["messages"][0] == {"role": "system", "content": "sys"}
    assert body["stream"] is False


async def test_stream_yields_pieces_as_they_come(fake_server, transport):
    fake_server.control.config(stream_delay_ms=40)
    prompt = "stream me something long enough"
    async with OllamaChat("fake-model", base_url=fake_server.url, transport=transport) as chat:
        start = time.perf_counter()
        pieces, first_at = [], None
        async for piece in chat.astream(prompt):
            first_at = first_at or time.perf_counter() - start
            pieces.append(piece)
        total = time.perf_counter() - start
    assert "".join(pieces) == fake_answer(prompt)
    assert first_at < total - 0.2


async def test_unknown_model_is_named(fake_server, transport):
    fake_server.control.config(models=["llama3"])
    async with OllamaChat("mistral", base_url=fake_server.url, transport=transport) as chat:
        with pytest.raises(BackendError, match=r"404 from .*/api/chat: model 'mistral' not found"):
            await chat.agenerate("q")


@pytest.mark.parametrize(("host", "url"), [
    (None, "http://127.0.0.1:11434"),
    ("0.0.0.0", "http://0.0.0.0:11434"),
    ("gpu-box:8080", "http://gpu-box:8080"),
    ("https://ollama.example.com/", "https://ollama.example.com"),
])
def test_ollama_host_is_read_like_ollama_does(monkeypatch, host, url):
    monkeypatch.delenv("OLLAMA_HOST", raising=False)
    assert ollama_base_url(host) == url
    if host:
        monkeypatch.setenv("OLLAMA_HOST", host)
        assert OllamaChat("m").http.base_url == url
