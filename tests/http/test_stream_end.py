"""A stream is an answer only once its end marker came: one cut short raises a retryable error
after its pieces, so a partial answer is never returned whole (nor cached)."""

from __future__ import annotations

import pytest

from llmkit.cache import MemoryCache
from llmkit.errors import RetryableError
from llmkit.nodes.backends.ollama import OllamaChat
from llmkit.nodes.backends.openai import OpenAIChat
from llmkit.rag import RAGChain
from tests.servers.fake_llm import fake_answer

pytestmark = pytest.mark.anyio

PROMPT = "tell me a story that is long enough to be cut in half"


def openai_chat(server, transport) -> OpenAIChat:
    return OpenAIChat("fake-model", base_url=f"{server.url}/v1", transport=transport)


def ollama_chat(server, transport) -> OllamaChat:
    return OllamaChat("fake-model", base_url=server.url, transport=transport)


@pytest.mark.parametrize(("make_chat", "marker"), [(openai_chat, "data: [DONE]"),
                                                   (ollama_chat, '"done": true')])
async def test_a_stream_cut_before_its_end_marker_raises_after_its_pieces(
    fake_server, transport, make_chat, marker
):
    fake_server.control.faults(schedule=["truncate"])
    pieces = []
    async with make_chat(fake_server, transport) as chat:
        with pytest.raises(RetryableError) as caught:
            async for piece in chat.astream(PROMPT):
                pieces.append(piece)
        assert await chat.agenerate(PROMPT) == fake_answer(PROMPT)  # the server is whole again
    shown = "".join(pieces)
    assert shown and fake_answer(PROMPT).startswith(shown) and shown != fake_answer(PROMPT)
    assert "ended before its end marker" in str(caught.value) and marker in str(caught.value)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize("make_chat", [openai_chat, ollama_chat])
async def test_a_whole_stream_is_read_to_its_end_marker(fake_server, transport, make_chat):
    async with make_chat(fake_server, transport) as chat:
        assert "".join([p async for p in chat.astream(PROMPT)]) == fake_answer(PROMPT)


def test_done_or_a_finish_reason_completes_an_openai_stream():
    chat = OpenAIChat("m", base_url="http://127.0.0.1:9/v1")
    assert chat._piece(b"data: [DONE]") == ("", True)
    finish = b'data: {"choices": [{"index": 0, "delta": {}, "finish_reason": "length"}]}'
    assert chat._piece(finish) == ("", True)
    assert chat._piece(b'data: {"choices": [{"delta": {"content": "a"}, '
                       b'"finish_reason": null}]}') == ("a", False)
    assert chat._piece(b'data: {"choices": [], "usage": {"total_tokens": 3}}') == ("", False)


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_a_cut_stream_never_reaches_the_cache(fake_server, anyio_backend):
    llm = OpenAIChat("fake-model", base_url=f"{fake_server.url}/v1")
    rag = RAGChain.from_documents(["Bees make honey from nectar."], llm=llm,
                                  cache=MemoryCache())
    fake_server.control.faults(schedule=["truncate"])
    question = "What do bees make?"
    try:
        try:
            async for _ in rag.astream(question):
                pass
        except Exception:
            pass  # the engine may give up on a stream that already showed tokens
        answer = (await rag.aquery(question)).text
    finally:
        await llm.aclose()
    last = fake_server.control.stats()["last"]["/v1/chat/completions"]
    assert answer == fake_answer(last["messages"][-1]["content"])  # never the half answer
