"""The Dask executor against the local runner, measured side by side in one run.

    python -m bench.scale [N]        (or: python bench/scale.py [N])

Items/s for a CPU-bound pipeline (the hashing embedder over 4,000-character texts) run
locally, then on a LocalCluster of 1 and of 2 worker processes (one thread each; its
scheduler runs in this process), with the ratios; the per-block overhead of the executor
(a block of one cheap item, end to end); what Dask costs to ship a block of 1,000 small
inputs as a list against one pickle; and the client's RSS over 1,000,000 tiny inputs
(`--million`). For each Dask run it also prints how much of a core this process (the
client, with the LocalCluster's scheduler inside it) kept busy: on 2 cores, what it takes
is what the two workers do not get. No timing is asserted; docs/dask.md has the figures.
"""

from __future__ import annotations

import pickle
import random
import sys
import time

from llmkit.dask import DaskExecutor
from llmkit.spec import load_pipeline

EMBED = """\
llmkit: 1
name: embed
inputs: [text]
resources:
  embedder: {type: hashing, dim: 384}
nodes:
  embed: {type: embed, params: {embedder: $embedder}, inputs: {text: text}}
outputs: {vector: embed.vector}
"""


def texts(n: int, chars: int = 4000) -> list[dict[str, str]]:
    words = [f"w{i}" for i in range(5000)]
    rng = random.Random(7)
    return [{"text": " ".join(rng.choice(words) for _ in range(chars // 6))[:chars]}
            for _ in range(n)]


def items_per_second(run, inputs) -> float:
    rate, _ = timed(run, inputs)
    return rate


def timed(run, inputs) -> tuple[float, float]:
    """Items/s of `run(inputs)`, and the cores this process kept busy meanwhile (its CPU time
    over the wall time: with Dask, the client and the scheduler it hosts)."""
    start, cpu = time.perf_counter(), time.process_time()
    run(inputs)
    wall = time.perf_counter() - start
    return len(inputs) / wall, (time.process_time() - cpu) / wall


def cluster(workers: int):
    from distributed import Client, LocalCluster

    local = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                         dashboard_address=None)
    return local, Client(local)


def scale(n: int) -> None:
    p = load_pipeline(EMBED)
    inputs = texts(n)
    p.run_many(inputs[:200])  # warm: numpy, the embedder's tables
    local = items_per_second(lambda xs: p.run_many(xs), inputs)
    print(f"{'local runner':<28} {local:>9,.0f} items/s   1.00x")
    by_workers = {}
    for workers in (1, 2):
        cl, client = cluster(workers)
        try:
            executor = DaskExecutor(client, block_size=250)
            p.run_many(inputs[:500], executor=executor)  # every worker builds the pipeline
            rate, cores = timed(lambda xs, e=executor: p.run_many(xs, executor=e), inputs)
            by_workers[workers] = rate
            print(f"{f'dask, {workers} worker process(es)':<28} {rate:>9,.0f} items/s   "
                  f"{rate / local:.2f}x local   client + scheduler busy {cores:.2f} core")
            if workers == 1:
                block_overhead(p, client)
        finally:
            client.close()
            cl.close()
    print(f"2 workers / 1 worker: {by_workers[2] / by_workers[1]:.2f}x")
    shipping()


def block_overhead(p, client) -> None:
    """One block of one cheap item, end to end: what each block adds whatever its size."""
    executor = DaskExecutor(client, block_size=1, blocks_in_flight=1)
    one = texts(200, chars=20)
    rate = items_per_second(lambda xs: p.run_many(xs, executor=executor), one)
    print(f"per-block overhead (1 block in flight, 1 cheap item each): {1e3 / rate:.2f} ms")


def _same(x):
    return x


def shipping() -> None:
    """A block of 1,000 small dicts sent and returned: as a Python list, or one pickle."""
    cl, client = cluster(2)
    try:
        block = [{"question": f"question number {i}?"} for i in range(1000)]
        for name, arg, after in (("a list of dicts", block, lambda r: r),
                                 ("one pickle", pickle.dumps(block, protocol=5),
                                  pickle.loads)):
            start = time.perf_counter()
            futures = [client.submit(_same, arg, pure=False) for _ in range(50)]
            for result in client.gather(futures):
                after(result)
            print(f"1,000-item block shipped as {name:<16}: "
                  f"{(time.perf_counter() - start) / 50 * 1e3:6.1f} ms per block")
    finally:
        client.close()
        cl.close()


def million(n: int = 1_000_000) -> None:
    import psutil

    from tests.dask.nodes import ECHO  # its echo node: a module workers can import

    p = load_pipeline(ECHO)
    me = psutil.Process()
    with DaskExecutor() as executor:
        start = time.perf_counter()
        for i, _ in enumerate(p.iter_many(({"x": i} for i in range(n)), executor=executor), 1):
            if i in (20_000, n // 10, n // 2, n):
                print(f"{i:>9,} inputs: client RSS {me.memory_info().rss / 2**20:6.1f} MiB, "
                      f"{i / (time.perf_counter() - start):,.0f} items/s")


if __name__ == "__main__":
    if "--million" in sys.argv:
        million()
    else:
        scale(int(sys.argv[1]) if len(sys.argv) > 1 else 4000)
