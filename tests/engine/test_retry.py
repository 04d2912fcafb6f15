"""Retry policy edges: streams retried only before their first token, Retry-After honoured up
to a ceiling, and retries of sync nodes run in worker threads."""

import re

import anyio
import pytest

from llmkit.core.events import emit_token
from llmkit.core.node import Node, Retry, Settings, node
from llmkit.core.pipeline import Pipeline
from llmkit.errors import NodeError, RetryableError, StreamBrokenError

pytestmark = pytest.mark.anyio

QUICK = Retry(attempts=3, backoff=0.001)


class BrokenStream(Node):
    """Streams 'first ' then fails once (before or after that token), then answers."""

    inputs = {"q": str}
    outputs = {"answer": str}
    settings = Settings(retry=QUICK)

    def __init__(self, fail_before_token: bool = False) -> None:
        self.fail_before_token = fail_before_token
        self.calls = 0

    async def run(self, q):
        self.calls += 1
        if self.calls == 1 and self.fail_before_token:
            raise RetryableError("connection reset")
        emit_token("first ")
        if self.calls == 1:
            raise RetryableError("connection reset")
        emit_token("second")
        return {"answer": "first second"}


async def streamed(p: Pipeline) -> tuple[list[str], Exception | None]:
    tokens: list[str] = []
    try:
        async for event in p.astream(q="?"):
            if event.kind == "token":
                assert (event.node, event.runs) == ("g", (0,))
                tokens.append(event.data)
    except NodeError as exc:
        return tokens, exc
    return tokens, None


async def test_a_stream_that_broke_after_its_first_token_is_not_retried():
    gen = BrokenStream()
    tokens, error = await streamed(Pipeline(inputs=["q"]).add("g", gen, q="q"))
    assert tokens == ["first "]  # never "first first ..."
    assert isinstance(error.cause, StreamBrokenError)
    assert "the stream broke after 1 tokens" in str(error)
    assert "connection reset" in str(error)
    assert gen.calls == 1


async def test_a_stream_that_failed_before_its_first_token_is_retried():
    gen = BrokenStream(fail_before_token=True)
    tokens, error = await streamed(Pipeline(inputs=["q"]).add("g", gen, q="q"))
    assert error is None
    assert tokens == ["first ", "second"]
    assert gen.calls == 2


async def test_without_a_listener_a_broken_stream_is_retried():
    gen = BrokenStream()
    assert await Pipeline(inputs=["q"]).add("g", gen, q="q").arun(q="?") == {
        "answer": "first second"}
    assert gen.calls == 2


def test_retry_after_is_waited_in_full_up_to_max_retry_after():
    policy = Retry(attempts=3, max_backoff=10, max_retry_after=60)
    assert policy.delay(RetryableError("429", retry_after=30), 1) == 30
    assert policy.retries(RetryableError("429", retry_after=60), 1)
    assert not policy.retries(RetryableError("429", retry_after=61), 1)


def asks_to_wait(seconds: float, calls: list[int]):
    @node(outputs="y", retry=Retry(attempts=5, max_retry_after=60), concurrency=1)
    def limited(x):
        calls.append(x)
        raise RetryableError("429 from http://host/v1", retry_after=seconds)

    return limited


@pytest.mark.parametrize("inputs", [[{"x": 1}], [{"x": 1}, {"x": 2}]],
                         ids=["one-item", "thread-chunk"])
async def test_retry_after_beyond_max_retry_after_fails_at_once_saying_when(inputs):
    calls: list[int] = []
    p = Pipeline(inputs=["x"]).add("n", asks_to_wait(120, calls), x="x")
    with anyio.fail_after(5):  # waiting 120 s (or 60) would time out here
        results = await p.arun_many(inputs, on_error="return")
    for result in results:
        assert isinstance(result, NodeError)
        assert re.search(r"429 from http://host/v1: server asked to retry after 120 s \(more "
                         r"than max_retry_after=60\); try again after \d\d:\d\d:\d\d",
                         str(result)), str(result)
    assert sorted(calls) == [i["x"] for i in inputs]


# concurrency=1: the ready runs go to the one worker thread in chunks (`CallRunner._chunk`).
async def test_sync_thread_nodes_retry_each_failed_item_of_a_chunk():
    attempts: dict[int, int] = {}

    @node(outputs="y", retry=Retry(attempts=3, backoff=0.001), concurrency=1)
    def flaky(x):
        attempts[x] = attempts.get(x, 0) + 1
        if x % 2 and attempts[x] < 3:
            raise RetryableError("busy")
        return x * 10

    p = Pipeline(inputs=["x"]).add("n", flaky, x="x")
    assert await p.arun_many([{"x": i} for i in range(8)]) == [{"y": i * 10}
                                                                for i in range(8)]
    assert attempts == {i: 3 if i % 2 else 1 for i in range(8)}


async def test_sync_thread_node_retries_stop_after_attempts_in_all():
    attempts: dict[int, int] = {}

    @node(outputs="y", retry=Retry(attempts=2, backoff=0.001), concurrency=1)
    def always_busy(x):
        attempts[x] = attempts.get(x, 0) + 1
        raise RetryableError("busy")

    p = Pipeline(inputs=["x"]).add("n", always_busy, x="x")
    results = await p.arun_many([{"x": i} for i in range(4)], on_error="return")
    assert all(isinstance(r, NodeError) and "busy" in str(r) for r in results)
    assert attempts == {i: 2 for i in range(4)}
