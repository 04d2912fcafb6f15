"""Many HTTP users at once: their questions share embedding requests (the shared scheduler
batches across requests), and each user gets the answer to its own question."""

from __future__ import annotations

import json

import pytest

from tests.serve.conftest import NAME, expected_outputs, wait_ready
from tests.serve.load import collect, spawn

TOPICS = ("glaciers", "tides", "volcanoes", "bees")


def questions(n: int, tag: str) -> list[str]:
    return [f"[{tag} {i}] How do {TOPICS[i % 4]} relate to {TOPICS[(i + 1) % 4]}?"
            for i in range(n)]


def assert_same_outputs(got: dict, want: dict) -> None:
    """The server's outputs are the library's: the answer, and the sources in order."""
    assert got["answer"] == want["answer"]
    assert [s["id"] for s in got["sources"]] == [s["id"] for s in want["sources"]]
    assert [s["score"] for s in got["sources"]] == pytest.approx(
        [s["score"] for s in want["sources"]], rel=1e-5)


def test_200_concurrent_clients_get_their_answers_from_few_embedding_requests(
        served, fake_server, rag_env, tmp_path):
    asked = questions(200, "concurrent")
    expected = expected_outputs(rag_env, tmp_path, asked)
    wait_ready(served)
    fake_server.control.config(latency_ms=50)
    fake_server.control.reset_stats()
    results = collect(spawn({
        "url": served.url, "clients": 200, "warm": True,
        "requests": [{"path": f"/pipelines/{NAME}/run", "json": {"question": q}} for q in asked],
    }))["results"]
    assert [r["status"] for r in results] == [200] * 200, {r["error"] for r in results}
    for result, want in zip(results, expected, strict=True):
        assert_same_outputs(json.loads(result["body"])["outputs"], want)
    stats = fake_server.control.stats()
    assert stats["inputs"]["/v1/embeddings"] == 200  # each question embedded once
    assert stats["requests"]["/v1/chat/completions"] == 200
    assert stats["requests"]["/v1/embeddings"] <= 200 // 10, stats["requests"]
