"""Engine overhead: a no-op 4-node chain, 10,000 runs, next to a plain Python loop.

    python -m bench.overhead [--runs 10000] [--stream 1000000] [--quick]

Prints microseconds per node per item for each kind of node (inline, worker-thread, async,
batch), the plain loop calling the same functions; single-run latency (sync `run` through
the background loop, and `arun` inside a loop) of the chain, of a local RAG pipeline
(hashing embedder → top-4 of 2,000 chunks → context → prompt → no-op generator) next to
plain Python calling the same components, and of that pipeline fully cached; and peak RSS
of `iter_many` streaming 10k and 1M inputs (each in a fresh process). Targets (issue 11):
≤ 10 µs per node per item; one 4-node inline run ≤ 50 µs per `await arun()` and ≤ 100 µs
per sync `run()`; the local RAG pipeline's framework cost ≤ 300 µs per run; a fully
cached query ≤ 0.3 ms; peak RSS for 1M no higher than for 10k.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

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


def single_run_latency(p: Pipeline, inputs: list[dict[str, Any]], **options: Any
                       ) -> tuple[float, float]:
    """Median seconds of a sync `run()` and of an in-loop `await arun()`, over `inputs`."""
    for item in inputs[:50]:
        p.run(item, **options)
    sync_times = []
    for item in inputs:
        start = time.perf_counter()
        p.run(item, **options)
        sync_times.append(time.perf_counter() - start)

    async def in_loop() -> list[float]:
        times = []
        for item in inputs:
            start = time.perf_counter()
            await p.arun(item, **options)
            times.append(time.perf_counter() - start)
        return times

    return statistics.median(sync_times), statistics.median(anyio.run(in_loop))


def local_rag() -> tuple[Pipeline, Callable[[str], str]]:
    """The local RAG pipeline over 2,000 generated chunks, and the same work in plain Python
    (the components called directly), for the framework's cost per question."""
    from llmkit.nodes.generation.context import build_context
    from llmkit.nodes.generation.nodes import BuildContext, Prompt
    from llmkit.nodes.retrieval.corpus import Corpus
    from llmkit.nodes.retrieval.embedders import HashingEmbedder
    from llmkit.nodes.retrieval.nodes import Embed, Search

    embedder = HashingEmbedder()
    corpus = Corpus(None, embedder=embedder)
    corpus.ingest_documents([f"Document {i} tells of topic {i % 97} and of {i % 13} more."
                             for i in range(2000)])
    template = "Context:\n{context}\n\nQuestion: {question}"

    def generate(prompt: str) -> str:
        return ""

    p = (Pipeline("local_rag", inputs=["question"])
         .add("embed", Embed(embedder), text="question")
         .add("search", Search(corpus, k=4), vector="embed.vector")
         .add("context", BuildContext(), hits="search.hits")
         .add("prompt", Prompt(template), context="context.text", question="question")
         .add("generate", node(outputs="answer", inline=True)(generate), prompt="prompt.text")
         .outputs(answer="generate.answer"))

    def plain(question: str) -> str:
        vector = embedder.embed([question])
        hits = corpus.search(vector, 4)[0]
        context = build_context(hits)["text"]
        return generate(template.format(context=context, question=question))

    return p, plain


def plain_latency(fn: Callable[[str], str], questions: list[str]) -> float:
    """Median seconds of `fn(question)`."""
    times = []
    for question in questions:
        start = time.perf_counter()
        fn(question)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def single_runs(n: int) -> None:
    """Single-run latency: the no-op chains, the local RAG pipeline next to plain Python, and
    a fully cached query."""
    from llmkit.cache import MemoryCache

    print(f"\nsingle-run latency (median of {n})")
    for kind in ("inline", "thread"):
        sync, in_loop = single_run_latency(chain(kind), [{"x": i} for i in range(n)])
        print(f"{kind + ' chain':<18} run() {sync * 1e6:7.0f} µs   await arun() "
              f"{in_loop * 1e6:7.0f} µs")
    p, plain = local_rag()
    questions = [f"what does topic {i % 97} tell?" for i in range(n)]
    sync, in_loop = single_run_latency(p, [{"question": q} for q in questions])
    base = plain_latency(plain, questions)
    print(f"{'local RAG':<18} run() {sync * 1e6:7.0f} µs   await arun() {in_loop * 1e6:7.0f} µs"
          f"   plain Python {base * 1e6:5.0f} µs   framework cost (arun) "
          f"{(in_loop - base) * 1e6:5.0f} µs")
    cache = MemoryCache()
    same = [{"question": questions[0]}] * n
    sync, in_loop = single_run_latency(p, same, cache=cache)
    print(f"{'RAG, fully cached':<18} run() {sync * 1e6:7.0f} µs   await arun() "
          f"{in_loop * 1e6:7.0f} µs   = {in_loop / base:.2f}x plain Python")


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

    single_runs(500)

    print("\npeak RSS streaming through iter_many (fresh process each)")
    counts = [10_000] + ([] if args.quick else [args.stream])
    for count in counts:
        print(f"{count:>10,} inputs: {stream_peak_rss(count):7.1f} MiB")
    print(f"(this process: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB)")


if __name__ == "__main__":
    main()
