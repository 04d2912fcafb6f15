"""`llmkit serve` under load: cross-request batching on against off, side by side in one run.

`pipelines/rag_openai.yaml` (embed → search top-4 → build_context → generate) on a generated
corpus (bench/batch_query.py's `corpus`), served by `llmkit serve` as a subprocess on
127.0.0.1 (tests/serve/process.py), against an OpenAI-compatible server: by default llmkit's
fake server (tests/servers/fake_llm.py) answering every request after `--latency-ms` (50),
any number at once, or with `--embed-concurrency N` working on at most N embedding requests
at once, the others queued (as a GPU server works through one batch after another); with
`--base-url URL` any running server instead, e.g. the independent stdlib one:

    python /work/shared/bench/fake_openai_server.py --port 0 --port-file F \\
        --latency-ms 50 --embed-latency-ms 50
    python -m bench.serve --base-url http://127.0.0.1:$(cat F)/v1

Two servers, one after the other: `llmkit serve` (every request's run joins the pipeline's
shared scheduler, so concurrent questions share embedding calls) and without batching, each
request's calls alone, as Hayhooks and LangServe run each request on its own (`llmkit
serve` has no flag for that: this module's `--serve-unbatched` stands in, `llmkit serve`
with every node's `max_batch` at 1). At each of `--clients` (1, 10, 100, 500) concurrent
clients, in a process of their own (tests/serve/load.py, aiohttp, connections opened first),
each posting one question after another until `--per-client` questions each (at least
`--min-requests` in all) are answered: requests/s, p50/p99 latency, embedding requests per
question (the model server's `/_stats`, or `GET /stats` of the independent one; else n/a),
and the serve process's CPU per request (user + system time of /proc/PID/stat over the
level). `vs off` is batching's requests/s over no-batching's at the same level.

A process's CPU time grows with its idle waiting on this kind of VM (a timer-driven event
loop wakes, whatever it serves), so CPU per request is also measured, at the same levels,
for a baseline: a trivial Starlette handler on the same uvicorn that reads the JSON body and
awaits `asyncio.sleep(latency)` twice, as the pipeline awaits its embedding then chat calls
(`--serve-baseline`). `CPU vs base` is llmkit's CPU per request over the baseline's: what
llmkit adds to any asyncio server waiting as long.

Then a flood (`--flood-seconds`, 30; 0 skips it): `--flood-clients` (200) clients that give up
on a request after 0.3 s and send the next at once, against a server with
`--max-in-flight 32`: statuses, and the server's resident memory before, at its peak and
after. Prints tables; asserts nothing. Targets (issue 12): >= 5x no-batching's requests/s at
100 clients with a 50 ms embedding server; server CPU per request <= 1 ms.

    python -m bench.serve [--latency-ms 50] [--clients 1,10,100,500] [--per-client 4]
        [--min-requests 40] [--flood-seconds 30] [--flood-clients 200] [--chunks 200]
        [--embed-concurrency N] [--base-url URL [--embed-model M] [--chat-model M]]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import sys
import tempfile
import threading
from collections import Counter as Tally
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.batch_query import (
    Counter,
    add_server_options,
    against_server,
    questions,
    rag_openai_env,
)
from bench.concurrent_callers import percentile
from tests.serve.load import collect, spawn
from tests.serve.process import ROOT, ServeProcess

PIPELINE = ROOT / "pipelines" / "rag_openai.yaml"
NAME = "rag_openai"
SERVE = ("-m", "llmkit", "serve")
UNBATCHED = ("-m", "bench.serve", "--serve-unbatched")  # `unbatched_serve`
BASELINE = ("-m", "bench.serve", "--serve-baseline")  # `baseline_serve`
MODES = {"batching": SERVE, "no batching": UNBATCHED}
MiB = 2**20


class _NoCounts:
    """The baseline calls no model server: nothing to count."""

    def reset(self) -> None:
        pass

    def read(self) -> None:
        return None


NO_COUNTS = _NoCounts()


@dataclass
class Level:
    """One mode at one number of concurrent clients."""

    clients: int
    requests: int
    failed: int
    per_second: float
    p50: float  # seconds
    p99: float
    embed_per_question: float | None
    cpu_per_request: float  # seconds of the server's CPU


def _requests(n: int, tag: str) -> list[dict]:
    return [{"path": f"/pipelines/{NAME}/run", "json": {"question": q}}
            for q in questions(n, tag)]


def level(server: ServeProcess, counter: Counter, clients: int, n: int, tag: str) -> Level:
    """`n` questions from `clients` concurrent clients, measured."""
    counter.reset()
    cpu = server.cpu_seconds()
    done = collect(spawn({"url": server.url, "clients": clients, "warm": True, "bodies": False,
                          "timeout": 300, "requests": _requests(n, tag)}), timeout=900)
    cpu = server.cpu_seconds() - cpu
    counts = counter.read()
    seconds = [r["seconds"] for r in done["results"]]
    return Level(clients, n, sum(r["status"] != 200 for r in done["results"]),
                 n / done["wall"], percentile(seconds, 0.5), percentile(seconds, 0.99),
                 None if counts is None else counts.embed_requests / n, cpu / n)


@contextlib.contextmanager
def serving(env: dict[str, str], folder: Path, *options: str,
            command: tuple[str, ...] = SERVE) -> Iterator[ServeProcess]:
    """rag_openai.yaml served with `options`, ready, its connections warm."""
    with ServeProcess(str(PIPELINE), *options, cwd=folder, env=env, timeout=120,
                      command=command) as server:
        collect(spawn({"url": server.url, "clients": 10, "requests": _requests(20, "warm-up")}))
        yield server


def unbatched_serve(argv: list[str]) -> int:
    """`llmkit serve ARGV` with every node's `max_batch` at 1, so each request's calls go
    alone (up to a node's concurrency at once), as in a server that runs each request on its
    own."""
    from llmkit.cli import main as cli
    from llmkit.serve import server

    load = server.load

    def load_unbatched(*args: Any, **kwargs: Any) -> list[Any]:
        pipelines = load(*args, **kwargs)
        for p in pipelines:
            for node in p.nodes.values():
                node.configure(max_batch=1)
        return pipelines

    server.load = load_unbatched  # type: ignore[assignment]  (read by `llmkit serve`)
    return cli(["serve", *argv])


def baseline_serve(argv: list[str]) -> None:
    """A trivial Starlette handler on uvicorn, as `llmkit serve` runs it (same loop, same
    HTTP parser, no access log): `POST /pipelines/{name}/run` reads the JSON body, awaits
    `asyncio.sleep(--latency-ms)` twice (as the pipeline awaits embedding, then chat) and
    answers; prints `llmkit serve`'s `listening on` line, so `ServeProcess` runs it."""
    import socket

    import uvicorn
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    parser = argparse.ArgumentParser()
    parser.add_argument("--latency-ms", type=float, required=True)
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)
    latency = args.latency_ms / 1000

    async def run(request: Request) -> JSONResponse:
        question = (await request.json())["question"]
        await asyncio.sleep(latency)
        await asyncio.sleep(latency)
        return JSONResponse({"outputs": {"answer": question}})

    app = Starlette(routes=[Route("/pipelines/{name}/run", run, methods=["POST"])])
    sock = socket.create_server(("127.0.0.1", args.port), backlog=2048)
    print(f"llmkit serve: listening on http://127.0.0.1:{sock.getsockname()[1]}",
          file=sys.stderr, flush=True)
    uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False)).run(
        sockets=[sock])


