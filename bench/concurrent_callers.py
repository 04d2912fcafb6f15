"""Concurrent callers: many `arun`/`run` calls at once batch like one `arun_many` (issue 11).

A service, an agent framework or a notebook calls `await p.arun(...)` from many tasks, or
`p.run()` from many threads, and every call joins the pipeline's one shared scheduler on its
event loop (llmkit/core/shared.py), so their runs share micro-batches. This bench measures
that on `pipelines/rag_openai.yaml` (embed → search top-4 → build_context → generate),
loaded with `load_pipeline` on a generated corpus (bench/batch_query.py's `corpus`), against
an OpenAI-compatible server: by default llmkit's fake server (tests/servers/fake_llm.py), run
as a subprocess answering every request after `--latency-ms` (50); with `--base-url URL` any
running server instead, e.g. the independent stdlib one:

    python /work/shared/bench/fake_openai_server.py --port 0 --port-file F --latency-ms 50
    python -m bench.concurrent_callers --base-url http://127.0.0.1:$(cat F)/v1

Request counts come from our server's `/_stats`, or from the server's `GET /stats` in the
independent server's format (`?reset=1`), else "n/a". The async parts run on an event loop of
their own (an anyio blocking portal, as a user's loop: not llmkit's background loop); that
loop's connections are warmed first, as are the background loop's for part 3. Client CPU is
this process's `time.process_time()` (every thread; never the server's). Three tables, each
side by side in one run:

1. `--callers` (100) concurrent `arun` (one `asyncio.gather`) against one `arun_many` of the
   same number of questions: wall time (median of `--rounds`), their ratio, the embedding and
   chat requests the server counted, client CPU per question. Targets: wall within 1.3x,
   at most 2 embedding requests.
2. Poisson arrivals at each of `--rates` runs/s for `--seconds` (seeded by `--seed`), each
   run its own task started at its arrival time: requests per run (embedding, chat) and the
   p50/p99 *added latency*, a run's time from its scheduled arrival to its answer minus a
   lone run's latency (the median of `--lone-runs` sequential `arun`s measured just before
   each rate, in the same process). Batching shows as embedding requests per run below 1.
3. `--threads` (32) threads each calling sync `p.run()` for `--thread-runs` questions in a
   loop, against one thread doing the same: embedding requests per run, wall, runs/s.

Prints tables; asserts nothing.

    python -m bench.concurrent_callers [--latency-ms 50] [--rates 50,200,1000] [--seconds 2]
        [--seed 0] [--callers 100] [--rounds 3] [--lone-runs 20] [--threads 32]
        [--thread-runs 10] [--chunks 200] [--base-url URL [--embed-model M] [--chat-model M]]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import random
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from math import ceil
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import anyio
import anyio.from_thread

from bench.batch_query import (
    Counter,
    Counts,
    Measure,
    add_server_options,
    against_server,
    measure,
    questions,
    rag_openai_pipeline,
)
from llmkit.core.pipeline import Pipeline

Portal = anyio.from_thread.BlockingPortal


def _inputs(qs: list[str]) -> list[dict[str, str]]:
    return [{"question": q} for q in qs]


async def gather_arun(pipeline: Pipeline, qs: list[str]) -> None:
    """One `arun` per question, all at once: what many independent callers do."""
    await asyncio.gather(*(pipeline.arun(question=q) for q in qs))


async def arun_many(pipeline: Pipeline, qs: list[str]) -> None:
    await pipeline.arun_many(_inputs(qs))


async def lone_latencies(pipeline: Pipeline, qs: list[str]) -> list[float]:
    """Seconds per `arun`, one after another."""
    latencies = []
    for q in qs:
        start = time.perf_counter()
        await pipeline.arun(question=q)
        latencies.append(time.perf_counter() - start)
    return latencies


async def poisson_arrivals(pipeline: Pipeline, qs: list[str], offsets: list[float]) -> list[float]:
    """Start one task per question at its offset (s) from now; each one's seconds from its
    scheduled arrival to its answer (a late start, the event loop being busy, counts)."""
    async def one(q: str, arrival: float) -> float:
        await pipeline.arun(question=q)
        return time.perf_counter() - arrival

    start, tasks = time.perf_counter(), []
    for q, offset in zip(qs, offsets, strict=True):
        delay = start + offset - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(q, start + offset)))
    return list(await asyncio.gather(*tasks))


def percentile(values: list[float], q: float) -> float:
    """The nearest-rank `q` quantile (0 < q <= 1)."""
    ordered = sorted(values)
    return ordered[max(0, ceil(q * len(ordered)) - 1)]


def _counts(counts: Counts | None) -> tuple[str, str]:
    """Embedding and chat request cells, "n/a" when the server counts nothing."""
    if counts is None:
        return "n/a", "n/a"
    return f"{counts.embed_requests}", f"{counts.chat_requests}"


def _per_run(counts: Counts | None, n: int) -> tuple[str, str]:
    """Embedding and chat requests per run."""
    if counts is None:
        return "n/a", "n/a"
    return f"{counts.embed_requests / n:.3f}", f"{counts.chat_requests / n:.2f}"


def callers_table(pipeline: Pipeline, portal: Portal, counter: Counter, n: int,
                  rounds: int) -> list[str]:
    """Part 1: a gather of `n` `arun` calls against one `arun_many` of `n`, medians of rounds."""
    modes = {"gather of arun": gather_arun, "arun_many": arun_many}
    taken: dict[str, list[Measure]] = {mode: [] for mode in modes}
    for r in range(rounds):
        for mode, fn in modes.items():  # in turn, so load on the machine hits both alike
            qs = questions(n, f"{mode} {r}")
            taken[mode].append(measure(counter, n, lambda fn=fn, qs=qs: portal.call(
                fn, pipeline, qs)))
    median = {mode: sorted(ms, key=lambda m: m.wall)[len(ms) // 2] for mode, ms in taken.items()}
    base = median["arun_many"].wall
    lines = [f"{'questions':>9}  {'mode':<16}{'wall':>10}{'vs arun_many':>14}{'embed req':>11}"
             f"{'chat req':>10}{'CPU/question':>14}"]
    for mode, m in median.items():
        embed, chat = _counts(m.counts)
        lines.append(f"{n:>9}  {mode:<16}{m.wall * 1e3:>7.0f} ms{m.wall / base:>13.2f}x"
                     f"{embed:>11}{chat:>10}{m.cpu_per_question * 1e3:>11.2f} ms")
    if rounds > 1:
        for mode, ms in taken.items():
            lines.append(f"{'':>11}{mode} rounds: "
                         f"{', '.join(f'{m.wall * 1e3:.0f}' for m in ms)} ms")
    return lines


def sweep_table(pipeline: Pipeline, portal: Portal, counter: Counter, args: argparse.Namespace,
                ) -> list[str]:
    """Part 2: Poisson arrivals at each rate; requests per run and latency added to a lone run's."""
    rng = random.Random(args.seed)
    lines = [f"{'runs/s':>7}{'runs':>6}{'embed/run':>11}{'chat/run':>10}{'lone run':>11}"
             f"{'p50 added':>12}{'p99 added':>12}{'CPU/run':>11}"]
    for rate in args.rates:
        lone = statistics.median(portal.call(lone_latencies, pipeline,
                                             questions(args.lone_runs, f"lone {rate}")))
        n = max(1, round(rate * args.seconds))
        offsets = list(itertools.accumulate(rng.expovariate(rate) for _ in range(n)))
        qs, latencies = questions(n, f"rate {rate}"), []
        m = measure(counter, n, lambda qs=qs, offsets=offsets, latencies=latencies:
                    latencies.extend(portal.call(poisson_arrivals, pipeline, qs, offsets)))
        embed, chat = _per_run(m.counts, n)
        p50, p99 = (percentile(latencies, q) - lone for q in (0.5, 0.99))
        lines.append(f"{rate:>7g}{n:>6}{embed:>11}{chat:>10}{lone * 1e3:>8.1f} ms"
                     f"{p50 * 1e3:>9.1f} ms{p99 * 1e3:>9.1f} ms{m.cpu_per_question * 1e3:>8.2f} ms")
    return lines


