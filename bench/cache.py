"""The cache inside a pipeline: cold vs warm runs, and what a hit costs per item.

    python -m bench.cache [--items 1000] [--latency-ms 50] [--concurrency 16]

1. Cold vs warm: `--items` inputs through a node that sleeps `--latency-ms` (an LLM call
   stand-in) with `--concurrency` calls in flight; prints both times, the ratio (target
   ≥ 100x) and the node calls of the warm run (target 0).
2. Hit cost per item in a fully cached `run_many` of 10,000 items, minus the same pipeline's
   uncached cost of a no-op: memory, SQLite and tiered stores (targets ≤ 20 µs and ≤ 100 µs).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import anyio
import numpy as np

from llmkit.cache import MemoryCache, SQLiteCache, TieredCache
from llmkit.core.node import Node, node
from llmkit.core.pipeline import Pipeline


class FakeLLM(Node):
    """Answers after a fixed latency; counts its calls."""

    inputs = {"question": str}
    outputs = {"answer": str}

    def __init__(self, latency: float):
        self.latency = latency
        self.calls = 0

    async def run(self, question):
        self.calls += 1
        await anyio.sleep(self.latency)
        return {"answer": question.upper()}


def cold_vs_warm(items: int, latency: float, concurrency: int, store) -> None:
    llm = FakeLLM(latency).configure(concurrency=concurrency)
    p = Pipeline("cached", inputs=["question"]).add("llm", llm, question="question")
    inputs = [{"question": f"question {i}"} for i in range(items)]
    start = time.perf_counter()
    cold = p.run_many(inputs, cache=store)
    cold_s = time.perf_counter() - start
    calls = llm.calls
    start = time.perf_counter()
    warm = p.run_many(inputs, cache=store)
    warm_s = time.perf_counter() - start
    assert warm == cold
    print(f"{type(store).__name__:<12} cold {cold_s:7.3f} s  warm {warm_s * 1e3:7.1f} ms  "
          f"ratio {cold_s / warm_s:7.0f}x  warm node calls {llm.calls - calls}")


def hit_cost(store, items: int = 10_000) -> float:
    """Seconds per item that a fully cached run spends beyond an uncached no-op run."""

    @node(outputs="vector", batch=True, inline=True)
    def embed(text):
        return [np.full(384, len(t), dtype=np.float32) for t in text]

    p = Pipeline("hits", inputs=["text"]).add("embed", embed.configure(max_batch=1024),
                                              text="text")
    inputs = [{"text": f"text {i}"} for i in range(items)]
    p.run_many(inputs, cache=store)  # fill

    def best(**options) -> float:
        times = []
        for _ in range(3):
            start = time.perf_counter()
            p.run_many(inputs, **options)
            times.append(time.perf_counter() - start)
        return min(times)

    uncached = best()
    cached = best(cache=store)
    return max(0.0, cached - uncached) / items


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=1000)
    parser.add_argument("--latency-ms", type=float, default=50)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        print(f"cold vs warm: {args.items} items, node latency {args.latency_ms:g} ms, "
              f"concurrency {args.concurrency}")
        cold_vs_warm(args.items, args.latency_ms / 1000, args.concurrency, MemoryCache())
        cold_vs_warm(args.items, args.latency_ms / 1000, args.concurrency,
                     SQLiteCache(Path(tmp) / "cold.db"))
        print("\nhit cost per item in a fully cached run_many of 10,000 (384-dim vectors)")
        stores = {
            "memory": MemoryCache(),
            "sqlite": SQLiteCache(Path(tmp) / "hits.db"),
            "tiered": TieredCache(MemoryCache(), SQLiteCache(Path(tmp) / "tiered.db")),
        }
        for name, store in stores.items():
            print(f"{name:<8} {hit_cost(store) * 1e6:7.1f} µs/item")


if __name__ == "__main__":
    main()
