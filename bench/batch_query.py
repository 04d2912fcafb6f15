"""The headline claim: questions through `RAGChain.batch_query` against a sequential loop.

The fake LLM server runs as a subprocess answering after `--latency-ms` (50). A `RAGChain`
with `OpenAIEmbedder` + `OpenAIChat` against it indexes a small generated corpus. For 10 and
100 distinct questions, side by side in one run: the loop `for q in questions: rag.query(q)`
and `rag.batch_query(questions)`, each with its wall time, speedup, the embedding and chat
requests the server counted, the server's peak of requests in flight, and client CPU per
question (this process's `time.process_time()`: every thread, never the server's work).
Connections are warmed first; batch figures are the median of `--rounds` rounds.

Then, against the same server at zero latency (so loop overhead shows): `--loop-queries`
sync `query()` calls through llmkit's persistent background loop, against a wrapper that
runs `asyncio.run(rag.aquery(q))` per query (closing that loop's HTTP clients each time, as
it must). Prints ratios; asserts nothing. Targets (docs/DESIGN): >= 50x at 100 questions,
>= 8x at 10, <= 2 embedding requests, <= 1 ms client CPU per question.

    python -m bench.batch_query [--latency-ms 50] [--sizes 10,100] [--rounds 3]
                                [--loop-queries 1000] [--chunks 200] [--concurrency N]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llmkit.core.scheduler import ASYNC_CONCURRENCY
from llmkit.nodes.backends.openai import OpenAIChat, OpenAIEmbedder
from llmkit.rag import RAGChain

TOPICS = ("glaciers", "tides", "volcanoes", "bees", "comets", "rivers", "deserts", "coral")


@dataclass
class Measure:
    wall: float  # seconds
    cpu_per_question: float  # seconds
    embed_requests: int
    chat_requests: int
    peak_in_flight: int


def _server_class() -> Any:
    """The fake server's process wrapper; the repo root is put on sys.path when run as a file."""
    root = str(Path(__file__).resolve().parents[1])
    if root not in sys.path:
        sys.path.insert(0, root)
    from tests.servers.process import FakeServerProcess

    return FakeServerProcess


def corpus(chunks: int) -> list[dict[str, str]]:
    """`chunks` short generated documents, one chunk each."""
    return [{"text": f"Note {i} on {TOPICS[i % len(TOPICS)]}: fact number {i * 7919 % 1009} "
                     f"about {TOPICS[(i * 3) % len(TOPICS)]} and their season {i % 4}.",
             "source": f"note-{i}.txt"} for i in range(chunks)]


def questions(n: int, tag: str) -> list[str]:
    return [f"[{tag} {i}] What links {TOPICS[i % len(TOPICS)]} and "
            f"{TOPICS[(i + 3) % len(TOPICS)]}?" for i in range(n)]


def measure(control: Any, n: int, fn: Callable[[], Any]) -> Measure:
    control.reset_stats()
    wall0, cpu0 = time.perf_counter(), time.process_time()
    fn()
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    stats = control.stats()
    requests = stats["requests"]
    return Measure(wall, cpu / n, requests.get("/v1/embeddings", 0),
                   requests.get("/v1/chat/completions", 0), stats["peak_in_flight"])


def batch_table(rag: RAGChain, control: Any, sizes: list[int], rounds: int) -> list[str]:
    rag.batch_query(questions(max(sizes), "warm-up"))  # opens the connections
    lines = [f"{'questions':>9}  {'mode':<12}{'wall':>10}{'speedup':>9}{'embed req':>11}"
             f"{'chat req':>10}{'peak in flight':>16}{'CPU/question':>14}"]
    for n in sizes:
        loop = measure(control, n, lambda n=n: [rag.query(q) for q in questions(n, "loop")])
        batches = [measure(control, n, lambda n=n, r=r: rag.batch_query(questions(n, f"b{r}")))
                   for r in range(rounds)]
        batch = sorted(batches, key=lambda m: m.wall)[len(batches) // 2]  # the median round
        for mode, m in (("sequential", loop), ("batch_query", batch)):
            lines.append(f"{n:>9}  {mode:<12}{m.wall * 1e3:>7.0f} ms{loop.wall / m.wall:>8.1f}x"
                         f"{m.embed_requests:>11}{m.chat_requests:>10}{m.peak_in_flight:>16}"
                         f"{m.cpu_per_question * 1e3:>11.2f} ms")
        if rounds > 1:
            walls = ", ".join(f"{b.wall * 1e3:.0f}" for b in batches)
            lines.append(f"{'':>11}batch_query rounds: {walls} ms")
    return lines


def loop_table(rag: RAGChain, control: Any, n: int) -> list[str]:
    embedder, chat = rag.corpus.embedder, rag.pipeline.nodes["generate"].llm

    async def aquery_and_close(question: str) -> Any:
        try:
            return await rag.aquery(question)
        finally:  # this loop's clients die with it: close their connections
            await embedder.aclose()
            await chat.aclose()

    def new_loop_each(question: str) -> Any:
        return asyncio.run(aquery_and_close(question))

    rows = []
    for name, ask in (("query() on the background loop", rag.query),
                      ("asyncio.run(aquery()) per query", new_loop_each)):
        ask("warm-up")
        m = measure(control, n, lambda ask=ask: [ask(q) for q in questions(n, "sync")])
        rows.append((name, m))
    base = rows[0][1]
    lines = [f"{'':<34}{'per query':>11}{'CPU/query':>12}{'vs background loop':>20}"]
    for name, m in rows:
        lines.append(f"{name:<34}{m.wall / n * 1e3:>8.2f} ms{m.cpu_per_question * 1e3:>9.2f} ms"
                     f"{m.wall / base.wall:>19.2f}x")
    return lines


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--latency-ms", type=float, default=50.0)
    parser.add_argument("--sizes", default="10,100", help="comma-separated question counts")
    parser.add_argument("--rounds", type=int, default=3, help="batch rounds (median shown)")
    parser.add_argument("--loop-queries", type=int, default=1000)
    parser.add_argument("--chunks", type=int, default=200, help="corpus size")
    parser.add_argument("--concurrency", type=int, default=None,
                        help="chat requests in flight (the generate node's concurrency)")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    with _server_class()("--latency-ms", str(args.latency_ms)) as server:
        base_url = f"{server.url}/v1"
        rag = RAGChain.from_documents(
            corpus(args.chunks),
            embedder=OpenAIEmbedder("fake-embed", base_url=base_url, api_key="bench"),
            llm=OpenAIChat("fake-chat", base_url=base_url, api_key="bench"))
        generate = rag.pipeline.nodes["generate"]
        if args.concurrency:
            generate.configure(concurrency=args.concurrency)
        concurrency = generate.settings.concurrency or f"{ASYNC_CONCURRENCY} (the default)"
        print(f"RAGChain (OpenAIEmbedder + OpenAIChat), fake server at {args.latency_ms:g} ms, "
              f"{args.chunks} chunks, generate concurrency {concurrency}")
        print("\n".join(batch_table(rag, server.control, sizes, args.rounds)))
        if args.loop_queries:
            server.control.config(latency_ms=0)
            print(f"\n{args.loop_queries} sync queries, one after another, server at 0 ms")
            print("\n".join(loop_table(rag, server.control, args.loop_queries)))
        print("\ntargets: >= 50x at 100 questions (>= 8x at 10), <= 2 embedding requests, "
              "<= 1 ms client CPU per question")


if __name__ == "__main__":
    main()
