"""Search benchmark: this machine's limits, then exact top-k search measured side by side.

    python -m bench.search [--rows 100000] [--dim 384] [--k 10] [--queries 1,10,100,1000]
    python bench/search.py --rows 1000000 --queries 100,1000 --bm25-docs 0
    python -m bench.search --blas-crossover

Prints, per query count: a one-query-at-a-time loop (`C @ q` + argpartition), llmkit's
batched blockwise `VectorIndex.search`, the naive full `Q @ C.T` + argsort, and faiss
`IndexFlatIP` when installed (in subprocesses: as is, OPENBLAS_CORETYPE=SkylakeX and =Haswell);
each as queries/s, speedup over the loop and fraction of its roofline (the loop against
memory bandwidth, batches against sgemm). Then BLAS-thread/block-size sweeps, concurrent
single-query search, and BM25 implementations. Timings are the best of --repeat runs.
No assertions: it reports.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import threading
import time
import tracemalloc
from collections.abc import Callable

import numpy as np

from llmkit.nodes.retrieval.vector_index import VectorIndex

GiB = 1024**3


def best_of(repeat: int, fn: Callable[[], object]) -> float:
    """Best wall time of `repeat` calls (after one warm-up call)."""
    fn()
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def blas_threads(n: int | None):
    """Context manager capping BLAS threads (a no-op without threadpoolctl or with None)."""
    import contextlib

    if n is None:
        return contextlib.nullcontext()
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return contextlib.nullcontext()
    return threadpool_limits(limits=n, user_api="blas")


def corpus(rows: int, dim: int, queries: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Deterministic L2-normalised float32 rows and queries."""
    rng = np.random.default_rng(seed)
    data = rng.standard_normal((rows, dim), dtype=np.float32)
    data /= np.linalg.norm(data, axis=1, keepdims=True)
    qs = rng.standard_normal((queries, dim), dtype=np.float32)
    qs /= np.linalg.norm(qs, axis=1, keepdims=True)
    return data, qs


# --------------------------------------------------------------------------- machine limits

def machine_limits(repeat: int) -> dict[str, float]:
    """Read bandwidth (GB/s, best of 1 and 2 threads), copy bandwidth, sgemm GFLOP/s."""
    a = np.ones(96 * 1024 * 1024, dtype=np.float32)  # 384 MiB, far beyond the caches
    one = best_of(repeat, a.sum)
    halves = np.array_split(a, 2)

    def two_threads() -> None:
        threads = [threading.Thread(target=h.sum) for h in halves]
        for t in threads:
            t.start()
        for t in threads:
            t.join()

    two = best_of(repeat, two_threads)
    b = np.empty_like(a)
    b.fill(0)
    copy = best_of(repeat, lambda: np.copyto(b, a))
    m = np.random.default_rng(0).standard_normal((3072, 3072), dtype=np.float32)
    gemm = best_of(repeat, lambda: m @ m)
    with blas_threads(1):
        gemm1 = best_of(repeat, lambda: m @ m)
    return {"read_1t": a.nbytes / one / 1e9, "read_2t": a.nbytes / two / 1e9,
            "read": a.nbytes / min(one, two) / 1e9, "copy": 2 * a.nbytes / copy / 1e9,
            "sgemm": 2 * 3072**3 / gemm / 1e9, "sgemm_1t": 2 * 3072**3 / gemm1 / 1e9}


# --------------------------------------------------------------------------- methods

def loop_search(data: np.ndarray, queries: np.ndarray, k: int) -> list[np.ndarray]:
    """The baseline: one `C @ q` and one argpartition per query."""
    out = []
    for q in queries:
        scores = data @ q
        top = np.argpartition(-scores, k - 1)[:k]
        out.append(top[np.argsort(-scores[top], kind="stable")])
    return out


def naive_search(data: np.ndarray, queries: np.ndarray, k: int) -> np.ndarray:
    """The seed's sketch: the full score matrix, fully sorted."""
    return np.argsort(-(queries @ data.T), axis=1)[:, :k]


