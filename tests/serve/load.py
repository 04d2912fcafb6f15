"""HTTP clients in a process of their own, for tests and benchmarks of `llmkit serve`.

Reads a JSON spec on stdin and prints one JSON object on stdout. `clients` concurrent aiohttp
clients take the spec's `requests` (each `{"path", "json"}` or `{"path", "data"}`, POSTed
with the spec's `headers`) one at a time from a shared queue; with `warm`, every client first
opens its connection (`GET /health`) and all start together. With `seconds`, the clients
loop over the requests until that much time has passed (a flood), abandoning any request
after `timeout` s. Output: `wall` (s) and one result per request sent, in the order of
`requests` (a flood's in the order sent): `status` (null on a client error, named in
`error`), `seconds`, `retry_after`, and `body` unless `bodies` is false.

    python -m tests.serve.load < spec.json > results.json
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

ROOT = Path(__file__).resolve().parents[2]


async def _send(session: aiohttp.ClientSession, url: str, request: dict[str, Any],
                headers: dict[str, str], bodies: bool) -> dict[str, Any]:
    data = request.get("data")
    payload = json.dumps(request["json"]) if data is None else data
    start = time.perf_counter()
    result: dict[str, Any] = {"status": None, "error": None, "retry_after": None}
    try:
        async with session.post(url + request["path"], data=payload,
                                headers={"Content-Type": "application/json", **headers}) as r:
            body = await r.read()
            result.update(status=r.status, retry_after=r.headers.get("Retry-After"))
            if bodies:
                result["body"] = body.decode(errors="replace")
    except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
        result["error"] = f"{type(exc).__name__}: {exc}"
    result["seconds"] = time.perf_counter() - start
    return result


async def run(spec: dict[str, Any]) -> dict[str, Any]:
    """Send the spec's requests from its clients; the results."""
    url, requests = spec["url"].rstrip("/"), spec["requests"]
    clients, seconds = spec["clients"], spec.get("seconds")
    headers, bodies = spec.get("headers", {}), spec.get("bodies", True)
    connector = aiohttp.TCPConnector(limit=clients)
    timeout = aiohttp.ClientTimeout(total=spec.get("timeout", 60))
    order = itertools.cycle(range(len(requests))) if seconds else iter(range(len(requests)))
    results: dict[int, dict[str, Any]] = {}
    sent = itertools.count()
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        if spec.get("warm"):
            async def warm() -> None:
                async with session.get(url + "/health", headers=headers) as r:
                    await r.read()
            await asyncio.gather(*(warm() for _ in range(clients)))
        start = time.perf_counter()

        async def client() -> None:
            for i in order:
                if seconds and time.perf_counter() - start > seconds:
                    return
                key = next(sent) if seconds else i
                results[key] = await _send(session, url, requests[i], headers, bodies)

        await asyncio.gather(*(client() for _ in range(clients)))
        wall = time.perf_counter() - start
    return {"wall": wall, "results": [results[k] for k in sorted(results)]}


def spawn(spec: dict[str, Any]) -> subprocess.Popen[str]:
    """Start the clients' process on `spec`; `collect` gives its results."""
    with tempfile.TemporaryFile("w+") as stdin:
        json.dump(spec, stdin)
        stdin.seek(0)
        return subprocess.Popen([sys.executable, "-m", "tests.serve.load"], cwd=ROOT,
                                text=True, stdin=stdin, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE,
                                env={**os.environ, "PYTHONPATH": str(ROOT)})


def collect(proc: subprocess.Popen[str], timeout: float = 120.0) -> dict[str, Any]:
    """The results of a clients' process; killed by its PID if it runs past `timeout` s."""
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise
    if proc.returncode:
        raise RuntimeError(f"the clients' process failed ({proc.returncode}): {err[-2000:]}")
    return json.loads(out)


def main() -> None:
    print(json.dumps(asyncio.run(run(json.load(sys.stdin)))))


if __name__ == "__main__":
    main()
