"""pipelines/rag_fallback.yaml against the fake search server: 100 questions, 30 of them
with weak local hits. The web search runs for exactly those 30, the other 70 finish
without waiting for it, and every result is what the run gives alone."""

from __future__ import annotations

import random

from llmkit import load_pipeline
from llmkit.core.stats import Profile
from tests.e2e.conftest import DOCUMENTS, PIPELINES, server_env
from tests.servers.fake_llm import fake_results


def questions() -> tuple[list[str], set[int]]:
    """100 questions: three in ten are made-up words no document shares (their best hit
    scores below 0.2, the route's threshold), the others ask after a document's sentence."""
    rng = random.Random(7)
    texts = list(DOCUMENTS.values())
    asked, weak = [], set()
    for i in range(100):
        if i % 10 in (2, 5, 9):
            weak.add(i)
            asked.append("".join(rng.choice("bcdfghjklmnpqrstvwxz") for _ in range(7)))
        else:
            asked.append(f"{texts[i % 4].rstrip('.')}? (question {i})")
    return asked, weak


def test_only_the_weak_runs_search_the_web_and_the_others_never_wait(fake_server, tmp_path):
    p = load_pipeline(PIPELINES / "rag_fallback.yaml", env=server_env(fake_server, tmp_path))
    asked, weak = questions()
    assert len(weak) == 30
    alone = [p.run(question=q) for q in asked]  # the sequential reference
    assert fake_server.control.stats()["requests"] == {"/search": 30}
    for i, result in enumerate(alone):  # web hits are cited by their URL, local ones by file
        sources = {s["source"] for s in result["sources"]}
        web = {r["url"] for r in fake_results(asked[i])}
        assert sources <= web if i in weak else sources <= set(DOCUMENTS), (i, sources)

    fake_server.control.reset_stats()
    fake_server.control.config(latency_ms=300)
    arrived = []
    results: list = [None] * 100
    profile = Profile()
    for i, result in p.iter_many([{"question": q} for q in asked], ordered=False,
                                 profile=profile):
        arrived.append(i)
        results[i] = result
    assert results == alone
    stats = fake_server.control.stats()
    assert stats["requests"] == {"/search": 30}
    assert stats["peak_in_flight"] > 1  # the weak runs' searches run side by side
    web = profile.node("web")
    assert web.items == 30 and web.calls <= 3  # in batched calls: a micro-batch per wave
    assert set(arrived[:70]) == set(range(100)) - weak  # strong runs first: none waited