def threads_table(pipeline: Pipeline, counter: Counter, threads: int, per_thread: int,
                  ) -> list[str]:
    """Part 3: `threads` threads each running `per_thread` questions with sync `run()`, against
    one thread doing the same."""
    def loop(tag: str) -> None:
        for q in questions(per_thread, tag):
            pipeline.run(question=q)

    def many() -> None:
        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(loop, [f"thread {i}" for i in range(threads)]))

    pipeline.run_many(_inputs(questions(threads, "warm-up")))  # the background loop's clients
    rows = [("1 thread", per_thread, measure(counter, per_thread, lambda: loop("single"))),
            (f"{threads} threads", threads * per_thread,
             measure(counter, threads * per_thread, many))]
    lines = [f"{'':<12}{'runs':>6}{'wall':>10}{'runs/s':>9}{'embed req':>11}{'embed/run':>11}"
             f"{'chat/run':>10}{'CPU/run':>11}"]
    for label, n, m in rows:
        embed, _ = _counts(m.counts)
        per_embed, per_chat = _per_run(m.counts, n)
        lines.append(f"{label:<12}{n:>6}{m.wall * 1e3:>7.0f} ms{n / m.wall:>9.1f}{embed:>11}"
                     f"{per_embed:>11}{per_chat:>10}{m.cpu_per_question * 1e3:>8.2f} ms")
    return lines


