"""A sync node runs in a worker thread until its measured work proves shorter than a hop;
then in the event loop, and back in threads for good after one slow inline call."""

import threading
import time

import pytest

from llmkit.core import calls
from llmkit.core.node import Node, Retry
from llmkit.core.pipeline import Pipeline
from llmkit.errors import RetryableError

pytestmark = pytest.mark.anyio


class Where(Node):
    """x + 1, noting the thread of each call; sleeps `delays[x]` seconds when given."""

    inputs = {"x": int}
    outputs = {"x": int}

    def __init__(self, delays: dict[int, float] | None = None,
                 failures: dict[int, int] | None = None) -> None:
        self.delays, self.failures = delays or {}, dict(failures or {})
        self.threads: list[int] = []

    def run(self, x):
        self.threads.append(threading.get_ident())
        if self.failures.get(x):
            self.failures[x] -= 1
            raise RetryableError("busy, try again")
        if x in self.delays:
            time.sleep(self.delays[x])
        return {"x": x + 1}


async def one_by_one(node: Node, xs) -> list[bool]:
    """Run `xs` one run at a time; for each, whether the node ran on the loop's thread."""
    p = Pipeline(inputs=["x"]).add("n", node, x="x")
    here = []
    for x in xs:
        assert await p.arun(x=x) == {"x": x + 1}
        here.append(node.threads[-1] == threading.get_ident())
    return here


async def test_a_cheap_sync_node_moves_into_the_loop_after_three_timed_calls():
    assert await one_by_one(Where(), range(6)) == [False] * calls.MEASURED_CALLS + [True] * 3


async def test_a_node_whose_work_is_longer_than_a_hop_stays_in_threads():
    slow = {x: 2 * calls.INLINE_SECONDS for x in range(5)}
    assert await one_by_one(Where(slow), range(5)) == [False] * 5


async def test_one_slow_inline_call_sends_the_node_back_to_threads_for_good():
    node = Where({4: 2 * calls.SLOW_INLINE})  # cheap, then once slow: it ran in the loop
    # 40 cheap calls later its average work is cheap again; it stays in threads all the same
    here = await one_by_one(node, range(45))
    assert here == [False] * 3 + [True] * 2 + [False] * 40


@pytest.mark.parametrize(("inline", "expected"), [(True, True), (False, False)])
async def test_a_node_that_chose_is_never_second_guessed(inline, expected):
    assert await one_by_one(Where().configure(inline=inline), range(5)) == [expected] * 5


async def test_a_failure_the_retry_policy_accepts_is_retried_in_a_thread():
    node = Where(failures={5: 1}).configure(retry=Retry(attempts=2, backoff=0))
    here = await one_by_one(node, range(6))
    assert here[3:] == [True, True, False]  # item 5: inline, failed, retried in a thread
    assert len(node.threads) == 7


async def test_a_node_marked_inline_with_retries_runs_in_threads_where_it_can_retry():
    node = Where().configure(inline=True, retry=Retry(attempts=2, backoff=0))
    assert await one_by_one(node, range(5)) == [False] * 5
