"""Which ASGI stack `llmkit serve` runs on: server CPU per request, side by side in one run.

Four stacks serve the same two endpoints: Starlette and FastAPI, each on uvicorn with its
pure-Python parts (`--http h11 --loop asyncio`) and with `uvicorn[standard]`'s C parts
(`--http httptools --loop uvloop`). The endpoints:

- `POST /echo`: parse a small JSON body, answer it back (the framework's own cost);
- `POST /run`: the same, through `await pipeline.arun(...)` of a tiny inline pipeline (two
  function nodes), as `llmkit serve` runs a pipeline.

Each server is a subprocess on 127.0.0.1; this process sends `--requests` requests from
`--clients` (50) concurrent aiohttp clients over kept-alive connections, after a warm-up.
Server CPU is the server process's user + system time (/proc/PID/stat) over the measured
requests, divided by their number; the ratio column is against the leanest stack of each
endpoint. FastAPI takes the body as a pydantic-validated `dict` (its usual way).

    python -m bench.serve_stack [--clients 50] [--requests 4000]

Prints a table; asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import socket
import subprocess
import sys
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

STACKS = [("starlette", "h11", "asyncio"), ("starlette", "httptools", "uvloop"),
          ("fastapi", "h11", "asyncio"), ("fastapi", "httptools", "uvloop")]
BODY = b'{"question": "What does the cache key hold?"}'


def tiny_pipeline():
    """Two inline function nodes: what a run costs the server without any model."""
    from llmkit import Pipeline, node

    @node(outputs="words", inline=True)
    def split(question):
        return question.split()

    @node(outputs="answer", inline=True)
    def count(words):
        return f"{len(words)} words"

    return (Pipeline("tiny", {"question": str}).add("split", split, question="question")
            .add("count", count, words="split.words").outputs(answer="count.answer"))


def starlette_app():
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    p = tiny_pipeline()

    async def echo(request):
        return JSONResponse(await request.json())

    async def run(request):
        return JSONResponse({"outputs": await p.arun(await request.json())})

    return Starlette(routes=[Route("/echo", echo, methods=["POST"]),
                             Route("/run", run, methods=["POST"])])


def fastapi_app():
    from fastapi import FastAPI

    app = FastAPI()
    p = tiny_pipeline()

    @app.post("/echo")
    async def echo(body: dict):
        return body

    @app.post("/run")
    async def run(body: dict):
        return {"outputs": await p.arun(body)}

    return app


def serve(framework: str, http: str, loop: str, port: int) -> None:
    import uvicorn

    app = starlette_app() if framework == "starlette" else fastapi_app()
    uvicorn.run(app, host="127.0.0.1", port=port, http=http, loop=loop, log_level="warning",
                access_log=False)


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def load(port: int, path: str, clients: int, requests: int) -> float:
    """Send `requests` POSTs from `clients` concurrent clients; the wall time."""
    import aiohttp

    url = f"http://127.0.0.1:{port}{path}"
    left = requests

    async def client(session: aiohttp.ClientSession) -> None:
        nonlocal left
        while left > 0:
            left -= 1
            async with session.post(url, data=BODY,
                                    headers={"content-type": "application/json"}) as r:
                assert r.status == 200, await r.text()
                await r.read()

    connector = aiohttp.TCPConnector(limit=clients)
    async with aiohttp.ClientSession(connector=connector) as session:
        start = time.perf_counter()
        await asyncio.gather(*(client(session) for _ in range(clients)))
        return time.perf_counter() - start


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def measure(stack: tuple[str, str, str], clients: int, requests: int) -> dict[str, tuple]:
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "bench.serve_stack", "--serve",
                               ",".join(stack), "--port", str(port)],
                              cwd=Path(__file__).resolve().parent.parent)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise RuntimeError(f"{stack} did not start") from None
                time.sleep(0.05)
        figures = {}
        for path in ("/echo", "/run"):
            asyncio.run(load(port, path, clients, requests // 4))  # warm-up
            before = cpu_seconds(server.pid)
            wall = asyncio.run(load(port, path, clients, requests))
            cpu = cpu_seconds(server.pid) - before
            figures[path] = (cpu / requests * 1e3, requests / wall)
        return figures
    finally:
        server.terminate()
        server.wait(10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--requests", type=int, default=4000)
    parser.add_argument("--serve", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(*args.serve.split(","), args.port)
        return
    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python "
          f"{platform.python_version()}; {args.clients} clients, {args.requests} requests "
          "per cell")
    results = {stack: measure(stack, args.clients, args.requests) for stack in STACKS}
    for path in ("/echo", "/run"):
        best = min(r[path][0] for r in results.values())
        print(f"\nPOST {path}\n{'stack':<34} {'server CPU/req':>15} {'ratio':>6} {'req/s':>8}")
        for (framework, http, loop), figures in results.items():
            cpu, rate = figures[path]
            print(f"{framework + ' + uvicorn ' + http + '/' + loop:<34} {cpu:>12.3f} ms "
                  f"{cpu / best:>5.2f}x {rate:>8.0f}")


if __name__ == "__main__":
    main()
