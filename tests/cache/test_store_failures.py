"""A failing cache store never fails a run: a failed read is all misses, a failed write is
skipped, and each gives one warning per node and outage, for stores read inline and in a
thread."""

import logging

import pytest

from llmkit.cache import MemoryCache
from llmkit.core.node import node
from llmkit.core.pipeline import Pipeline
from llmkit.errors import CacheError

pytestmark = pytest.mark.anyio


class BrokenStore(MemoryCache):
    """A store whose reads or writes fail as a full disk or a locked database would."""

    def __init__(self, fail: str, blocking: bool) -> None:
        super().__init__()
        self.fail, self.blocking = fail, blocking  # type: ignore[misc]
        self.reads = self.writes = 0

    def get_entries(self, keys):
        self.reads += 1
        if self.fail == "read":
            raise CacheError("cache.db: database is locked")
        return super().get_entries(keys)

    def set_many(self, entries, *, node, ttl=None):
        self.writes += 1
        if self.fail == "write":
            raise CacheError("cache.db: disk full")
        super().set_many(entries, node=node, ttl=ttl)


@pytest.mark.parametrize("blocking", [False, True], ids=["inline", "thread"])
@pytest.mark.parametrize(("fail", "warning"), [("read", "cache read failed"),
                                               ("write", "cache write failed")])
async def test_a_failing_store_leaves_runs_whole_with_one_warning(caplog, fail, warning,
                                                                 blocking):
    calls = []

    @node(outputs="y")
    def double(x):
        calls.append(x)
        return 2 * x

    store = BrokenStore(fail, blocking)
    p = Pipeline(inputs=["x"]).add("double", double, x="x")
    with caplog.at_level(logging.WARNING, logger="llmkit.cache"):
        for _ in range(2):
            # window=1: one run at a time, so one read and one write per item
            assert await p.arun_many([{"x": i} for i in range(5)], cache=store,
                                     window=1) == [{"y": 2 * i} for i in range(5)]
    assert sorted(calls) == sorted(list(range(5)) * 2)  # nothing was served from the cache
    assert store.reads == store.writes == 10  # tried for every item, never gave up
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 1  # once per node while the store keeps failing
    assert all(warning in m and "node 'double'" in m and "cache.db" in m for m in messages)


@pytest.mark.parametrize("blocking", [False, True], ids=["inline", "thread"])
@pytest.mark.parametrize("fail", ["read", "write"])
async def test_a_store_that_recovers_and_fails_again_warns_again(caplog, fail, blocking):
    p = Pipeline(inputs=["x"]).add("double", node(outputs="y")(lambda x: 2 * x), x="x")
    store = BrokenStore(fail, blocking)
    with caplog.at_level(logging.WARNING, logger="llmkit.cache"):
        for n, outage in enumerate((True, True, False, True)):
            store.fail = fail if outage else "nothing"
            await p.arun_many([{"x": 10 * n + i} for i in range(3)], cache=store, window=1)
    assert len(caplog.records) == 2  # the first outage, then the one after the recovery