def table(rows: dict[str, list[Level]], base: list[Level]) -> list[str]:
    lines = [f"{'clients':>7}  {'mode':<12}{'requests':>9}{'failed':>7}{'req/s':>9}{'p50':>10}"
             f"{'p99':>10}{'embed/q':>9}{'CPU/req':>10}{'vs off':>8}{'base CPU/req':>14}"
             f"{'CPU vs base':>12}"]
    for i, off in enumerate(rows["no batching"]):
        for mode, levels in rows.items():
            m = levels[i]
            embed = "n/a" if m.embed_per_question is None else f"{m.embed_per_question:.3f}"
            lines.append(f"{m.clients:>7}  {mode:<12}{m.requests:>9}{m.failed:>7}"
                         f"{m.per_second:>9.1f}{m.p50 * 1e3:>7.0f} ms{m.p99 * 1e3:>7.0f} ms"
                         f"{embed:>9}{m.cpu_per_request * 1e3:>7.2f} ms"
                         f"{m.per_second / off.per_second:>7.2f}x"
                         f"{base[i].cpu_per_request * 1e3:>11.2f} ms"
                         f"{m.cpu_per_request / base[i].cpu_per_request:>11.2f}x")
    return lines


def flood(env: dict[str, str], folder: Path, clients: int, seconds: float) -> list[str]:
    """Impatient clients for `seconds` against `--max-in-flight 32`: statuses and memory."""
    with serving(env, folder, "--max-in-flight", "32") as server:
        before, peak, stop = server.rss(), [server.rss()], threading.Event()

        def sample() -> None:
            while not stop.wait(0.1):
                peak.append(server.rss())

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        done = collect(spawn({"url": server.url, "clients": clients, "seconds": seconds,
                              "timeout": 0.3, "bodies": False,
                              "requests": _requests(clients, "flood")}), timeout=seconds + 120)
        stop.set()
        sampler.join()
        after = server.rss()
    statuses = Tally("timeout" if r["status"] is None else r["status"] for r in done["results"])
    return [f"{len(done['results'])} requests in {done['wall']:.1f} s: "
            + ", ".join(f"{k}: {v}" for k, v in sorted(statuses.items(), key=str)),
            f"server RSS: before {before / MiB:.1f} MiB, peak {max(peak) / MiB:.1f} MiB, "
            f"after {after / MiB:.1f} MiB (median {statistics.median(peak) / MiB:.1f} MiB)"]


