"""SIGTERM: the server stops accepting, finishes every run in flight, answers each one in
full, and exits 0."""

from __future__ import annotations

import json
import os
import signal
import time

from tests.serve.conftest import NAME, expected_outputs, metric, wait_ready
from tests.serve.load import collect, spawn


def test_sigterm_finishes_100_requests_in_flight_then_exits_0(start_serve, fake_server,
                                                                 rag_env, tmp_path):
    asked = [f"[sigterm {i}] How do bees relate to tides?" for i in range(100)]
    answers = [o["answer"] for o in expected_outputs(rag_env, tmp_path / "oracle", asked)]
    server = start_serve("--max-in-flight", "200")
    wait_ready(server)
    fake_server.control.config(latency_ms=1000)  # each run takes 2 s: embedding, then chat
    clients = spawn({"url": server.url, "clients": 100, "warm": True,
                     "requests": [{"path": f"/pipelines/{NAME}/run", "json": {"question": q}}
                                  for q in asked]})
    deadline = time.monotonic() + 20
    while metric(server, "llmkit_requests_in_flight") < 100:
        assert time.monotonic() < deadline and clients.poll() is None, "never 100 in flight"
        time.sleep(0.02)
    os.kill(server.pid, signal.SIGTERM)
    assert server.proc.wait(30) == 0, server.stderr()[-2000:]
    results = collect(clients)["results"]
    assert [r["status"] for r in results] == [200] * 100, {r["error"] for r in results}
    assert [json.loads(r["body"])["outputs"]["answer"] for r in results] == answers
