"""The cache inside pipelines: per item, single-flight, chained keys, faults as misses."""

import logging
import sqlite3

import anyio
import numpy as np
import pytest

from llmkit.cache import MemoryCache, SQLiteCache, TieredCache
from llmkit.core.node import Node, Uncached, node
from llmkit.core.pipeline import Pipeline
from llmkit.core.stats import Profile

pytestmark = pytest.mark.anyio


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request):
    return request.param


@pytest.fixture(params=["memory", "sqlite", "tiered"])
def store(request, tmp_path):
    if request.param == "memory":
        return MemoryCache()
    if request.param == "sqlite":
        return SQLiteCache(tmp_path / "c.db")
    return TieredCache(MemoryCache(), SQLiteCache(tmp_path / "c.db"))


class Square(Node):
    """x² for a batch; records every batch it computes."""

    inputs = {"x": int}
    outputs = {"y": int}

    def __init__(self):
        self.batches = []

    def run_batch(self, items):
        self.batches.append([i["x"] for i in items])
        return [{"y": i["x"] ** 2} for i in items]


class Embed(Node):
    """A vector per text (async, one at a time), counting calls."""

    inputs = {"text": str}
    outputs = {"vector": object}

    def __init__(self, api_key: str | None = None, delay: float = 0.0):
        self.api_key, self.delay, self.calls = api_key, delay, 0

    async def run(self, text):
        self.calls += 1
        await anyio.sleep(self.delay)
        return {"vector": np.full(384, len(text), dtype=np.float32)}


class Index:
    """A resource whose content version is part of dependent nodes' fingerprints."""

    def __init__(self):
        self.docs = ["a"]

    def llmkit_fingerprint(self):
        return {"docs": len(self.docs)}


class Search(Node):
    inputs = {"vector": object}
    outputs = {"hits": list}

    def __init__(self, index: Index):
        self.index, self.calls = index, 0

    def run(self, vector):
        self.calls += 1
        return {"hits": [float(vector[0])] * len(self.index.docs)}


async def test_a_batch_with_cached_items_computes_only_the_misses(store):
    square = Square().configure(max_batch=1000)
    p = Pipeline(inputs=["x"]).add("sq", square, x="x")
    await p.arun_many([{"x": x} for x in range(0, 100, 5)], cache=store)  # 20 of them
    square.batches.clear()
    results = await p.arun_many([{"x": x} for x in range(100)], cache=store)
    assert results == [{"y": x * x} for x in range(100)]
    assert len(square.batches) == 1
    assert sorted(square.batches[0]) == [x for x in range(100) if x % 5]


async def test_a_fully_cached_rerun_calls_no_node(store):
    embed, square = Embed(), Square()
    p = (Pipeline(inputs=["text", "x"]).add("e", embed, text="text")
         .add("sq", square, x="x"))
    inputs = [{"text": f"q{i}", "x": i} for i in range(100)]
    cold = await p.arun_many(inputs, cache=store)
    calls = (embed.calls, len(square.batches))
    profile = Profile()
    warm = await p.arun_many(inputs, cache=store, profile=profile)
    assert (embed.calls, len(square.batches)) == calls
    assert profile.nodes["e"].calls == 0 and profile.nodes["sq"].calls == 0
    assert profile.nodes["e"].cache_hits == 100
    for a, b in zip(cold, warm, strict=True):
        assert np.array_equal(a["vector"], b["vector"]) and a["y"] == b["y"]


async def test_concurrent_runs_with_the_same_item_compute_it_once():
    embed = Embed(delay=0.01)
    p = Pipeline(inputs=["text"]).add("e", embed, text="text")
    results = await p.arun_many([{"text": "same"}] * 50 + [{"text": "other"}],
                                cache=MemoryCache())
    assert embed.calls == 2
    assert all(np.array_equal(r["vector"], results[0]["vector"]) for r in results[:50])


