"""The shipped model pipelines, configured only by environment variables, run through the real
`llmkit run ... --json --no-cache` against the fake server: the answers are the server's."""

from __future__ import annotations

import json

from tests.e2e.conftest import DOCUMENTS, PIPELINES, last_prompt, llmkit, server_env
from tests.servers.fake_llm import fake_answer, fake_results


def run_json(pipeline: str, question: str, server, tmp_path) -> dict:
    result = llmkit("run", PIPELINES / pipeline, "-i", f"question={question}", "--json",
                    "--no-cache", env=server_env(server, tmp_path), cwd=tmp_path)
    assert result.code == 0, result.err
    return json.loads(result.out)


def test_rag_openai_answers_from_the_indexed_folder(fake_server, tmp_path):
    question = "Why do stratovolcanoes erupt explosively?"
    outputs = run_json("rag_openai.yaml", question, fake_server, tmp_path)
    prompt = last_prompt(fake_server)
    assert outputs["answer"] == fake_answer(prompt)
    assert prompt.startswith("Context:\n[1] ") and prompt.endswith(f"Question: {question}")
    assert {s["source"] for s in outputs["sources"]} <= set(DOCUMENTS)
    assert len(outputs["sources"]) == len(DOCUMENTS)  # k=4 of 4 documents
    stats = fake_server.control.stats()
    # the folder's 4 documents in one request, then the question: nothing else was embedded
    assert stats["requests"] == {"/v1/embeddings": 2, "/v1/chat/completions": 1}
    assert stats["inputs"]["/v1/embeddings"] == len(DOCUMENTS) + 1


def test_web_answers_from_the_search_results(fake_server, tmp_path):
    question = "What is new in Python 3.13?"
    outputs = run_json("web.yaml", question, fake_server, tmp_path)
    assert outputs["answer"] == fake_answer(last_prompt(fake_server))
    urls = list(dict.fromkeys(r["url"] for r in fake_results(question)))[:5]
    assert [s["source"] for s in outputs["sources"]] == urls
    assert f"Text 0 about {question}." in last_prompt(fake_server)
    assert fake_server.control.stats()["last"]["/search"]["q"] == question


def test_multi_agent_asks_the_three_roles_at_once(fake_server, tmp_path):
    fake_server.control.config(latency_ms=300)
    question = "Should we cache LLM answers?"
    outputs = run_json("multi_agent.yaml", question, fake_server, tmp_path)
    role_answer = fake_answer(question)  # each role is asked the bare question
    panel = "\n\n".join(f"## {role}\n{role_answer}"
                        for role in ("optimist", "skeptic", "engineer"))
    assert outputs["panel"] == panel
    assert outputs["answer"] == fake_answer(f"Panel:\n{panel}\n\nQuestion: {question}")
    stats = fake_server.control.stats()
    assert stats["requests"] == {"/v1/chat/completions": 4}
    assert stats["peak_in_flight"] >= 3  # the roles' requests were in flight together
