"""Client CPU per request with many requests in flight, per HTTP transport, side by side.

N concurrent POSTs to the fake server's /v1/chat/completions (a subprocess answering after
`--latency-ms`), for httpx's own pool, httpx over `AiohttpTransport`, aiohttp alone, and the
`OpenAIChat` backend on the default ("auto") transport. CPU is this process's
`time.process_time()`, so the server's work is not counted. Connections are warmed first. URLs
are parsed once: a relative URL merged with httpx's `base_url` costs ~0.2 ms per request.

    python -m bench.http_transport [--n 100] [--latency-ms 50] [--rounds 5]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import anyio
import httpx

from llmkit.http import make_client
from llmkit.nodes.backends.openai import OpenAIChat

Send = Callable[[int], Awaitable[Any]]


def _payload(i: int) -> dict[str, Any]:
    return {"model": "fake-model", "messages": [{"role": "user", "content": f"question {i}"}]}


async def _rounds(send: Send, n: int, rounds: int, control: Any) -> dict[str, float]:
    """Warm up once, then time `rounds` rounds of `n` concurrent calls of `send`."""

    async def burst() -> None:
        async with anyio.create_task_group() as tg:
            for i in range(n):
                tg.start_soon(send, i)

    await burst()
    control.reset_stats()
    walls, cpu = [], 0.0
    for _ in range(rounds):
        wall0, cpu0 = time.perf_counter(), time.process_time()
        await burst()
        walls.append(time.perf_counter() - wall0)
        cpu += time.process_time() - cpu0
    return {"wall_ms": statistics.median(walls) * 1e3, "cpu_ms": cpu / (n * rounds) * 1e3,
            "peak": control.stats()["peak_in_flight"]}


async def _httpx(url: str, transport: str, n: int, rounds: int, control: Any) -> dict:
    endpoint = httpx.URL(f"{url}/v1/chat/completions")  # parsed once, as the backends do
    async with make_client(transport=transport, max_connections=n) as client:
        async def send(i: int) -> Any:
            response = await client.post(endpoint, json=_payload(i))
            return json.loads(response.content)

        return await _rounds(send, n, rounds, control)


async def _aiohttp(url: str, n: int, rounds: int, control: Any) -> dict:
    connector = aiohttp.TCPConnector(limit=n)
    async with aiohttp.ClientSession(url, connector=connector) as session:
        async def send(i: int) -> Any:
            async with session.post("/v1/chat/completions", json=_payload(i)) as response:
                return json.loads(await response.read())

        return await _rounds(send, n, rounds, control)


async def _backend(url: str, n: int, rounds: int, control: Any) -> dict:
    async with OpenAIChat("fake-model", base_url=f"{url}/v1") as chat:
        return await _rounds(lambda i: chat.agenerate(f"question {i}"), n, rounds, control)


def _server_class() -> Any:
    """The fake server's process wrapper; the repo root is put on sys.path when run as a file."""
    root = str(Path(__file__).resolve().parents[1])
    if root not in sys.path:
        sys.path.insert(0, root)
    from tests.servers.process import FakeServerProcess

    return FakeServerProcess


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=100, help="requests in flight")
    parser.add_argument("--latency-ms", type=float, default=50.0)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    with _server_class()("--latency-ms", str(args.latency_ms)) as server:
        url, n, rounds, control = server.url, args.n, args.rounds, server.control
        runs: dict[str, Callable[[], Awaitable[dict]]] = {
            "httpx default pool": lambda: _httpx(url, "httpx", n, rounds, control),
            "httpx + AiohttpTransport": lambda: _httpx(url, "aiohttp", n, rounds, control),
            "aiohttp alone": lambda: _aiohttp(url, n, rounds, control),
            "OpenAIChat.agenerate (auto)": lambda: _backend(url, n, rounds, control),
        }
        print(f"{n} concurrent POST /v1/chat/completions, server latency {args.latency_ms:g} ms,"
              f" median of {rounds} rounds")
        print(f"{'client':<30}{'wall/round':>12}{'CPU/request':>14}{'peak in flight':>16}")
        for name, run in runs.items():
            result = anyio.run(run)
            print(f"{name:<30}{result['wall_ms']:>9.1f} ms{result['cpu_ms']:>11.3f} ms"
                  f"{result['peak']:>16}")


if __name__ == "__main__":
    main()