async def test_keys_chain_through_a_cached_upstream_node():
    embed, index = Embed(), Index()
    search = Search(index)
    p = (Pipeline(inputs=["text"]).add("e", embed, text="text")
         .add("s", search, vector="e.vector"))
    store = MemoryCache()
    await p.arun_many([{"text": "abc"}, {"text": "de"}], cache=store)
    await p.arun_many([{"text": "abc"}, {"text": "de"}], cache=store)
    assert (embed.calls, search.calls) == (2, 2)


async def test_keys_chained_from_different_output_ports_of_one_node_differ(store):
    # `double` reads port `low` in one pipeline and port `high` in the other: same node,
    # same upstream item; only the port tells the two inputs apart.
    @node(outputs=("low", "high"))
    def split(x):
        return {"low": x - 1, "high": x + 1}

    @node(outputs="y")
    def double(v):
        return 2 * v

    def pipeline(port):
        return (Pipeline(inputs=["x"]).add("split", split, x="x")
                .add("double", double, v=f"split.{port}").outputs(y="double.y"))

    assert await pipeline("low").arun(x=10, cache=store) == {"y": 18}
    assert await pipeline("high").arun(x=10, cache=store) == {"y": 22}


async def test_a_resource_change_makes_dependent_nodes_miss():
    index = Index()
    search = Search(index)
    p = Pipeline(inputs=["text"]).add("e", Embed(), text="text").add("s", search, vector="e.vector")
    store = MemoryCache()
    await p.arun(text="abc", cache=store)
    index.docs.append("b")  # the index gains a document
    p2 = (Pipeline(inputs=["text"]).add("e", Embed(), text="text")
          .add("s", search2 := Search(index), vector="e.vector"))
    assert await p2.arun(text="abc", cache=store) == {"hits": [3.0, 3.0]}
    assert search2.calls == 1


async def test_changing_the_api_key_keeps_the_cache():
    store = MemoryCache()
    first, second = Embed(api_key="sk-one"), Embed(api_key="sk-two")
    await Pipeline(inputs=["text"]).add("e", first, text="text").arun(text="t", cache=store)
    await Pipeline(inputs=["text"]).add("e", second, text="text").arun(text="t", cache=store)
    assert (first.calls, second.calls) == (1, 0)


async def test_non_deterministic_nodes_are_not_cached_unless_asked():
    class Sample(Node):
        inputs = {"x": int}
        outputs = {"y": float}

        def __init__(self, temperature: float):
            self.temperature, self.calls = temperature, 0
            self.deterministic = temperature == 0

        def run(self, x):
            self.calls += 1
            return {"y": x + self.temperature}

    store = MemoryCache()
    hot = Sample(0.7)
    p = Pipeline(inputs=["x"]).add("s", hot, x="x")
    await p.arun(x=1, cache=store)
    await p.arun(x=1, cache=store)
    assert hot.calls == 2
    forced = Sample(0.7).configure(cache=True)
    p = Pipeline(inputs=["x"]).add("s", forced, x="x")
    await p.arun(x=1, cache=store)
    await p.arun(x=1, cache=store)
    assert forced.calls == 1
    other = Sample(0.9).configure(cache=True)  # other sampling options: another key
    await Pipeline(inputs=["x"]).add("s", other, x="x").arun(x=1, cache=store)
    assert other.calls == 1


async def test_a_corrupt_entry_is_a_miss_and_one_warning(caplog, tmp_path):
    store = SQLiteCache(tmp_path / "c.db")
    square = Square()
    p = Pipeline(inputs=["x"]).add("sq", square, x="x")
    await p.arun_many([{"x": 1}, {"x": 2}], cache=store)
    with sqlite3.connect(tmp_path / "c.db") as conn:  # truncate every stored value
        conn.execute("UPDATE llmkit_cache SET value = substr(value, 1, 3)")
    square.batches.clear()
    with caplog.at_level(logging.WARNING, logger="llmkit.cache"):
        results = await p.arun_many([{"x": 1}, {"x": 2}], cache=store)
    assert results == [{"y": 1}, {"y": 4}]
    assert square.batches == [[1, 2]]
    assert sum("unreadable" in r.message for r in caplog.records) == 1


