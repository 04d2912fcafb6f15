"""The contract every cache store keeps, run against each backend.

A new backend joins by adding a maker to STORES below: given the test's request and
tmp_path, it returns a fresh, empty store. Every test here must then pass unchanged.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from llmkit.cache import (
    CacheStore,
    MemoryCache,
    SQLiteCache,
    StoreUsage,
    TieredCache,
    open_cache,
)


def make_memory(request, tmp_path) -> CacheStore:
    return MemoryCache()


def make_sqlite(request, tmp_path) -> CacheStore:
    return SQLiteCache(tmp_path / "cache.db")


def make_tiered(request, tmp_path) -> CacheStore:
    return TieredCache(MemoryCache(), SQLiteCache(tmp_path / "cache.db"))


def make_redis(request, tmp_path) -> CacheStore:
    return open_cache(request.getfixturevalue("redis_url"))


STORES: dict[str, Callable[..., CacheStore]] = {
    "memory": make_memory,
    "sqlite": make_sqlite,
    "tiered": make_tiered,
    "redis": make_redis,
}


@pytest.fixture(params=list(STORES))
def store(request, tmp_path) -> Iterator[CacheStore]:
    with STORES[request.param](request, tmp_path) as s:
        yield s


class FakeClock:
    """A clock the test moves by hand, installed on a store and on every tier under it."""

    def __init__(self, store: CacheStore) -> None:
        self.now = 1_000_000.0
        for part in (store, getattr(store, "front", None), getattr(store, "back", None)):
            if part is not None:
                part.clock = self

    def __call__(self) -> float:
        return self.now


def k(i: int) -> bytes:
    return i.to_bytes(16, "big")


def test_roundtrip(store):
    store.set_many([(k(1), b"one"), (k(2), b"two")], node="embed")
    assert store.get_many([k(1), k(2)]) == [b"one", b"two"]


def test_missing_keys_are_none(store):
    store.set_many([(k(1), b"one")], node="embed")
    assert store.get_many([k(9), k(1), k(8)]) == [None, b"one", None]


def test_order_is_preserved_with_duplicates(store):
    store.set_many([(k(i), b"v%d" % i) for i in range(5)], node="embed")
    asked = [k(3), k(0), k(3), k(7), k(0), k(4)]
    assert store.get_many(asked) == [b"v3", b"v0", b"v3", None, b"v0", b"v4"]


def test_many_keys_across_query_chunks(store):
    store.set_many([(k(i), b"%d" % i) for i in range(1200)], node="embed")
    asked = [k(i) for i in range(1300)][::-1]
    assert store.get_many(asked) == [b"%d" % i if i < 1200 else None for i in range(1300)][::-1]


def test_overwrite_replaces_value_and_node(store):
    store.set_many([(k(1), b"old")], node="a")
    store.set_many([(k(1), b"newer")], node="b")
    assert store.get_many([k(1)]) == [b"newer"]
    assert store.stats() == {"b": StoreUsage(entries=1, bytes=5)}


def test_empty_batches(store):
    store.set_many([], node="embed")
    assert store.get_many([]) == []
    assert store.stats() == {}


def test_ttl_expiry(store):
    clock = FakeClock(store)
    store.set_many([(k(1), b"short")], node="n", ttl=10)
    store.set_many([(k(2), b"forever")], node="n")
    clock.now += 9
    assert store.get_many([k(1), k(2)]) == [b"short", b"forever"]
    clock.now += 2
    assert store.get_many([k(1), k(2)]) == [None, b"forever"]
    assert store.stats() == {"n": StoreUsage(entries=1, bytes=7)}


def test_ttl_expiry_on_the_real_clock(store):
    store.set_many([(k(1), b"x")], node="n", ttl=0.05)
    time.sleep(0.1)
    assert store.get_many([k(1)]) == [None]


def test_rewrite_renews_ttl(store):
    clock = FakeClock(store)
    store.set_many([(k(1), b"x")], node="n", ttl=10)
    clock.now += 8
    store.set_many([(k(1), b"y")], node="n", ttl=10)
    clock.now += 8
    assert store.get_many([k(1)]) == [b"y"]


@pytest.mark.parametrize("ttl", [0, -1.0, float("nan")])
def test_non_positive_ttl_is_refused(store, ttl):
    with pytest.raises(ValueError, match="ttl"):
        store.set_many([(k(1), b"x")], node="n", ttl=ttl)


def test_clear_one_node_keeps_the_others(store):
    store.set_many([(k(1), b"a"), (k(2), b"b")], node="embed")
    store.set_many([(k(3), b"c")], node="search")
    assert store.clear("embed") == 2
    assert store.get_many([k(1), k(2), k(3)]) == [None, None, b"c"]
    assert store.clear("nothing-here") == 0
    assert store.clear() == 1
    assert store.get_many([k(3)]) == [None]
    assert store.stats() == {}


def test_stats_per_node(store):
    store.set_many([(k(1), b"12345"), (k(2), b"123")], node="embed")
    store.set_many([(k(3), b"1")], node="search")
    assert store.stats() == {
        "embed": StoreUsage(entries=2, bytes=8),
        "search": StoreUsage(entries=1, bytes=1),
    }


def test_large_values(store):
    big = os.urandom(2**20)
    store.set_many([(k(1), big), (k(2), big[::-1])], node="n")
    assert store.get_many([k(2), k(1)]) == [big[::-1], big]


def test_url_names_the_store(store):
    assert store.url.split("://")[0] in {"memory", "sqlite", "redis"}


def test_thread_safety(store):
    errors: list[BaseException] = []

    def hammer(worker: int) -> None:
        try:
            for batch in range(20):
                entries = [(k(worker * 10_000 + batch * 10 + i), b"w%d" % worker)
                           for i in range(10)]
                store.set_many(entries, node=f"w{worker}")
                got = store.get_many([key for key, _ in entries] + [k(worker * 10_000)])
                assert got == [b"w%d" % worker] * 11
                if batch % 7 == 0:
                    store.stats()
        except BaseException as exc:  # surfaced in the main thread below
            errors.append(exc)

    threads = [threading.Thread(target=hammer, args=(w,)) for w in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert store.stats() == {f"w{w}": StoreUsage(entries=200, bytes=400) for w in range(6)}
