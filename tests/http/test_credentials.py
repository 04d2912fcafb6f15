"""A user and password in a base URL (`http://user:pass@host/v1`, a proxy with Basic auth) are
sent as Basic auth on every transport, and the password shows in no repr, fingerprint, cache
key, message or log line."""

from __future__ import annotations

import logging
from urllib.parse import quote

import pytest

from llmkit.cache.keys import hash_value
from llmkit.errors import BackendError, LlmkitError
from llmkit.http import make_client
from llmkit.nodes.backends.ollama import OllamaEmbedder
from llmkit.nodes.backends.openai import OpenAIChat, OpenAIEmbedder
from tests.http.test_secrets import texts_of
from tests.servers.fake_llm import fake_answer

pytestmark = pytest.mark.anyio

USER, PASSWORD = "ann", "p@ss:w0rd-7c1e"


def with_credentials(url: str, password: str = PASSWORD) -> str:
    scheme, rest = url.split("://")
    return f"{scheme}://{USER}:{quote(password, safe='')}@{rest}"


async def test_credentials_in_the_base_url_are_sent_as_basic_auth(fake_server, transport):
    fake_server.control.faults(basic_auth=f"{USER}:{PASSWORD}")
    base_url = with_credentials(fake_server.url)
    async with (OpenAIEmbedder("fake-model", base_url=f"{base_url}/v1",
                               transport=transport) as openai,
                OpenAIChat("fake-model", base_url=f"{base_url}/v1", transport=transport) as chat,
                OllamaEmbedder("fake-model", base_url=base_url, transport=transport) as ollama):
        assert (await openai.aembed(["a", "b"])).shape == (2, 16)
        assert await chat.agenerate("q") == fake_answer("q")
        assert "".join([p async for p in chat.astream("q")]) == fake_answer("q")
        assert (await ollama.aembed(["a"])).shape == (1, 16)


async def test_a_wrong_password_is_a_401_that_shows_neither_password(fake_server, transport,
                                                                    caplog):
    caplog.set_level(logging.DEBUG)
    fake_server.control.faults(basic_auth=f"{USER}:{PASSWORD}")
    wrong = "wrong-" + PASSWORD
    async with OpenAIChat("fake-model", base_url=with_credentials(f"{fake_server.url}/v1", wrong),
                          transport=transport, retries=1) as chat:
        seen = [repr(chat), repr(chat.http), str(chat.llmkit_fingerprint())]
        with pytest.raises(BackendError, match="401 from") as caught:
            await chat.agenerate("q")
    seen += texts_of(caught.value) + [r.getMessage() for r in caplog.records]
    assert not [text for text in seen if "p@ss" in text or quote(PASSWORD, safe="") in text]


@pytest.mark.parametrize("fault", ["500", "reset", "truncate", "refused"])
async def test_the_password_is_in_no_message_repr_or_log_line(fake_server, transport, fault,
                                                              closed_port, caplog):
    caplog.set_level(logging.DEBUG)
    url = f"http://127.0.0.1:{closed_port}" if fault == "refused" else fake_server.url
    fake_server.control.faults(schedule=[fault], retry_after="0")
    async with OpenAIChat("fake-model", base_url=with_credentials(f"{url}/v1"),
                          transport=transport, timeout=1, retries=1) as chat:
        seen = [repr(chat), repr(chat.http), str(chat.llmkit_fingerprint())]
        try:
            seen.append("".join([p async for p in chat.astream("q")]))
        except LlmkitError as exc:
            seen += texts_of(exc)
    seen += [record.getMessage() for record in caplog.records]
    assert not [text for text in seen if "p@ss" in text or quote(PASSWORD, safe="") in text]


def test_the_fingerprint_and_cache_key_hold_the_url_without_its_credentials():
    plain = OpenAIEmbedder("e", base_url="http://proxy:8080/v1")
    one = OpenAIEmbedder("e", base_url=with_credentials("http://proxy:8080/v1"))
    other = OpenAIEmbedder("e", base_url=with_credentials("http://proxy:8080/v1", "another"))
    assert one.llmkit_fingerprint()["base_url"] == "http://proxy:8080/v1"
    assert hash_value(one) == hash_value(other) == hash_value(plain)
    assert "p@ss" not in repr(one) and "ann" not in repr(one)


def test_credentials_in_the_url_and_an_api_key_are_refused_in_one_line():
    with pytest.raises(LlmkitError) as caught:
        OpenAIChat("m", base_url=with_credentials("http://proxy:8080/v1"), api_key="sk-x")
    message = str(caught.value)
    assert message.startswith("http://proxy:8080/v1 is given with a user and password")
    assert "OPENAI_API_KEY" in message and "\n" not in message
    assert "p@ss" not in message and "sk-x" not in message


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_the_aiohttp_transport_accepts_an_absolute_url_with_credentials(fake_server,
                                                                             anyio_backend):
    fake_server.control.faults(basic_auth=f"{USER}:{PASSWORD}")
    async with make_client(transport="aiohttp") as client:
        response = await client.get(with_credentials(f"{fake_server.url}/v1/models"))
    assert response.status_code == 200