def transient_mib(fn: Callable[[], object]) -> float:
    """Peak NumPy memory allocated while `fn` runs (NumPy reports to tracemalloc)."""
    tracemalloc.start()
    fn()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak / 2**20


FAISS_WORKER = """
import json, sys, time
import numpy as np
rows, dim, k, counts, repeat = json.loads(sys.argv[1])
import faiss
from bench.search import best_of, corpus
data, queries = corpus(rows, dim, max(counts))
index = faiss.IndexFlatIP(dim)
index.add(data)
print(json.dumps({str(q): best_of(repeat, lambda q=q: index.search(queries[:q], k))
                  for q in counts}))
"""


def faiss_times(rows: int, dim: int, k: int, counts: list[int], repeat: int,
                coretype: str | None) -> dict[str, float] | str:
    """faiss IndexFlatIP search times per query count, run in a subprocess so that
    OPENBLAS_CORETYPE is set before faiss's bundled OpenBLAS loads."""
    env = dict(os.environ)
    env.pop("OPENBLAS_CORETYPE", None)
    if coretype:
        env["OPENBLAS_CORETYPE"] = coretype
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [root, env.get("PYTHONPATH")]))
    proc = subprocess.run([sys.executable, "-c", FAISS_WORKER,
                           json.dumps([rows, dim, k, counts, repeat])],
                          capture_output=True, text=True, env=env, cwd=root, check=False)
    if proc.returncode == -4:  # SIGILL
        return f"crashed with an illegal instruction (OPENBLAS_CORETYPE={coretype} needs " \
               "instructions this CPU lacks, e.g. AVX-512)"
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["failed"])[-1]
        return "not installed" if "No module named 'faiss'" in proc.stderr else last
    return json.loads(proc.stdout)


# --------------------------------------------------------------------------- sections

