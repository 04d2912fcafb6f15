"""Single-flight across processes: schedulers sharing a Redis store compute each new item
once (a lease per item), and take an item over when its lease holder dies."""

import threading
import time

import anyio
import pytest

from llmkit.cache import encode, hash_value
from llmkit.cache.keys import item_key
from llmkit.cache.stores.redis import RedisCache
from llmkit.core import memo
from llmkit.core.node import Node
from llmkit.core.pipeline import Pipeline

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend():
    return "asyncio"


class Counted(Node):
    """x * 2 after `delay` seconds, counting how often each x was computed (thread-safe)."""

    inputs = {"x": int}
    outputs = {"y": int}

    def __init__(self, delay: float = 0.05) -> None:
        self.delay = delay
        self.computed: dict[int, int] = {}
        self.lock = threading.Lock()

    def run_batch(self, items):
        time.sleep(self.delay)
        with self.lock:
            for item in items:
                self.computed[item["x"]] = self.computed.get(item["x"], 0) + 1
        return [{"y": item["x"] * 2} for item in items]


def worker(node: Counted) -> Pipeline:
    """One 'process': its own pipeline, hence its own shared scheduler."""
    return Pipeline(inputs=["x"]).add("double", node, x="x")


def key_of(node: Counted, x: int) -> bytes:
    """The item key of input `x` at `node`."""
    return item_key(node.fingerprint, {"x": hash_value(x)})


async def test_two_workers_that_get_the_same_new_items_compute_each_once(redis_url):
    node = Counted()
    stores = [RedisCache(redis_url), RedisCache(redis_url)]  # two holders: two lease tokens
    results: list[list] = [[], []]

    async def run(i: int) -> None:
        results[i] = await worker(node).arun_many([{"x": x} for x in range(100)],
                                                  cache=stores[i])

    with anyio.fail_after(20):
        async with anyio.create_task_group() as tg:
            tg.start_soon(run, 0)
            tg.start_soon(run, 1)
    assert results[0] == results[1] == [{"y": 2 * x} for x in range(100)]
    assert sorted(node.computed) == list(range(100))
    assert set(node.computed.values()) == {1}  # none computed twice
    free = RedisCache(redis_url)  # and every lease was given back
    assert free.lease_many([key_of(node, x) for x in range(100)], 1) == [True] * 100
    free.close()
    for store in stores:
        store.close()


async def test_an_item_whose_lease_holder_died_is_computed_once_the_lease_expires(redis_url):
    node = Counted(delay=0)
    p = worker(node)
    store, dead = RedisCache(redis_url), RedisCache(redis_url)
    assert dead.lease_many([key_of(node, 7)], 0.3) == [True]  # a process that took it and died
    started = time.monotonic()
    with anyio.fail_after(10):
        assert await p.arun(x=7, cache=store) == {"y": 14}
    assert time.monotonic() - started >= 0.25  # it waited for the lease to run out
    assert node.computed == {7: 1}
    store.close()
    dead.close()


async def test_a_failed_item_frees_its_lease_for_the_other_worker(redis_url, monkeypatch):
    monkeypatch.setattr(memo, "LEASE_SECONDS", 30.0)  # only a release can free it in time

    class FailsOnce(Counted):
        def run_batch(self, items):
            if not self.computed:
                self.computed[-1] = 1
                raise ValueError("first attempt fails")
            return super().run_batch(items)

    node = FailsOnce(delay=0.1)
    stores = [RedisCache(redis_url), RedisCache(redis_url)]
    outcomes: list = [None, None]

    async def run(i: int) -> None:
        outcomes[i] = (await worker(node).arun_many([{"x": 5}], cache=stores[i],
                                                     on_error="return"))[0]

    with anyio.fail_after(10):  # with the lease kept, the second would wait 30 s
        async with anyio.create_task_group() as tg:
            tg.start_soon(run, 0)
            await anyio.sleep(0.05)
            tg.start_soon(run, 1)
    assert {"y": 10} in outcomes
    for store in stores:
        store.close()


async def test_a_value_stored_between_the_read_and_the_lease_is_used_not_computed(redis_url):
    node = Counted(delay=0)
    other = RedisCache(redis_url)

    class Late(RedisCache):
        def lease_many(self, keys, seconds):
            # another process stores the items and lets go just before we take their leases
            other.set_many([(key, encode({"y": 14})) for key in keys], node="double")
            return super().lease_many(keys, seconds)

    store = Late(redis_url)
    with anyio.fail_after(10):
        assert await worker(node).arun(x=7, cache=store) == {"y": 14}
    assert node.computed == {}
    assert RedisCache(redis_url).lease_many([key_of(node, 7)], 1) == [True]  # given back
    store.close()
    other.close()