async def test_results_that_cannot_be_encoded_are_computed_and_not_stored(caplog):
    calls = []

    @node(outputs="obj")
    def make(x):
        calls.append(x)
        return object()

    p = Pipeline(inputs=["x"]).add("m", make, x="x")
    store = MemoryCache()
    with caplog.at_level(logging.WARNING, logger="llmkit.cache"):
        await p.arun(x=1, cache=store)
        await p.arun(x=1, cache=store)
    assert calls == [1, 1]
    assert any("cannot be cached" in r.message for r in caplog.records)


async def test_cache_off_per_node():
    square = Square().configure(cache=False)
    p = Pipeline(inputs=["x"]).add("sq", square, x="x")
    store = MemoryCache()
    await p.arun(x=3, cache=store)
    await p.arun(x=3, cache=store)
    assert len(square.batches) == 2


async def test_duplicates_joining_an_item_in_flight_do_not_hold_back_the_batch():
    # 50 copies of 2 items: the copies join the first one's lookup; the batch must flush as
    # soon as the two leaders are ready, not after the (60 s) partial-batch timer.
    square = Square().configure(max_batch=1000, max_wait_ms=60_000)
    p = Pipeline(inputs=["x"]).add("sq", square, x="x")
    with anyio.fail_after(10):
        results = await p.arun_many([{"x": i % 2} for i in range(100)], cache=MemoryCache())
    assert results == [{"y": (i % 2) ** 2} for i in range(100)]
    assert square.batches == [[0, 1]]


async def test_an_item_is_computed_for_the_runs_waiting_on_it_although_its_leader_failed():
    # Run 0 leads the lookup of x=1 at `sq`, run 1 waits for it; run 0 then fails at `check`.
    @node(outputs="ok", inline=True)
    def check(tag):
        if tag == "bad":
            raise ValueError("bad tag")
        return True

    square = Square().configure(max_wait_ms=60_000)
    p = (Pipeline(inputs=["x", "tag"]).add("check", check, tag="tag")
         .add("sq", square, x="x"))
    with anyio.fail_after(10):
        results = await p.arun_many([{"x": 1, "tag": "bad"}, {"x": 1, "tag": "good"}],
                                    cache=MemoryCache(), on_error="return")
    assert "bad tag" in str(results[0])
    assert results[1] == {"ok": True, "y": 1}


async def test_an_input_from_an_uncached_node_is_keyed_by_its_value():
    @node(outputs="y", cache=False)
    def plus_one(x):
        return x + 1

    square = Square()
    p = Pipeline(inputs=["x"]).add("up", plus_one, x="x").add("sq", square, x="up.y")
    store = MemoryCache()
    assert await p.arun(x=1, cache=store) == {"y": 4}
    assert await p.arun(x=2, cache=store) == {"y": 9}
    assert await p.arun(x=2, cache=store) == {"y": 9}
    assert square.batches == [[2], [3]]


class Provisional(Node):
    """Doubles x; an odd x's result is `Uncached` (made despite a passing failure)."""

    inputs = {"x": int}
    outputs = {"y": int}

    def __init__(self):
        self.computed = []

    def run(self, x):
        self.computed.append(x)
        return Uncached(y=2 * x) if x % 2 else {"y": 2 * x}


async def test_an_uncached_result_is_passed_on_but_computed_again_next_time(store):
    provisional = Provisional()
    p = (Pipeline("p", inputs=["x"]).add("double", provisional, x="x")
         .add("square", Square(), x="double.y").outputs(y="square.y"))
    first = await p.arun_many([{"x": x} for x in range(4)], cache=store)
    again = await p.arun_many([{"x": x} for x in range(4)], cache=store)
    assert first == again == [{"y": (2 * x) ** 2} for x in range(4)]
    assert sorted(provisional.computed) == [0, 1, 1, 2, 3, 3]  # the odd ones twice