def vector_section(args: argparse.Namespace) -> Callable[[dict[str, float]], None]:
    """Time every method; returns the printer, to be called with the machine's limits."""
    counts = [int(c) for c in args.queries.split(",")]
    rows, dim, k, repeat = args.rows, args.dim, args.k, args.repeat
    data, queries = corpus(rows, dim, max(counts))
    index = VectorIndex(dim)
    index.add([str(i) for i in range(rows)], data)
    faiss_runs = {}
    if not args.no_faiss:
        for label, core in (("faiss", None), ("faiss SkylakeX", "SkylakeX"),
                            ("faiss Haswell", "Haswell")):
            faiss_runs[label] = faiss_times(rows, dim, k, counts, repeat, core)
    measured: list[tuple[int, str, float, str, str]] = []  # q, method, time, roof, MiB
    for q in counts:
        qs = queries[:q]
        looped = min(q, args.loop_cap)  # the loop is linear in q: time a prefix, scale up
        reps = max(repeat, 30 // q)  # short runs are the noisiest: take the best of more
        t_loop = best_of(reps, lambda qs=qs, n=looped: loop_search(data, qs[:n], k)) * q / looped
        measured.append((q, "loop (C @ q + argpartition)", t_loop, "mem",
                         f"{transient_mib(lambda qs=qs: loop_search(data, qs[:1], k)):.1f}"))
        measured.append((q, "llmkit VectorIndex.search",
                         best_of(reps, lambda qs=qs: index.search(qs, k)), "gemm",
                         f"{transient_mib(lambda qs=qs: index.search(qs, k)):.1f}"))
        if q * rows * 12 <= args.naive_limit_gib * GiB:
            measured.append((q, "naive Q @ C.T + argsort",
                             best_of(max(1, repeat - 1), lambda qs=qs: naive_search(data, qs, k)),
                             "gemm", f"{q * rows * 12 / 2**20:.0f}"))
        for label, result in faiss_runs.items():
            if isinstance(result, dict):
                measured.append((q, f"{label} IndexFlatIP", result[str(q)], "gemm", ""))
    selection = selection_section(data, queries[:min(100, max(counts))], k, repeat)

    def show(limits: dict[str, float]) -> None:
        print(f"\n## Exact top-{k}, {rows:,} x {dim} float32 ({rows * dim * 4 / GiB:.2f} GiB)")
        head = (f"{'queries':>7} {'method':<26} {'time ms':>10} {'q/s':>9} {'vs loop':>8} "
                f"{'roofline':>9} {'transient MiB':>13}")
        print(head)
        print("-" * len(head))
        loop_time = {q: t for q, name, t, _, _ in measured if name.startswith("loop")}
        for q, name, t, kind, mib in measured:
            roof = (rows * dim * 4 * q / t / 1e9 / limits["read"] if kind == "mem"
                    else 2 * rows * dim * q / t / 1e9 / limits["sgemm"])
            print(f"{q:>7} {name:<26} {t * 1e3:>10.2f} {q / t:>9.0f} {loop_time[q] / t:>7.1f}x "
                  f"{roof:>5.2f} {kind:<4}{mib:>13}")
        for label, result in faiss_runs.items():
            if not isinstance(result, dict):
                print(f"{label}: {result}")
        print(selection)

    return show


def selection_section(data: np.ndarray, queries: np.ndarray, k: int, repeat: int) -> str:
    scores = queries @ data[:100_000].T
    per = scores.size
    t_sort = best_of(repeat, lambda: np.argsort(-scores, axis=1)[:, :k])
    t_part = best_of(repeat, lambda: np.argpartition(-scores, k - 1, axis=1)[:, :k])
    thresh = np.partition(scores, scores.shape[1] - k, axis=1)[:, -k]
    t_cmp = best_of(repeat, lambda: np.flatnonzero(scores >= thresh[:, None]))
    return (f"\nselection over a {scores.shape[0]} x {scores.shape[1]} score block: argsort "
            f"{t_sort / per * 1e9:.2f} ns/score, argpartition {t_part / per * 1e9:.2f} ns/score, "
            f"threshold compare+flatnonzero {t_cmp / per * 1e9:.2f} ns/score")


def sweep_section(args: argparse.Namespace, limits: dict[str, float]) -> None:
    rows, dim, k, repeat = args.rows, args.dim, args.k, args.repeat
    data, queries = corpus(rows, dim, 1000)
    print(f"\n## Sweep: block rows x threading, {rows:,} rows: q/s (fraction of sgemm)")
    modes = (("pool, BLAS 1 thread", True, None), ("caller, BLAS 1 thread", False, 1),
             ("caller, BLAS as is", False, None))
    for q in (1, 100, 1000):
        for label, parallel, threads in modes:
            cells = []
            for block in (2048, 4096, 8192, 16384, 32768):
                index = VectorIndex(dim, block_rows=block, parallel=parallel)
                index.add([str(i) for i in range(rows)], data)
                with blas_threads(threads):
                    t = best_of(repeat, lambda index=index, q=q: index.search(queries[:q], k))
                fraction = 2 * rows * dim * q / t / 1e9 / limits["sgemm"]
                cells.append(f"{block}: {q / t:6.0f} ({fraction:.2f})")
            print(f"q={q:<5} {label:<22} " + "  ".join(cells))


def concurrency_section(args: argparse.Namespace) -> None:
    rows, dim, k = args.rows, args.dim, args.k
    data, queries = corpus(rows, dim, 200)
    print("\n## 4 threads issuing single-query searches concurrently (200 queries)")
    for parallel in (True, False):
        index = VectorIndex(dim, parallel=parallel)
        index.add([str(i) for i in range(rows)], data)

        def run(index: VectorIndex = index) -> None:
            def worker(part: np.ndarray) -> None:
                for q in part:
                    index.search(q[None, :], k)
            ts = [threading.Thread(target=worker, args=(p,)) for p in np.array_split(queries, 4)]
            for t in ts:
                t.start()
            for t in ts:
                t.join()

        t = best_of(max(1, args.repeat - 1), run)
        t_one = best_of(args.repeat, lambda index=index: index.search(queries[:1], k))
        label = "shared pool, BLAS 1 thread" if parallel else "caller thread, BLAS as is"
        print(f"{label:<27} concurrent {len(queries) / t:7.0f} q/s   alone {1 / t_one:6.0f} q/s")


def blas_crossover_section(args: argparse.Namespace) -> None:
    """Where a second BLAS thread starts to pay: one search every 20 ms (as questions
    arrive), BLAS at one thread against BLAS as is, in wall time per search and in process
    CPU per search, which counts idle BLAS threads spin-waiting after each product."""
    from llmkit.nodes.retrieval import search_threads as module

    print(f"\n## BLAS threads, one search every 20 ms (BLAS_THREADS_PAY = "
          f"{module.BLAS_THREADS_PAY:.1e} multiply-adds): wall / CPU per search, ms")
    pay, searches = module.BLAS_THREADS_PAY, 20
    for rows, q in ((200, 1), (200, 10), (200, 100), (2000, 100), (8192, 100), (8192, 1024)):
        data, queries = corpus(rows, args.dim, q)
        index = VectorIndex(args.dim, parallel=False)
        index.add([str(i) for i in range(rows)], data)
        cells = []
        for label, threads in (("1 thread", 1), ("as is", None)):
            module.BLAS_THREADS_PAY = 0 if threads is None else pay  # `as is`: never capped
            try:
                with blas_threads(threads):
                    index.search(queries, args.k)
                    time.sleep(0.3)  # the warm-up's spin ends
                    wall, cpu0 = 0.0, time.process_time()
                    for _ in range(searches):
                        start = time.perf_counter()
                        index.search(queries, args.k)
                        wall += time.perf_counter() - start
                        time.sleep(0.02)
                    cpu = time.process_time() - cpu0
            finally:
                module.BLAS_THREADS_PAY = pay
            cells.append(f"{label} {wall / searches * 1e3:7.2f} / {cpu / searches * 1e3:6.2f}")
        print(f"{q:>5} queries x {rows:>5} rows ({q * rows * args.dim:.1e}):  " + "   ".join(cells))


def bm25_section(args: argparse.Namespace) -> None:
    from llmkit.nodes.retrieval.bm25 import BM25Index
    from llmkit.nodes.retrieval.embedders import tokenize

    rng = random.Random(0)
    vocab = ["".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(3, 9)))
             for _ in range(30000)]
    weights = [1 / (i + 1) for i in range(len(vocab))]  # Zipf-like word frequencies
    docs = [" ".join(rng.choices(vocab, weights, k=80)) for _ in range(args.bm25_docs)]
    queries = [" ".join(rng.choices(vocab[100:5000], k=5)) for _ in range(100)]
    ids = [str(i) for i in range(len(docs))]
    print(f"\n## BM25, {len(docs):,} docs of 80 words, 100 queries of 5 words, top-10")

    def report(name: str, build: float, search: float, n_queries: int) -> None:
        print(f"{name:<14} index {len(docs) / build:8.0f} docs/s   "
              f"search {search / n_queries * 1e3:8.2f} ms/query")

    index = BM25Index()
    start = time.perf_counter()
    index.add(ids, docs)
    index.search(["warm"], 1)  # builds the postings
    build = time.perf_counter() - start
    ours = index.search(queries, 10)
    report("llmkit", build, best_of(args.repeat, lambda: index.search(queries, 10)), 100)
    try:
        import bm25s
    except ImportError:
        print("bm25s          not installed")
    else:
        start = time.perf_counter()
        model = bm25s.BM25(k1=1.5, b=0.75, method="lucene")
        model.index([tokenize(d) for d in docs], show_progress=False)
        build = time.perf_counter() - start
        tokens = [tokenize(q) for q in queries]
        t = best_of(args.repeat, lambda: model.retrieve(tokens, k=10, show_progress=False))
        report("bm25s", build, t, 100)
        _, scores = model.retrieve(tokens, k=10, show_progress=False)
        ours_scores = np.array([[h["score"] for h in hits] for hits in ours])
        print(f"               top-10 scores equal to bm25s within 1e-5: "
              f"{np.allclose(ours_scores, scores, rtol=1e-5)}")
    try:
        from rank_bm25 import BM25Okapi
    except ImportError:
        print("rank_bm25      not installed")
    else:
        start = time.perf_counter()
        model = BM25Okapi([tokenize(d) for d in docs], k1=1.5, b=0.75)
        build = time.perf_counter() - start
        tokens = [tokenize(q) for q in queries[:10]]
        t = best_of(1, lambda: [model.get_top_n(q, ids, 10) for q in tokens])
        report("rank_bm25", build, t, 10)


