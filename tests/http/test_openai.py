"""OpenAI-compatible embeddings and chat against the fake server."""

from __future__ import annotations

import time

import numpy as np
import pytest

from llmkit.errors import LlmkitError
from llmkit.nodes.backends.openai import DEFAULT_BASE_URL, OpenAIChat, OpenAIEmbedder
from tests.servers.fake_llm import fake_answer, fake_vector

pytestmark = pytest.mark.anyio


def expected(texts: list[str], dim: int) -> np.ndarray:
    return np.array([fake_vector(t, dim) for t in texts], dtype=np.float32)


@pytest.mark.parametrize("encoding_format", ["base64", "float"])
async def test_300_texts_make_two_requests_and_keep_their_order(
    fake_server, transport, encoding_format
):
    fake_server.control.config(shuffle=True)  # rows come back reversed: `index` must be used
    texts = [f"text {i}" for i in range(300)]
    async with OpenAIEmbedder("fake-model", base_url=f"{fake_server.url}/v1",
                              max_inputs_per_request=256, encoding_format=encoding_format,
                              transport=transport) as embedder:
        vectors = await embedder.aembed(texts)
    stats = fake_server.control.stats()
    assert stats["requests"] == {"/v1/embeddings": 2}
    assert stats["inputs"] == {"/v1/embeddings": 300}
    assert vectors.dtype == np.float32 and vectors.flags.writeable
    np.testing.assert_array_equal(vectors, expected(texts, 16))


async def test_requests_in_flight_stay_within_concurrency(fake_server, transport):
    fake_server.control.config(latency_ms=30)
    texts = [f"t{i}" for i in range(10)]
    async with OpenAIEmbedder("fake-model", base_url=f"{fake_server.url}/v1",
                              max_inputs_per_request=2, concurrency=2,
                              transport=transport) as embedder:
        vectors = await embedder.aembed(texts)
    stats = fake_server.control.stats()
    assert stats["requests"]["/v1/embeddings"] == 5
    assert stats["peak_in_flight"] == 2
    np.testing.assert_array_equal(vectors, expected(texts, 16))


async def test_one_failed_request_fails_the_call_with_its_own_error(fake_server, transport):
    fake_server.control.faults(schedule=["ok", "400"])
    async with OpenAIEmbedder("fake-model", base_url=f"{fake_server.url}/v1",
                              max_inputs_per_request=1, concurrency=1,
                              transport=transport) as embedder:
        with pytest.raises(LlmkitError, match="400 from"):
            await embedder.aembed(["a", "b", "c"])


async def test_dim_is_sent_as_dimensions(fake_server, transport):
    async with OpenAIEmbedder("fake-model", base_url=f"{fake_server.url}/v1", dim=8,
                              transport=transport) as embedder:
        assert (await embedder.aembed([])).shape == (0, 8)
        vectors = await embedder.aembed(["a"])
    assert fake_server.control.stats()["last"]["/v1/embeddings"]["dimensions"] == 8
    np.testing.assert_array_equal(vectors, expected(["a"], 8))


async def test_generate_answers_the_last_user_message(fake_server, transport):
    async with OpenAIChat("fake-model", base_url=f"{fake_server.url}/v1",
                          transport=transport) as chat:
        assert await chat.agenerate("What is 2+2?") == fake_answer("What is 2+2?")
        messages = [{"role": "user", "content": "first"}, {"role": "assistant", "content": "x"},
                    {"role": "user", "content": "second"}]
        assert await chat.agenerate(messages) == fake_answer("second")


async def test_options_and_system_prompt_are_sent(fake_server, transport):
    async with OpenAIChat("fake-model", base_url=f"{fake_server.url}/v1", max_tokens=2,
                          stop="\n\n", seed=7, temperature=0.5, system_prompt="Be brief.",
                          transport=transport) as chat:
        assert await chat.agenerate("hello") == fake_answer("hello", max_tokens=2)
    body = fake_server.control.stats()["last"]["/v1/chat/completions"]
    assert body["messages"] == [{"role": "system", "content": "Be brief."},
                                {"role": "user", "content": "hello"}]
    assert (body["max_tokens"], body["stop"], body["seed"], body["temperature"]) == (
        2, ["\n\n"], 7, 0.5)
    assert body["stream"] is False


async def test_stream_yields_the_first_piece_before_the_answer_ends(fake_server, transport):
    fake_server.control.config(stream_delay_ms=40)  # ~8 chunks, 40 ms apart
    prompt = "tell me a long story about streams"
    async with OpenAIChat("fake-model", base_url=f"{fake_server.url}/v1",
                          transport=transport) as chat:
        start = time.perf_counter()
        pieces, first_at = [], None
        async for piece in chat.astream(prompt):
            first_at = first_at or time.perf_counter() - start
            pieces.append(piece)
        total = time.perf_counter() - start
    assert "".join(pieces) == fake_answer(prompt)
    assert len(pieces) > 3
    assert first_at < total - 0.2


async def test_a_stream_left_early_closes_its_response(fake_server, transport):
    fake_server.control.config(stream_delay_ms=20)
    async with OpenAIChat("fake-model", base_url=f"{fake_server.url}/v1",
                          transport=transport) as chat:
        stream = chat.astream("a b c d e f")
        assert await stream.__anext__() == "answer"
        await stream.aclose()
        assert await chat.agenerate("next") == fake_answer("next")


def test_fingerprint_names_what_changes_answers_and_not_the_key():
    chat = OpenAIChat("m", base_url="http://h/v1/", api_key="sk-secret", stop="x", seed=1)
    assert chat.llmkit_fingerprint() == {
        "api": "openai", "model": "m", "base_url": "http://h/v1", "temperature": 0.0,
        "max_tokens": None, "stop": ["x"], "seed": 1, "system_prompt": None}
    assert OpenAIEmbedder("e", base_url="http://h/v1", api_key="k").llmkit_fingerprint() == {
        "api": "openai", "model": "e", "base_url": "http://h/v1", "dim": None}


def test_deterministic_means_temperature_zero():
    assert OpenAIChat("m").deterministic
    assert not OpenAIChat("m", temperature=0.7, seed=3).deterministic
    assert OpenAIEmbedder("e").deterministic


def test_defaults_come_from_the_environment(monkeypatch):
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    monkeypatch.setenv("LLMKIT_MODEL", "env-model")
    assert OpenAIChat().llmkit_fingerprint()["base_url"] == DEFAULT_BASE_URL
    monkeypatch.setenv("OPENAI_BASE_URL", "http://local:8000/v1")
    chat = OpenAIChat()
    assert (chat.model, chat.http.base_url) == ("env-model", "http://local:8000/v1")
    monkeypatch.delenv("LLMKIT_MODEL")
    with pytest.raises(LlmkitError, match="LLMKIT_MODEL"):
        OpenAIChat()
