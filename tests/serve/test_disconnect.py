"""A client that leaves stops its request: the server cancels the run (the shared scheduler
withdraws it and cancels the model-server calls only it needed) and frees its place among
`--max-in-flight` at once, so impatient clients cannot keep a capped server from serving."""

from __future__ import annotations

import time
from collections import Counter

import httpx

from tests.serve.conftest import NAME, metric, wait_ready
from tests.serve.load import collect, spawn

RUN = f"/pipelines/{NAME}"


def impatient_requests(n: int) -> list[dict]:
    """Every endpoint that runs the pipeline, in turn: run, stream, run_many, chat (whole
    and streamed)."""
    def question(i: int) -> str:
        return f"[left {i}] How do tides relate to bees?"

    kinds = [
        lambda i: {"path": f"{RUN}/run", "json": {"question": question(i)}},
        lambda i: {"path": f"{RUN}/stream", "json": {"question": question(i)}},
        lambda i: {"path": f"{RUN}/run_many",
                   "json": [{"question": question(i)}, {"question": question(i) + "?"}]},
        lambda i: {"path": "/v1/chat/completions", "json": {
            "model": NAME, "messages": [{"role": "user", "content": question(i)}]}},
        lambda i: {"path": "/v1/chat/completions", "json": {
            "model": NAME, "stream": True,
            "messages": [{"role": "user", "content": question(i)}]}},
    ]
    return [kinds[i % len(kinds)](i) for i in range(n)]


def test_clients_that_leave_free_their_places_and_cancel_their_runs(start_serve, fake_server):
    server = start_serve("--max-in-flight", "4")
    wait_ready(server)
    fake_server.control.config(latency_ms=1000)  # each run takes 2 s: embedding, then chat
    fake_server.control.reset_stats()
    # 8 clients for 3 s, each giving up on a request after 0.2 s and sending the next at once
    flood = collect(spawn({"url": server.url, "clients": 8, "seconds": 3, "timeout": 0.2,
                           "bodies": False, "requests": impatient_requests(10)}))
    statuses = Counter(r["status"] for r in flood["results"])
    assert statuses[None] >= 5, statuses  # requests that were running when their clients left
    # Their runs stop with them: no place nor model-server call stays taken (a run left
    # behind would hold both for the rest of its 2 s).
    deadline = time.monotonic() + 1.0
    while (metric(server, "llmkit_requests_in_flight")
           or fake_server.control.stats()["in_flight"]):
        assert time.monotonic() < deadline, (metric(server, "llmkit_requests_in_flight"),
                                             fake_server.control.stats())
        time.sleep(0.05)
    left = metric(server, "llmkit_requests_total", status="499")
    assert left >= 5, (left, statuses)  # counted as 499, nginx's "client closed request"
    assert fake_server.control.stats()["peak_in_flight"] <= 2 * 4  # run_many: 2 chat calls
    # a patient client is served at once, not refused as over capacity
    answer = httpx.post(f"{server.url}{RUN}/run", json={"question": "Patient?"}, timeout=30)
    assert answer.status_code == 200, answer.text
    assert metric(server, "llmkit_requests_in_flight") == 0
