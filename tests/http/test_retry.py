"""The one retry helper: backoff with jitter, Retry-After honoured, no retries by default."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from email.utils import format_datetime

import pytest

from llmkit.errors import BackendError, RetryableError
from llmkit.http import backoff_delay, parse_retry_after, with_retries
from llmkit.nodes.openai import OpenAIChat

pytestmark = pytest.mark.anyio


def failing(*errors: Exception):
    """A call that raises `errors` in turn, then returns the number of calls made."""
    calls = []

    async def call() -> int:
        calls.append(1)
        if len(calls) <= len(errors):
            raise errors[len(calls) - 1]
        return len(calls)

    return call


async def test_retries_until_success(anyio_backend):
    call = failing(RetryableError("a"), RetryableError("b", retry_after=0.01))
    assert await with_retries(call, 2, base=0.001) == 3


async def test_gives_up_after_the_last_retry(anyio_backend):
    with pytest.raises(RetryableError, match="second"):
        await with_retries(failing(RetryableError("first"), RetryableError("second")), 1,
                           base=0.001)


async def test_other_errors_and_long_retry_afters_are_not_retried(anyio_backend):
    with pytest.raises(BackendError):
        await with_retries(failing(BackendError("auth")), 5, base=0.001)
    with pytest.raises(RetryableError, match=r"^slow down: server asked to retry after 3600 s "
                       r"\(more than cap=30\); try again after \d\d:\d\d:\d\d$"):
        await with_retries(failing(RetryableError("slow down", retry_after=3600)), 5)


def test_backoff_is_jittered_exponential_and_never_below_retry_after():
    delays = [backoff_delay(3, None, base=1.0, cap=100.0) for _ in range(200)]
    assert all(0.0 <= d <= 8.0 for d in delays) and len(set(delays)) > 100
    assert all(backoff_delay(0, 2.5, base=1.0) >= 2.5 for _ in range(50))
    assert backoff_delay(0, 31.0, cap=30.0) is None
    assert backoff_delay(10, None, base=1.0, cap=5.0) <= 5.0


def test_retry_after_reads_seconds_and_http_dates():
    assert parse_retry_after("2") == 2.0
    assert parse_retry_after("0.5") == 0.5
    soon = datetime.now(timezone.utc) + timedelta(seconds=60)
    assert 55 <= parse_retry_after(format_datetime(soon, usegmt=True)) <= 60
    past = datetime.now(timezone.utc) - timedelta(seconds=60)
    assert parse_retry_after(format_datetime(past, usegmt=True)) == 0.0
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None


async def test_clients_do_not_retry_by_default(fake_server, transport):
    fake_server.control.faults(schedule=["500"])
    async with OpenAIChat("fake-model", base_url=f"{fake_server.url}/v1",
                          transport=transport) as chat:
        with pytest.raises(RetryableError):
            await chat.agenerate("q")
    assert fake_server.control.stats()["requests"] == {"/v1/chat/completions": 1}


async def test_clients_retry_when_asked(fake_server, transport):
    fake_server.control.faults(schedule=["429", "reset"], retry_after="0")
    async with OpenAIChat("fake-model", base_url=f"{fake_server.url}/v1", retries=2,
                          transport=transport) as chat:
        assert await chat.agenerate("q")
    assert fake_server.control.stats()["requests"] == {"/v1/chat/completions": 3}
