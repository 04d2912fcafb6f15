"""Concurrent callers of the shipped rag_openai.yaml share requests: 100 `arun` calls at once,
or 32 threads each calling `run`, against the fake server make at most two embedding
requests and as few search calls, and each caller gets the answer to its own question."""

from __future__ import annotations

import asyncio
import json
import threading

import pytest

from llmkit import load_pipeline
from llmkit.core.pipeline import Pipeline
from tests.e2e.conftest import PIPELINES, server_env
from tests.http.test_loop_end import run_strict


@pytest.fixture
def rag(fake_server, tmp_path, monkeypatch) -> tuple[Pipeline, list[int]]:
    """rag_openai.yaml on the fake server, and the batch size of each call of its search
    node (recorded from now on)."""
    p = load_pipeline(PIPELINES / "rag_openai.yaml", env=server_env(fake_server, tmp_path))
    search = p.nodes["search"]
    sizes: list[int] = []
    run_batch = search.run_batch

    def counted(items):
        sizes.append(len(items))
        return run_batch(items)

    monkeypatch.setattr(search, "run_batch", counted)
    return p, sizes


QUESTIONS = [f"Question {i}: why do tides rise?" for i in range(100)]


def expected(p: Pipeline, questions: list[str]) -> list[dict]:
    """The answers of one `run_many` (which also builds the index), before counting starts."""
    return p.run_many([{"question": q} for q in questions])


def test_a_hundred_concurrent_aruns_make_one_embedding_request_and_one_search(fake_server, rag):
    p, searches = rag
    answers = expected(p, QUESTIONS)
    fake_server.control.reset_stats()
    searches.clear()

    async def main() -> list[dict]:
        return await asyncio.gather(*(p.arun(question=q) for q in QUESTIONS))

    assert asyncio.run(main()) == answers
    requests = fake_server.control.stats()["requests"]
    assert requests["/v1/embeddings"] <= 2
    assert searches == [100]


def test_thirty_two_threads_calling_run_share_embedding_requests(fake_server, rag):
    p, searches = rag
    questions = QUESTIONS[:32]
    answers = expected(p, questions)
    fake_server.control.reset_stats()
    fake_server.control.config(latency_ms=50)
    searches.clear()
    start = threading.Barrier(len(questions))
    results: dict[int, dict] = {}

    def ask(i: int) -> None:
        start.wait()
        results[i] = p.run(question=questions[i])

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(len(questions))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert [results.get(i) for i in range(len(questions))] == answers
    assert fake_server.control.stats()["requests"]["/v1/embeddings"] <= 2
    assert len(searches) <= 2 and sum(searches) == len(questions)


GATHER = """
    import asyncio, json, sys
    from llmkit import load_pipeline

    p = load_pipeline(sys.argv[1], env=json.loads(sys.argv[2]))

    async def main():
        return await asyncio.gather(*(p.arun(question=f"Why {i}?") for i in range(20)))

    answers = asyncio.run(main()) + asyncio.run(main())  # the second loop: new clients
    print(all(a["answer"].startswith("answer ") for a in answers))
"""


def test_asyncio_run_of_concurrent_aruns_exits_without_warnings(fake_server, tmp_path):
    # The shared scheduler's loop task outlives the runs (it lingers), so the loop's end
    # cancels it while the loop's HTTP clients close.
    env = server_env(fake_server, tmp_path)
    done = run_strict(GATHER, PIPELINES / "rag_openai.yaml", json.dumps(env))
    assert (done.stderr, done.returncode, done.stdout) == ("", 0, "True\n")