def _run(args: argparse.Namespace, base_url: str, counter: Counter, where: str) -> None:
    with tempfile.TemporaryDirectory(prefix="llmkit-bench-serve-") as tmp:
        env = rag_openai_env(args, base_url, Path(tmp))
        print(f"llmkit serve pipelines/rag_openai.yaml, {where}, {args.chunks} chunks; "
              f"clients in a process of their own")
        rows: dict[str, list[Level]] = {}
        for mode, command in MODES.items():
            print(f"{mode}: {' '.join(command[1:])}")
            with serving(env, Path(tmp), "--max-in-flight", "100000",
                         command=command) as server:
                rows[mode] = [level(server, counter, c, max(args.min_requests,
                                                           c * args.per_client), f"{mode} {c}")
                              for c in args.clients]
        print(f"baseline: {' '.join(BASELINE[1:])} --latency-ms {args.latency_ms:g}")
        with ServeProcess("--latency-ms", str(args.latency_ms), command=BASELINE) as server:
            base = [level(server, NO_COUNTS, c, max(args.min_requests, c * args.per_client),
                          f"baseline {c}") for c in args.clients]
        print("\n".join(table(rows, base)))
        if args.flood_seconds:
            print(f"\nflood: {args.flood_clients} clients giving up after 0.3 s, for "
                  f"{args.flood_seconds:g} s, --max-in-flight 32")
            print("\n".join(flood(env, Path(tmp), args.flood_clients, args.flood_seconds)))
    print("\ntargets: >= 5x no-batching's requests/s at 100 clients (50 ms embeddings), "
          "<= 1 ms server CPU per request")


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--serve-unbatched"]:
        sys.exit(unbatched_serve(argv[1:]))
    if argv[:1] == ["--serve-baseline"]:
        baseline_serve(argv[1:])
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_server_options(parser)
    parser.add_argument("--clients", default="1,10,100,500", help="comma-separated levels")
    parser.add_argument("--per-client", type=int, default=4, help="questions per client")
    parser.add_argument("--min-requests", type=int, default=40, help="questions per level")
    parser.add_argument("--flood-seconds", type=float, default=30.0)
    parser.add_argument("--flood-clients", type=int, default=200)
    parser.add_argument("--embed-concurrency", type=int, metavar="N",
                        help="our fake server works on at most N embedding requests at once "
                             "(the others queue), as a GPU server does; default: any number")
    args = parser.parse_args(argv)
    args.clients = [int(c) for c in args.clients.split(",")]
    limit = [] if args.embed_concurrency is None else ["--embed-concurrency",
                                                       str(args.embed_concurrency)]
    against_server(args, lambda base_url, counter, where, server: _run(
        args, base_url, counter, where if server is None else
        f"{where}, embedding requests "
        + (f"{args.embed_concurrency} at a time" if limit else "any number at once")), *limit)

if __name__ == "__main__":
    main()
