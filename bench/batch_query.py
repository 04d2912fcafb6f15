"""The headline claim: questions through `RAGChain.batch_query` against a sequential loop.

A `RAGChain` with `OpenAIEmbedder` + `OpenAIChat` indexes a small generated corpus on an
OpenAI-compatible server: by default llmkit's fake server (tests/servers/fake_llm.py), run
as a subprocess answering after `--latency-ms` (50); with `--base-url URL` any running server
instead (nothing is started). `--baseline` adds the same table for the RAG
loop written by hand with asyncio, aiohttp and NumPy (bench/handwritten_rag.py), measured in
the same run: the per-question cost llmkit is held against. `--yaml` runs
`pipelines/rag_openai.yaml` (`load_pipeline(...)
.run` in a loop against `.run_many`) in place of the RAGChain, on the same generated corpus.
For 10 and 100 distinct questions, side by side in one run: the loop `for q in questions:
rag.query(q)` and `rag.batch_query(questions)`, each with its wall time, speedup, the
embedding and chat requests the server counted, the server's peak of requests in flight, and
client CPU per question (this process's `time.process_time()`: every thread, never the
server's work). Counts come from the fake server's `/_stats`, or with `--base-url` from the
server's `GET /stats` in the format of the independent stdlib server
(/work/shared/bench/fake_openai_server.py: `requests` per path, `max_inflight`, reset by
`?reset=1`); a server without one shows "n/a". Connections are warmed first; batch figures
are the median of `--rounds` rounds.

Then, on our own fake server at zero latency (so loop overhead shows; skipped with
`--base-url` or `--yaml`): `--loop-queries` sync `query()` calls through llmkit's persistent
background loop, against a wrapper that runs `asyncio.run(rag.aquery(q))` per query (closing
that loop's HTTP clients each time, as it must). Prints ratios; asserts nothing. Targets
(issue 11): >= 50x at 100 questions, >= 8x at 10, <= 2 embedding requests, <= 1 ms client
CPU per question in batch, <= 1.5 ms sequentially.

    python -m bench.batch_query [--latency-ms 50] [--sizes 10,100] [--rounds 3] [--yaml]
                                [--baseline] [--loop-queries 1000] [--chunks 200]
                                [--concurrency N]
                                [--base-url URL [--embed-model M] [--chat-model M]]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

import httpx

from bench.handwritten_rag import HandwrittenRAG
from llmkit.core.scheduler import ASYNC_CONCURRENCY
from llmkit.nodes.backends.openai import OpenAIChat, OpenAIEmbedder
from llmkit.rag import RAGChain

ROOT = Path(__file__).resolve().parents[1]
TOPICS = ("glaciers", "tides", "volcanoes", "bees", "comets", "rivers", "deserts", "coral")


@dataclass
class Counts:
    """What the server counted since the last reset."""

    embed_requests: int
    chat_requests: int
    peak_in_flight: int


class Counter(Protocol):
    """A server's request counters: reset before a measurement, read after it."""

    def reset(self) -> None: ...

    def read(self) -> Counts | None: ...


@dataclass
class Measure:
    wall: float  # seconds
    cpu_per_question: float  # seconds
    counts: Counts | None  # None: the server offers no counters


@dataclass
class Subject:
    """What is measured: one question at a time, and many at once."""

    label: str
    one: Callable[[str], Any]
    many: Callable[[list[str]], Any]


class FakeServerCounter:
    """Counts from our own fake server's `/_stats`."""

    def __init__(self, control: Any, api_path: str) -> None:
        self.control, self.api_path = control, api_path

    def reset(self) -> None:
        self.control.reset_stats()

    def read(self) -> Counts:
        stats = self.control.stats()
        requests = stats["requests"]
        return Counts(requests.get(f"{self.api_path}/embeddings", 0),
                      requests.get(f"{self.api_path}/chat/completions", 0),
                      stats["peak_in_flight"])


class StatsEndpointCounter:
    """Counts from a server's `GET /stats` (independent fake server format), or none."""

    def __init__(self, base_url: str) -> None:
        parts = urlsplit(base_url)
        self.api_path = parts.path.rstrip("/")
        self.http = httpx.Client(base_url=f"{parts.scheme}://{parts.netloc}", timeout=5.0)
        self.available = self._probe()

    def _get(self, query: str = "") -> dict[str, Any] | None:
        try:
            response = self.http.get(f"/stats{query}")
            stats = response.json() if response.status_code == 200 else None
        except (httpx.HTTPError, ValueError):
            return None
        return stats if isinstance(stats, dict) and isinstance(stats.get("requests"), dict) \
            else None

    def _probe(self) -> bool:
        """Whether /stats exists and `?reset=1` zeroes it (else counts would be cumulative)."""
        if self._get("?reset=1") is None:
            return False
        after = self._get()
        return after is not None and not any(after["requests"].values())

    def reset(self) -> None:
        if self.available:
            self._get("?reset=1")

    def read(self) -> Counts | None:
        stats = self._get() if self.available else None
        if stats is None:
            return None
        requests, peak = stats["requests"], stats.get("max_inflight", {})
        return Counts(requests.get(f"{self.api_path}/embeddings", 0),
                      requests.get(f"{self.api_path}/chat/completions", 0),
                      peak.get("total", 0) if isinstance(peak, dict)
                      else stats.get("peak_in_flight", 0))


