"""Retries outside the engine: the engine's policy (backoff with jitter, Retry-After honoured up
to a ceiling), and no retries by default."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from email.utils import format_datetime

import anyio
import pytest

from llmkit.errors import BackendError, RetryableError
from llmkit.http import parse_retry_after, with_retries
from llmkit.nodes.backends.openai import OpenAIChat

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
                       r"\(more than max_retry_after=30\); try again after \d\d:\d\d:\d\d$"):
        await with_retries(failing(RetryableError("slow down", retry_after=3600)), 5)


async def test_waits_follow_the_engine_policy_doubling_up_to_cap(anyio_backend, monkeypatch):
    waits = []

    async def sleep(seconds):
        waits.append(seconds)

    monkeypatch.setattr(anyio, "sleep", sleep)
    errors = [RetryableError(str(i)) for i in range(4)]
    assert await with_retries(failing(*errors), 4, base=1.0, cap=3.0) == 5
    bounds = [(0.75, 1.25), (1.5, 2.5), (2.25, 3.75), (2.25, 3.75)]  # ±25% jitter
    assert all(low <= w <= high for w, (low, high) in zip(waits, bounds, strict=True))
    waits.clear()
    assert await with_retries(failing(RetryableError("busy", retry_after=2.5)), 1) == 2
    assert waits == [2.5]


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
