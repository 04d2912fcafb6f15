"""What each HTTP failure becomes, and so whether the engine retries it."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from email.utils import format_datetime

import pytest

from llmkit.errors import BackendError, LlmkitError, RetryableError
from llmkit.nodes.backends.openai import OpenAIChat

pytestmark = pytest.mark.anyio

RETRY_TABLE = [
    # fault injected by the server, error raised
    ("429", RetryableError),
    ("500", RetryableError),
    ("503", RetryableError),
    ("408", RetryableError),
    ("hang", RetryableError),
    ("reset", RetryableError),
    ("malformed", RetryableError),
    ("400", LlmkitError),
    ("422", LlmkitError),
    ("401", BackendError),
    ("403", BackendError),
    ("404", BackendError),
]


def chat(server, transport, **options) -> OpenAIChat:
    return OpenAIChat("fake-model", base_url=f"{server.url}/v1", transport=transport,
                      timeout=0.3, **options)


@pytest.mark.parametrize(("fault", "error"), RETRY_TABLE)
async def test_each_failure_maps_to_its_error(fake_server, transport, fault, error):
    fake_server.control.faults(schedule=[fault], retry_after="2")
    async with chat(fake_server, transport) as llm:
        with pytest.raises(LlmkitError) as caught:
            await llm.agenerate("q")
    assert type(caught.value) is error
    assert "\n" not in str(caught.value)
    assert f"{fake_server.url}/v1/chat/completions" in str(caught.value) or fault in (
        "hang", "reset", "malformed")


async def test_429_carries_retry_after_in_seconds(fake_server, transport):
    fake_server.control.faults(schedule=["429"], retry_after="2")
    async with chat(fake_server, transport) as llm:
        with pytest.raises(RetryableError) as caught:
            await llm.agenerate("q")
    assert caught.value.retry_after == 2.0
    assert str(caught.value).startswith("429 from ")


async def test_429_retry_after_as_http_date(fake_server, transport):
    when = datetime.now(timezone.utc) + timedelta(seconds=30)
    fake_server.control.faults(schedule=["429"], retry_after=format_datetime(when, usegmt=True))
    async with chat(fake_server, transport) as llm:
        with pytest.raises(RetryableError) as caught:
            await llm.agenerate("q")
    assert 25 <= caught.value.retry_after <= 30


async def test_401_names_the_env_var_with_the_key(fake_server, transport):
    fake_server.control.faults(api_key="right")
    async with chat(fake_server, transport, api_key="wrong") as llm:
        with pytest.raises(BackendError, match=r"401 from .*/v1/chat/completions: check "
                                               r"OPENAI_API_KEY"):
            await llm.agenerate("q")


async def test_404_for_an_unknown_model_names_the_model(fake_server, transport):
    fake_server.control.config(models=["known"])
    async with OpenAIChat("unknown", base_url=f"{fake_server.url}/v1",
                          transport=transport) as llm:
        with pytest.raises(BackendError, match="model 'unknown' not found"):
            await llm.agenerate("q")


async def test_404_for_a_wrong_base_url_names_the_url(fake_server, transport):
    async with OpenAIChat("m", base_url=fake_server.url, transport=transport) as llm:
        with pytest.raises(BackendError, match=r"404 from http://127\.0\.0\.1:\d+/chat/"
                                               r"completions: not found, check the base URL"):
            await llm.agenerate("q")


async def test_other_4xx_quotes_the_server_in_one_line(fake_server, transport):
    fake_server.control.faults(schedule=["400"])
    async with chat(fake_server, transport) as llm:
        with pytest.raises(LlmkitError, match=r"400 from .*: injected 400"):
            await llm.agenerate("q")


async def test_connection_refused_asks_whether_the_server_runs(closed_port, transport):
    async with OpenAIChat("m", base_url=f"http://127.0.0.1:{closed_port}/v1",
                          transport=transport) as llm:
        with pytest.raises(BackendError) as caught:
            await llm.agenerate("q")
    assert type(caught.value) is BackendError
    assert str(caught.value).startswith(
        f"cannot connect to http://127.0.0.1:{closed_port}: is the server running?")


async def test_malformed_json_is_one_retryable_line(fake_server, transport):
    fake_server.control.faults(schedule=["malformed"])
    async with chat(fake_server, transport) as llm:
        with pytest.raises(RetryableError, match=r"malformed JSON from http://.*/v1/chat/"):
            await llm.agenerate("q")


@pytest.mark.parametrize(("fault", "error"), [("500", RetryableError), ("401", BackendError),
                                              ("hang", RetryableError)])
async def test_a_stream_raises_before_its_first_piece(fake_server, transport, fault, error):
    fake_server.control.faults(schedule=[fault])
    async with chat(fake_server, transport) as llm:
        with pytest.raises(error):
            async for _ in llm.astream("q"):
                pytest.fail("a failed stream yielded a piece")
