"""Token accounting against the fake server: the tokens a `Profile`, the events and the
runs report are the ones the server's `usage` reported (it sums them in /_stats), whole,
streamed (`stream_options.include_usage`) and from Ollama's counts; prices turn them into
costs."""

from __future__ import annotations

import asyncio

import pytest

from llmkit import load_pipeline
from llmkit.core.stats import Profile
from llmkit.core.usage import Usage, _meter
from llmkit.nodes.backends.ollama import OllamaChat, OllamaEmbedder
from llmkit.nodes.backends.openai import OpenAIChat
from tests.e2e.conftest import PIPELINES, server_env

QUESTIONS = [{"question": f"Question {i}: why do tides rise and fall?"} for i in range(6)]


@pytest.fixture
def rag(fake_server, tmp_path):
    p = load_pipeline(PIPELINES / "rag_openai.yaml", env=server_env(fake_server, tmp_path))
    p.run_many(QUESTIONS)  # builds the index (its embeddings are no node's)
    fake_server.control.reset_stats()
    return p


def reported(fake_server) -> Usage:
    usage = fake_server.control.stats()["usage"]
    return Usage(usage["prompt_tokens"], usage["completion_tokens"])


def test_profile_tokens_are_what_the_server_reported(fake_server, rag):
    profile = Profile()
    rag.run_many(QUESTIONS, profile=profile)
    server = reported(fake_server)
    assert server.completion_tokens > 0
    assert profile.usage == server
    assert profile.nodes["generate"].completion_tokens == server.completion_tokens
    assert profile.nodes["embed"].prompt_tokens > 0  # the questions' embeddings
    assert profile.nodes["embed"].completion_tokens == 0
    assert "prompt tok" in str(profile)


def test_streamed_answers_report_their_usage_per_run(fake_server, rag):
    events = []
    profile = Profile()
    rag.run_many(QUESTIONS, profile=profile, on_event=events.append)  # listening: streamed
    assert any(e.kind == "token" for e in events)  # the answers were streamed
    server = reported(fake_server)
    assert profile.usage == server
    per_run = [e.usage for e in events if e.kind == "run_finished"]
    assert len(per_run) == len(QUESTIONS) and all(u.completion_tokens for u in per_run)
    total = Usage()
    for usage in per_run:
        total.add(usage)
    assert total == server  # a batch's tokens are shared out among its runs, exactly


def test_prices_give_costs(fake_server, tmp_path):
    llm = OpenAIChat("fake-chat", base_url=f"{fake_server.url}/v1",
                     price={"prompt": 2.0, "completion": 10.0})

    async def answer() -> Usage:
        meter = Usage()
        _meter.set(meter)
        await llm.agenerate("three words here")
        await llm.aclose()
        return meter

    meter = asyncio.run(answer())
    assert meter.prompt_tokens == 3
    assert meter.cost == pytest.approx((3 * 2.0 + meter.completion_tokens * 10.0) / 1e6)


@pytest.mark.parametrize("stream", [False, True])
def test_ollama_counts_are_read(fake_server, stream):
    llm = OllamaChat("fake-chat", base_url=fake_server.url)
    embedder = OllamaEmbedder("fake-embed", base_url=fake_server.url)

    async def spend() -> Usage:
        meter = Usage()
        _meter.set(meter)
        if stream:
            async for _ in llm.astream("four words of prompt"):
                pass
        else:
            await llm.agenerate("four words of prompt")
        await embedder.aembed(["two words", "and three more"])
        await llm.aclose()
        await embedder.aclose()
        return meter

    meter = asyncio.run(spend())
    assert meter == reported(fake_server)
    assert meter.prompt_tokens == 4 + 5 and meter.completion_tokens > 0


@pytest.mark.parametrize("price", [{"input": 1.0}, {"prompt": -1}, {"prompt": "1"}, [1, 2]])
def test_price_must_be_per_prompt_or_completion(price):
    with pytest.raises(ValueError, match="price must map prompt"):
        OpenAIChat("m", base_url="http://127.0.0.1:9/v1", price=price)
