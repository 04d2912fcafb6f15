"""Cache store and key figures, measured side by side in one run.

    python -m bench.cache_store        (or: python bench/cache_store.py)

Prints the cost of a hit per item (batches of 100) for each store, write throughput batched
against one transaction per entry, and how many keys per second `hash_value` + `item_key`
make for 384-dim float32 vectors. Figures are the best of a few repeats; no timing is asserted.
With redis-py and `redis-server` installed, `RedisCache` runs alongside, on a local server
started for the run (a loopback round trip per batch: a remote server adds its network RTT).
"""

from __future__ import annotations

import os
import random
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from llmkit.cache import (
    CacheStore,
    MemoryCache,
    SQLiteCache,
    TieredCache,
    decode,
    encode,
    hash_value,
    item_key,
    open_cache,
)
from tests.servers.redis_server import RedisServer

ENTRIES = 10_000
BATCH = 100
DIM = 384


def best(run: Callable[[], None], repeats: int = 3) -> float:
    """Seconds taken by the fastest of `repeats` calls of `run`."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times)


def fill(store: CacheStore, keys: list[bytes], value: bytes) -> None:
    for start in range(0, len(keys), 500):
        store.set_many([(key, value) for key in keys[start : start + 500]], node="embed")


def hit_us(store: CacheStore, keys: list[bytes], batches: int = 200) -> float:
    """Microseconds per item of `get_many` on random batches of present keys."""
    rnd = random.Random(0)
    picks = [rnd.sample(keys, BATCH) for _ in range(batches)]

    def run() -> None:
        for batch in picks:
            store.get_many(batch)

    return best(run) / (batches * BATCH) * 1e6


def cold_tiered_us(back: CacheStore, keys: list[bytes]) -> float:
    """Microseconds per item when every read misses the front: back read plus promotion."""
    batches = [keys[i : i + BATCH] for i in range(0, len(keys), BATCH)]

    def run() -> None:
        tiered = TieredCache(MemoryCache(), back)
        for batch in batches:
            tiered.get_many(batch)

    return best(run) / len(keys) * 1e6


def writes_per_s(make: Callable[[], CacheStore], value: bytes, count: int, batch: int) -> float:
    def run() -> None:
        with make() as store:
            keys = [os.urandom(16) for _ in range(count)]
            for start in range(0, count, batch):
                store.set_many([(key, value) for key in keys[start : start + batch]], node="w")

    return count / best(run)


def lease_us(store: CacheStore, keys: list[bytes]) -> float:
    """Microseconds per key of `lease_many` then `release_many`, in batches."""

    def run() -> None:
        for start in range(0, len(keys), BATCH):
            batch = keys[start : start + BATCH]
            store.lease_many(batch, 30)
            store.release_many(batch)

    return best(run) / len(keys) * 1e6


def start_redis() -> RedisServer | None:
    try:
        import redis  # noqa: F401  (the store needs it)

        return RedisServer()
    except (ImportError, OSError, RuntimeError) as exc:
        print(f"  (RedisCache skipped: {exc})")
        return None


def main() -> None:
    vector = np.random.default_rng(0).random(DIM, dtype=np.float32)
    value = encode(vector)
    keys = [os.urandom(16) for _ in range(ENTRIES)]
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        counter = iter(range(10**6))

        def new_sqlite() -> SQLiteCache:
            return SQLiteCache(folder / f"w{next(counter)}.db")

        print(f"cache stores: {ENTRIES} entries of {len(value)} B (a {DIM}-float32 vector), "
              f"hits in batches of {BATCH}")
        memory = MemoryCache()
        fill(memory, keys, value)
        sqlite = SQLiteCache(folder / "cache.db")
        fill(sqlite, keys, value)
        tiered = TieredCache(MemoryCache(), sqlite)
        print(f"  hit, MemoryCache            {hit_us(memory, keys):8.2f} µs/item")
        print(f"  hit, SQLiteCache            {hit_us(sqlite, keys):8.2f} µs/item")
        print(f"  hit, TieredCache (warm)     {hit_us(tiered, keys):8.2f} µs/item")
        cold = cold_tiered_us(sqlite, keys)
        print(f"  hit, TieredCache (cold)     {cold:8.2f} µs/item  (back read + promotion)")
        misses = [os.urandom(16) for _ in range(ENTRIES)]
        print(f"  miss, SQLiteCache           {hit_us(sqlite, misses):8.2f} µs/item")
        server = start_redis()
        if server is not None:
            rcache = open_cache(f"{server.url}?prefix=bench")
            fill(rcache, keys, value)
            print(f"  hit, RedisCache             {hit_us(rcache, keys):8.2f} µs/item")
            print(f"  miss, RedisCache            {hit_us(rcache, misses):8.2f} µs/item")
            cold = cold_tiered_us(rcache, keys)
            print(f"  hit, Tiered/Redis (cold)    {cold:8.2f} µs/item  (Redis read + promotion)")
            print(f"  lease + release, RedisCache {lease_us(rcache, misses):8.2f} µs/key")

        print("writes:")
        batched = writes_per_s(new_sqlite, value, 5000, BATCH)
        single = writes_per_s(new_sqlite, value, 300, 1)
        print(f"  SQLiteCache, {BATCH} per set_many  {batched:10.0f} entries/s")
        print(f"  SQLiteCache, 1 per set_many    {single:10.0f} entries/s")
        mem = writes_per_s(MemoryCache, value, 5000, BATCH)
        print(f"  MemoryCache, {BATCH} per set_many  {mem:10.0f} entries/s")
        if server is not None:
            def new_redis() -> CacheStore:
                return open_cache(f"{server.url}?prefix=w{next(counter)}")

            batched = writes_per_s(new_redis, value, 5000, BATCH)
            single = writes_per_s(new_redis, value, 300, 1)
            print(f"  RedisCache, {BATCH} per set_many   {batched:10.0f} entries/s")
            print(f"  RedisCache, 1 per set_many     {single:10.0f} entries/s")
            rcache.close()
            server.close()
        tiered.close()
        memory.close()

    count = 20_000
    vectors = [np.random.default_rng(i).random(DIM, dtype=np.float32) for i in range(200)]
    fingerprint = hash_value("search:v1")

    def make_keys() -> None:
        for i in range(count):
            item_key(fingerprint, {"vector": hash_value(vectors[i % 200])})

    n = 20_000
    print("keys and codec:")
    print(f"  hash_value + item_key, {DIM}-float32  {count / best(make_keys):10.0f} keys/s")
    hashing = best(lambda: [hash_value(vector) for _ in range(n)]) / n * 1e6
    print(f"  hash_value alone, {DIM}-float32       {hashing:6.2f} µs")
    enc = best(lambda: [encode(vector) for _ in range(n)]) / n * 1e6
    dec = best(lambda: [decode(value) for _ in range(n)]) / n * 1e6
    print(f"  encode / decode, {DIM}-float32       {enc:6.2f} / {dec:.2f} µs")


if __name__ == "__main__":
    main()
