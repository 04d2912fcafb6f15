"""The API key is sent, and appears in no message, repr, fingerprint or log line."""

from __future__ import annotations

import logging

import pytest

from llmkit.errors import LlmkitError
from llmkit.nodes.backends.openai import OpenAIChat, OpenAIEmbedder

pytestmark = pytest.mark.anyio

KEY = "sk-llmkit-test-9f8e7d6c5b4a"


def texts_of(exc: BaseException | None) -> list[str]:
    """str and repr of an exception and of every exception it was raised from."""
    seen: list[str] = []
    while exc is not None:
        seen += [str(exc), repr(exc)]
        exc = exc.__cause__ or exc.__context__
    return seen


async def failure_texts(server, transport, faults: list[str], retries: int) -> list[str]:
    """Everything a user could be shown about a failed call made with KEY."""
    server.control.faults(schedule=faults, retry_after="0", huge_bytes=2**20)  # quotes the key
    async with OpenAIChat("fake-model", base_url=f"{server.url}/v1", api_key=KEY,
                          transport=transport, timeout=0.3, retries=retries,
                          max_response_bytes=2**19) as chat:
        seen = [repr(chat), repr(chat.http), str(chat.llmkit_fingerprint())]
        with pytest.raises(LlmkitError) as caught:
            await chat.agenerate("q")
    assert "api_key='***'" in repr(chat)
    return seen + texts_of(caught.value)


@pytest.mark.parametrize("fault", ["401", "400", "404", "429", "500", "malformed", "reset",
                                   "truncate", "trickle", "huge"])
async def test_the_key_appears_in_no_message(fake_server, transport, fault, caplog):
    caplog.set_level(logging.DEBUG)
    seen = await failure_texts(fake_server, transport, [fault], retries=0)
    seen += [record.getMessage() for record in caplog.records]
    assert not [text for text in seen if KEY in text or KEY[3:] in text]


async def test_the_key_appears_in_no_error_of_a_cut_stream(fake_server, transport, caplog):
    caplog.set_level(logging.DEBUG)
    fake_server.control.faults(schedule=["truncate"])
    async with OpenAIChat("fake-model", base_url=f"{fake_server.url}/v1", api_key=KEY,
                          transport=transport) as chat:
        with pytest.raises(LlmkitError, match="ended before its end marker") as caught:
            async for _ in chat.astream("q"):
                pass
    seen = texts_of(caught.value) + [record.getMessage() for record in caplog.records]
    assert not [text for text in seen if KEY in text or KEY[3:] in text]


async def test_the_key_appears_in_no_retry_log_line(fake_server, transport, caplog):
    caplog.set_level(logging.DEBUG)
    seen = await failure_texts(fake_server, transport, ["429", "400"], retries=1)
    assert "retry 1/1" in caplog.text
    seen += [record.getMessage() for record in caplog.records]
    assert not [text for text in seen if KEY in text or KEY[3:] in text]


async def test_the_key_is_sent_as_a_bearer_token(fake_server, transport):
    fake_server.control.faults(api_key=KEY)
    async with OpenAIEmbedder("fake-model", base_url=f"{fake_server.url}/v1", api_key=KEY,
                              transport=transport) as embedder:
        assert (await embedder.aembed(["a"])).shape == (1, 16)


async def test_the_key_comes_from_openai_api_key(fake_server, transport, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    fake_server.control.faults(api_key=KEY)
    async with OpenAIChat("fake-model", base_url=f"{fake_server.url}/v1",
                          transport=transport) as chat:
        assert await chat.agenerate("q")
        assert KEY not in repr(chat)