def _run(args: argparse.Namespace, base_url: str, counter: Counter, where: str) -> None:
    """Print the three tables for the server at `base_url`."""
    with rag_openai_pipeline(args, base_url) as pipeline:
        print(f"pipelines/rag_openai.yaml, {where}, {args.chunks} chunks")
        with anyio.from_thread.start_blocking_portal() as portal:  # a user's event loop
            portal.call(arun_many, pipeline, questions(args.callers, "warm-up"))  # index, clients
            portal.call(gather_arun, pipeline, questions(args.callers, "warm-up"))
            print(f"\n1. {args.callers} concurrent arun against one arun_many of the same, on "
                  f"a user's event loop (median of {args.rounds})")
            print("\n".join(callers_table(pipeline, portal, counter, args.callers,
                                           args.rounds)))
            print(f"\n2. Poisson arrivals for {args.seconds:g} s per rate (seed {args.seed}); "
                  f"added latency: arrival to answer minus a lone run's (median of "
                  f"{args.lone_runs})")
            print("\n".join(sweep_table(pipeline, portal, counter, args)))
        print(f"\n3. sync run() in a loop, {args.thread_runs} questions per thread, on the "
              f"background loop")
        print("\n".join(threads_table(pipeline, counter, args.threads, args.thread_runs)))
    print("\ntargets: concurrent arun within 1.3x of arun_many's wall, <= 2 embedding requests")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_server_options(parser)
    parser.add_argument("--rates", default="50,200,1000", help="comma-separated runs/s")
    parser.add_argument("--seconds", type=float, default=2.0, help="arrivals per rate")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--callers", type=int, default=100, help="concurrent arun calls")
    parser.add_argument("--rounds", type=int, default=3, help="part 1 rounds (median shown)")
    parser.add_argument("--lone-runs", type=int, default=20, help="sequential arun per rate")
    parser.add_argument("--threads", type=int, default=32)
    parser.add_argument("--thread-runs", type=int, default=10, help="questions per thread")
    args = parser.parse_args(argv)
    args.rates = [float(r) for r in args.rates.split(",")]
    against_server(args, lambda base_url, counter, where, _: _run(args, base_url, counter,
                                                                   where))

if __name__ == "__main__":
    main()
