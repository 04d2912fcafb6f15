"""Back-pressure: beyond `--max-in-flight` running requests the server answers 429 with
`Retry-After` at once, so a flood of clients (even clients that give up and come back) keeps
the runs, the model server's load and the server's memory bounded."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter

import httpx

from tests.serve.conftest import NAME, wait_ready
from tests.serve.load import collect, spawn


def run_requests(tag: str, n: int) -> list[dict]:
    return [{"path": f"/pipelines/{NAME}/run", "json": {"question": f"[{tag} {i}] Why?"}}
            for i in range(n)]


def test_over_capacity_is_a_429_with_retry_after(start_serve, fake_server):
    server = start_serve("--max-in-flight", "4")
    wait_ready(server)
    fake_server.control.config(latency_ms=1000)  # each run takes 2 s: embedding, then chat
    fake_server.control.reset_stats()
    results = collect(spawn({"url": server.url, "clients": 24, "warm": True,
                             "requests": run_requests("capacity", 24)}))["results"]
    statuses = Counter(r["status"] for r in results)
    assert set(statuses) == {200, 429} and statuses[200] >= 4, statuses
    for result in results:
        if result["status"] == 429:
            assert int(result["retry_after"]) >= 1, result
            assert json.loads(result["body"])["error"]["type"], result
            assert result["seconds"] < 1.0, result  # refused at once, not after waiting
    assert fake_server.control.stats()["peak_in_flight"] <= 4


class RssSampler:
    """A process's peak resident memory, sampled every 50 ms in a thread."""

    def __init__(self, server) -> None:
        self.server, self.peak = server, server.rss()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        while not self._stop.wait(0.05):
            self.peak = max(self.peak, self.server.rss())

    def stop(self) -> int:
        self._stop.set()
        self._thread.join()
        return self.peak


def test_a_flood_of_impatient_clients_keeps_runs_and_memory_bounded(start_serve, fake_server):
    server = start_serve("--max-in-flight", "8")
    wait_ready(server)
    fake_server.control.config(latency_ms=1000)
    collect(spawn({"url": server.url, "clients": 8, "requests": run_requests("warm", 8)}))
    fake_server.control.reset_stats()
    before = server.rss()
    sampler = RssSampler(server)
    # 64 clients for 6 s, each giving up on a request after 0.3 s and sending the next at once
    flood = collect(spawn({"url": server.url, "clients": 64, "seconds": 6, "timeout": 0.3,
                           "bodies": False, "requests": run_requests("flood", 64)}))
    peak = sampler.stop()
    statuses = Counter(r["status"] for r in flood["results"])
    assert statuses[429] > 100, statuses  # refused, not queued
    assert fake_server.control.stats()["peak_in_flight"] <= 2 * 8
    assert peak - before < 16 * 2**20, (before, peak)  # unbounded: +25 MiB in 6 s
    assert polite_run(server.url).status_code == 200  # the server is still well


def polite_run(url: str, attempts: int = 10) -> httpx.Response:
    """A run that waits `Retry-After` seconds on each 429, as a polite client does."""
    for _ in range(attempts):
        response = httpx.post(f"{url}/pipelines/{NAME}/run", json={"question": "After?"},
                              timeout=30)
        if response.status_code != 429:
            return response
        time.sleep(float(response.headers["Retry-After"]))
    return response