def hnsw_section(args: argparse.Namespace) -> None:
    """Approximate (HNSW, the `faiss` extra) vs exact search: build time, search time and
    recall@k, side by side on the same rows (random rows are HNSW's hardest case)."""
    from llmkit.nodes.retrieval.ann import HNSWIndex
    from llmkit.nodes.retrieval.vector_index import VectorIndex

    queries = 100
    data, qs = corpus(args.rows, args.dim, queries, seed=3)
    ids = [str(i) for i in range(args.rows)]
    exact, approx = VectorIndex(args.dim), HNSWIndex(args.dim)
    exact.add(ids, data)
    approx.add(ids, data)
    start = time.perf_counter()
    approx.search(qs[:1], args.k)  # builds the graph
    build = time.perf_counter() - start
    t_exact = best_of(args.repeat, lambda: exact.search(qs, args.k))
    t_approx = best_of(args.repeat, lambda: approx.search(qs, args.k))
    truth = [{h["id"] for h in hits} for hits in exact.search(qs, args.k)]
    found = [{h["id"] for h in hits} for hits in approx.search(qs, args.k)]
    recall = np.mean([len(t & f) / args.k for t, f in zip(truth, found, strict=True)])
    print(f"\n## HNSW (m={approx.m}, ef_search={approx.ef_search}) vs exact, {args.rows:,} rows, "
          f"{queries} queries, top-{args.k}")
    print(f"graph build {build:.1f} s; exact {t_exact * 1e3:.0f} ms, HNSW {t_approx * 1e3:.0f} ms "
          f"({t_exact / t_approx:.1f}x); recall@{args.k} {recall:.3f}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--queries", default="1,10,100,1000")
    parser.add_argument("--repeat", type=int, default=3, help="timings are the best of this")
    parser.add_argument("--loop-cap", type=int, default=100,
                        help="time at most this many queries of the loop, then scale")
    parser.add_argument("--naive-limit-gib", type=float, default=4.0,
                        help="skip the naive method when its score matrix + argsort need more")
    parser.add_argument("--no-faiss", action="store_true")
    parser.add_argument("--sweep", action="store_true", help="block size x BLAS thread sweep")
    parser.add_argument("--no-concurrency", action="store_true")
    parser.add_argument("--bm25-docs", type=int, default=50_000, help="0 skips BM25")
    parser.add_argument("--hnsw", action="store_true",
                        help="also compare approximate HNSW search (needs the faiss extra)")
    parser.add_argument("--blas-crossover", action="store_true",
                        help="only: where a second BLAS thread pays for one search")
    args = parser.parse_args(argv)
    if args.blas_crossover:
        blas_crossover_section(args)
        return
    load = os.getloadavg()[0]
    before = machine_limits(args.repeat)
    show_vectors = vector_section(args)
    after = machine_limits(args.repeat)
    # Other work on a shared machine only ever lowers a measured limit: keep the best.
    limits = {key: max(before[key], after[key]) for key in before}
    print(f"## Machine (shared 2-core VM; best of {args.repeat} runs; load average {load:.2f} "
          f"at start, {os.getloadavg()[0]:.2f} after the vector runs)")
    print(f"memory read {limits['read']:.1f} GB/s (1 thread {limits['read_1t']:.1f}, "
          f"2 threads {limits['read_2t']:.1f}), copy {limits['copy']:.1f} GB/s, "
          f"sgemm {limits['sgemm']:.0f} GFLOP/s (1 thread {limits['sgemm_1t']:.0f}); "
          f"measured before and after, best kept (sgemm {before['sgemm']:.0f} / "
          f"{after['sgemm']:.0f})")
    show_vectors(limits)
    if args.sweep:
        sweep_section(args, limits)
    if not args.no_concurrency:
        concurrency_section(args)
    if args.bm25_docs:
        bm25_section(args)
    if args.hnsw:
        hnsw_section(args)


if __name__ == "__main__":
    main()