def _server_class() -> Any:
    """The fake server's process wrapper; the repo root is put on sys.path when run as a file."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
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


def measure(counter: Counter, n: int, fn: Callable[[], Any]) -> Measure:
    counter.reset()
    wall0, cpu0 = time.perf_counter(), time.process_time()
    fn()
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    return Measure(wall, cpu / n, counter.read())


def _count_cells(counts: Counts | None) -> str:
    if counts is None:
        return f"{'n/a':>11}{'n/a':>10}{'n/a':>16}"
    return f"{counts.embed_requests:>11}{counts.chat_requests:>10}{counts.peak_in_flight:>16}"


def batch_table(subject: Subject, counter: Counter, sizes: list[int], rounds: int) -> list[str]:
    subject.many(questions(max(sizes), "warm-up"))  # opens the connections
    lines = [f"{'questions':>9}  {'mode':<12}{'wall':>10}{'speedup':>9}{'embed req':>11}"
             f"{'chat req':>10}{'peak in flight':>16}{'CPU/question':>14}"]
    for n in sizes:
        loop = measure(counter, n, lambda n=n: [subject.one(q) for q in questions(n, "loop")])
        batches = [measure(counter, n, lambda n=n, r=r: subject.many(questions(n, f"b{r}")))
                   for r in range(rounds)]
        batch = sorted(batches, key=lambda m: m.wall)[len(batches) // 2]  # the median round
        for mode, m in (("sequential", loop), (subject.label, batch)):
            lines.append(f"{n:>9}  {mode:<12}{m.wall * 1e3:>7.0f} ms{loop.wall / m.wall:>8.1f}x"
                         f"{_count_cells(m.counts)}{m.cpu_per_question * 1e3:>11.2f} ms")
        if rounds > 1:
            walls = ", ".join(f"{b.wall * 1e3:.0f}" for b in batches)
            lines.append(f"{'':>11}{subject.label} rounds: {walls} ms")
    return lines


def loop_table(rag: RAGChain, counter: Counter, n: int) -> list[str]:
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
        m = measure(counter, n, lambda ask=ask: [ask(q) for q in questions(n, "sync")])
        rows.append((name, m))
    base = rows[0][1]
    lines = [f"{'':<34}{'per query':>11}{'CPU/query':>12}{'vs background loop':>20}"]
    for name, m in rows:
        lines.append(f"{name:<34}{m.wall / n * 1e3:>8.2f} ms{m.cpu_per_question * 1e3:>9.2f} ms"
                     f"{m.wall / base.wall:>19.2f}x")
    return lines


def rag_chain(args: argparse.Namespace, base_url: str) -> tuple[Subject, RAGChain, str]:
    """The RAGChain under test, and a line that describes it."""
    rag = RAGChain.from_documents(
        corpus(args.chunks),
        embedder=OpenAIEmbedder(args.embed_model, base_url=base_url, api_key=args.api_key),
        llm=OpenAIChat(args.chat_model, base_url=base_url, api_key=args.api_key),
        cache=None)  # measure the calls: a chain's default cache would answer repeats
    generate = rag.pipeline.nodes["generate"]
    if args.concurrency:
        generate.configure(concurrency=args.concurrency)
    concurrency = generate.settings.concurrency or f"{ASYNC_CONCURRENCY} (the default)"
    return (Subject("batch_query", rag.query, rag.batch_query), rag,
            f"RAGChain (OpenAIEmbedder + OpenAIChat), generate concurrency {concurrency}")


def rag_openai_env(args: argparse.Namespace, base_url: str, folder: Path) -> dict[str, str]:
    """The environment `pipelines/rag_openai.yaml` reads, its generated corpus written to
    `folder`/docs and its index kept in `folder`/index."""
    docs = Path(folder, "docs")
    docs.mkdir()
    for doc in corpus(args.chunks):
        Path(docs, doc["source"]).write_text(doc["text"], encoding="utf-8")
    return {"OPENAI_BASE_URL": base_url, "OPENAI_API_KEY": args.api_key,
            "LLMKIT_MODEL": args.chat_model, "LLMKIT_EMBED_MODEL": args.embed_model,
            "LLMKIT_INDEX": str(Path(folder, "index")), "LLMKIT_DOCS": str(docs)}


@contextlib.contextmanager
def rag_openai_pipeline(args: argparse.Namespace, base_url: str) -> Iterator[Any]:
    """`pipelines/rag_openai.yaml` on the generated corpus, written to a temporary folder."""
    from llmkit import load_pipeline

    with tempfile.TemporaryDirectory(prefix="llmkit-bench-") as tmp:
        yield load_pipeline(ROOT / "pipelines" / "rag_openai.yaml",
                            env=rag_openai_env(args, base_url, Path(tmp)))


@contextlib.contextmanager
def yaml_pipeline(args: argparse.Namespace, base_url: str) -> Iterator[tuple[Subject, str]]:
    """`rag_openai_pipeline` as a Subject: `run` in a loop against `run_many`."""
    with rag_openai_pipeline(args, base_url) as pipeline:
        if args.concurrency:
            pipeline.nodes["generate"].configure(concurrency=args.concurrency)
        subject = Subject("run_many", lambda q: pipeline.run(question=q),
                          lambda qs: pipeline.run_many([{"question": q} for q in qs]))
        yield subject, "pipelines/rag_openai.yaml (load_pipeline(...).run / .run_many)"


@contextlib.contextmanager
def handwritten(args: argparse.Namespace, base_url: str) -> Iterator[Subject]:
    """The hand-written RAG loop as a Subject, on the same corpus and server."""
    rag = HandwrittenRAG(base_url, args.api_key, args.embed_model, args.chat_model,
                         [doc["text"] for doc in corpus(args.chunks)])
    try:
        yield Subject("gather", rag.ask, rag.ask_many)
    finally:
        rag.close()


def _run(args: argparse.Namespace, base_url: str, counter: Counter, where: str,
         server: Any) -> None:
    """Print the tables for the chosen subject on the server at `base_url`."""
    with contextlib.ExitStack() as stack:
        if args.yaml:
            subject, title = stack.enter_context(yaml_pipeline(args, base_url))
            rag = None
        else:
            subject, rag, title = rag_chain(args, base_url)
        print(f"{title}, {where}, {args.chunks} chunks")
        print("\n".join(batch_table(subject, counter, args.sizes, args.rounds)))
        if args.baseline:
            baseline = stack.enter_context(handwritten(args, base_url))
            print("\nthe same by hand: asyncio + aiohttp + NumPy (bench/handwritten_rag.py), "
                  "no batching across questions")
            print("\n".join(batch_table(baseline, counter, args.sizes, args.rounds)))
        if args.loop_queries and server is not None and rag is not None:
            server.control.config(latency_ms=0)
            print(f"\n{args.loop_queries} sync queries, one after another, server at 0 ms")
            print("\n".join(loop_table(rag, counter, args.loop_queries)))
    print("\ntargets: >= 50x at 100 questions (>= 8x at 10), <= 2 embedding requests, "
          "<= 1 ms client CPU per question in batch (<= 1.5 ms sequentially)")


def add_server_options(parser: argparse.ArgumentParser) -> None:
    """The options of every bench against an OpenAI-compatible server: which server, and the
    corpus and models it is asked about."""
    parser.add_argument("--base-url", default=None,
                        help="a running OpenAI-compatible server's API base, e.g. "
                             "http://127.0.0.1:8765/v1 (no fake server is started)")
    parser.add_argument("--latency-ms", type=float, default=50.0, help="our fake server's")
    parser.add_argument("--chunks", type=int, default=200, help="corpus size")
    parser.add_argument("--embed-model", default=os.environ.get("LLMKIT_EMBED_MODEL",
                                                                "fake-embed"))
    parser.add_argument("--chat-model", default=os.environ.get("LLMKIT_MODEL", "fake-chat"))
    parser.add_argument("--api-key", default=os.environ.get("OPENAI_API_KEY") or "bench")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_server_options(parser)
    parser.add_argument("--yaml", action="store_true",
                        help="run pipelines/rag_openai.yaml instead of a RAGChain")
    parser.add_argument("--sizes", default="10,100", help="comma-separated question counts")
    parser.add_argument("--rounds", type=int, default=3, help="batch rounds (median shown)")
    parser.add_argument("--loop-queries", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=None,
                        help="chat requests in flight (the generate node's concurrency)")
    parser.add_argument("--baseline", action="store_true",
                        help="also measure the same RAG written by hand (asyncio + aiohttp)")
    args = parser.parse_args(argv)
    args.sizes = [int(s) for s in args.sizes.split(",")]
    against_server(args, lambda *server: _run(args, *server))


def against_server(args: argparse.Namespace, run: Callable[[str, Counter, str, Any], None],
                   *fake_options: str) -> None:
    """`run(base_url, counter, description, server)` against `--base-url` (server None), or
    else against our fake server started with `--latency-ms` and `fake_options`."""
    if args.base_url:
        counter = StatsEndpointCounter(args.base_url)
        try:
            run(args.base_url.rstrip("/"), counter,
                f"{args.base_url} (counts {'from /stats' if counter.available else 'n/a'})",
                None)
        finally:
            counter.http.close()
        return
    with _server_class()("--latency-ms", str(args.latency_ms), *fake_options) as server:
        run(f"{server.url}/v1", FakeServerCounter(server.control, "/v1"),
            f"fake server at {args.latency_ms:g} ms", server)


if __name__ == "__main__":
    main()
