"""`RAGChain` on OpenAI-compatible embeddings and chat: batching across questions, retries of
injected failures, Retry-After, and streaming, all counted at the server."""

from __future__ import annotations

import asyncio
import re
import time

from llmkit.rag import RAGChain
from tests.e2e.conftest import last_prompt
from tests.servers.fake_llm import fake_answer

ANSWER = re.compile(r"^answer [0-9a-f]{8} to: Context:\n\[1\] ")


def questions(n: int, tag: str = "") -> list[str]:
    return [f"Question {i}{tag}: what do bees, tides and glaciers have in common?"
            for i in range(n)]


def test_100_questions_are_one_embedding_request(rag: RAGChain, fake_server):
    answers = rag.batch_query(questions(100))
    stats = fake_server.control.stats()
    assert 1 <= stats["requests"]["/v1/embeddings"] <= 2
    assert stats["inputs"]["/v1/embeddings"] == 100
    assert stats["requests"]["/v1/chat/completions"] == 100
    assert all(ANSWER.match(a.text) for a in answers)
    assert len({a.text for a in answers}) == 100  # each question got its own answer
    for i in (0, 57, 99):  # the batch's answers are the ones asked one at a time
        assert rag.query(questions(100)[i]).text == answers[i].text


def test_100_questions_from_the_callers_event_loop(rag: RAGChain, fake_server):
    async def ask() -> list:
        try:
            return await rag.abatch_query(questions(100, " async"))
        finally:  # this loop's HTTP clients: close them before the loop ends
            await rag.corpus.embedder.aclose()
            await rag.pipeline.nodes["generate"].llm.aclose()

    answers = asyncio.run(ask())
    stats = fake_server.control.stats()
    assert 1 <= stats["requests"]["/v1/embeddings"] <= 2
    assert stats["requests"]["/v1/chat/completions"] == 100
    assert all(ANSWER.match(a.text) for a in answers)


def test_10_percent_server_errors_still_answer_every_question(rag: RAGChain, fake_server):
    # The nodes make 4 attempts, so a question is lost with probability 1e-4 (2% for 200).
    # Seed 7 fails 26 of the first 201 requests, 1 of the next ~27 (the retries), and none
    # of the ~25 after: no question can fail 4 times, however the requests interleave.
    fake_server.control.faults(fail_rate=0.1, fail_with="500", seed=7)
    answers = rag.batch_query(questions(200))
    assert len(answers) == 200 and all(ANSWER.match(a.text) for a in answers)
    stats = fake_server.control.stats()
    asked = 200 + 1  # chat requests and the one embedding request, before retries
    assert stats["total"] > asked  # some did fail, and were retried


def test_429_waits_as_long_as_retry_after_says(rag: RAGChain, fake_server):
    fake_server.control.faults(schedule=["429"], retry_after="1")
    started = time.monotonic()
    answer = rag.query("How do bees find flowers?")
    elapsed = time.monotonic() - started
    assert 0.95 <= elapsed < 5.0
    assert answer.text == fake_answer(last_prompt(fake_server))
    stats = fake_server.control.stats()
    assert stats["requests"] == {"/v1/embeddings": 2, "/v1/chat/completions": 1}


def test_stream_yields_tokens_before_the_answer_ends(rag: RAGChain, fake_server):
    fake_server.control.config(stream_delay_ms=60)
    started = time.monotonic()
    arrivals, pieces = [], []
    for piece in rag.stream("How do bees find flowers?"):
        arrivals.append(time.monotonic() - started)
        pieces.append(piece)
    total = time.monotonic() - started
    assert len(pieces) > 5
    assert arrivals[0] < total / 2 and arrivals[-1] - arrivals[0] > 0.2
    assert "".join(pieces) == fake_answer(last_prompt(fake_server))


def test_pipeline_astream_yields_token_events_as_they_come(rag: RAGChain, fake_server):
    fake_server.control.config(stream_delay_ms=60)

    async def listen() -> tuple[list, list, dict]:
        started = time.monotonic()
        tokens, times, result = [], [], None
        try:
            async for event in rag.pipeline.astream({"question": "Why are there tides?"}):
                if event.kind == "token":
                    tokens.append(event.data)
                    times.append(time.monotonic() - started)
                elif event.kind == "result":
                    result = event.data
            times.append(time.monotonic() - started)
            return tokens, times, result
        finally:
            await rag.corpus.embedder.aclose()
            await rag.pipeline.nodes["generate"].llm.aclose()

    tokens, times, result = asyncio.run(listen())
    assert len(tokens) > 5
    assert times[0] < times[-1] / 2  # the first token came well before the end
    assert "".join(tokens) == result["answer"] == fake_answer(last_prompt(fake_server))
