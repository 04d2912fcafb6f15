"""Engine overhead: a no-op 4-node chain, 10,000 runs, next to a plain Python loop.

    python -m bench.overhead [--runs 10000] [--stream 1000000] [--quick]

Prints microseconds per node per item for each kind of node (inline, worker-thread, async,
batch), the plain loop calling the same functions, single-run latency (sync `run` through
the background loop, and `arun` inside a loop), and peak RSS of `iter_many` streaming 10k
and 1M inputs (each in a fresh process). Targets: ≤ 10 µs per node per item, single run
≤ 300 µs, peak RSS for 1M no higher than for 10k.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import anyio

from llmkit.core.node import Node, node
from llmkit.core.pipeline import Pipeline

NODES = 4


def noop(x):
    return x


async def anoop(x):
    return x


class BatchNoop(Node):
    inputs = {"x": object}
    outputs = {"x": object}

    def run_batch(self, items):
        return items


def chain(kind: str) -> Pipeline:
    p = Pipeline("overhead", inputs=["x"])
    source = "x"
    for i in range(NODES):
        if kind == "batch":
            n: Node = BatchNoop().configure(max_batch=1024, inline=True)
        elif kind == "async":
            n = node(outputs="x")(anoop)
        else:
            n = node(outputs="x", inline=kind == "inline")(noop)
        p.add(f"n{i}", n, x=source)
        source = f"n{i}.x"
    return p


def best_of(repeat: int, fn) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def plain_loop(runs: int) -> float:
    inputs = [{"x": i} for i in range(runs)]

    def loop():
        out = []
        for item in inputs:
            x = item["x"]
            for _ in range(NODES):
                x = noop(x)
            out.append({"x": x})
        return out

    return best_of(3, loop)


def single_run_latency(p: Pipeline, n: int = 500) -> tuple[float, float]:
    """Median seconds of a sync `run()` and of an in-loop `await arun()`."""
    for i in range(50):
        p.run(x=i)
    sync_times = []
    for i in range(n):
        start = time.perf_counter()
        p.run(x=i)
        sync_times.append(time.perf_counter() - start)

    async def in_loop() -> list[float]:
        times = []
        for i in range(n):
            start = time.perf_counter()
            await p.arun(x=i)
            times.append(time.perf_counter() - start)
        return times

    return statistics.median(sync_times), statistics.median(anyio.run(in_loop))


def stream_peak_rss(count: int) -> float:
    """Peak RSS in MiB of a fresh process streaming `count` inputs through `iter_many`."""
    code = (
        "import resource, sys\n"
        "from bench.overhead import chain\n"
        "p = chain('inline')\n"
        f"n = sum(1 for _ in p.iter_many({{'x': i}} for i in range({count})))\n"
        f"assert n == {count}\n"
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)\n"
    )
    root = Path(__file__).resolve().parent.parent
    out = subprocess.run([sys.executable, "-c", code], cwd=root, check=True,
                         capture_output=True, text=True)
    return float(out.stdout.strip())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--stream", type=int, default=1_000_000)
    parser.add_argument("--quick", action="store_true", help="skip the 1M streaming run")
    args = parser.parse_args()
    runs = args.runs
    inputs = [{"x": i} for i in range(runs)]

    loop = plain_loop(runs)
    print(f"no-op {NODES}-node chain, {runs:,} runs via run_many (best of 3)")
    print(f"{'kind':<10} {'µs/node/item':>13} {'vs loop':>13}")
    print(f"{'plain loop':<10} {loop / runs / NODES * 1e6:>13.2f} {1.0:>13.1f}")
    for kind in ("inline", "thread", "async", "batch"):
        p = chain(kind)
        p.run_many(inputs[:100])
        t = best_of(3, lambda p=p: p.run_many(inputs))
        print(f"{kind:<10} {t / runs / NODES * 1e6:>13.2f} {t / loop:>13.1f}")

    print("\nsingle-run latency (median of 500)")
    for kind in ("inline", "thread"):
        sync, in_loop = single_run_latency(chain(kind))
        print(f"{kind:<10} run() {sync * 1e6:7.0f} µs   await arun() {in_loop * 1e6:7.0f} µs")

    print("\npeak RSS streaming through iter_many (fresh process each)")
    counts = [10_000] + ([] if args.quick else [args.stream])
    for count in counts:
        print(f"{count:>10,} inputs: {stream_peak_rss(count):7.1f} MiB")
    print(f"(this process: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB)")


if __name__ == "__main__":
    main()
