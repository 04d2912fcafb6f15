"""Answers stream: Server-Sent Events deliver tokens while the run is still going, and the
OpenAI-compatible endpoint serves the `openai` SDK, streaming and not."""

from __future__ import annotations

import json
import time

import httpx

from tests.extras import require
from tests.serve.conftest import NAME, expected_outputs

openai = require("openai")


def sse_events(response: httpx.Response) -> list[tuple[str, dict, float]]:
    """(event name, data, arrival time) of every event of a `text/event-stream` response."""
    events, name, data = [], "message", []
    for line in response.iter_lines():
        if line.startswith("event:"):
            name = line[6:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].strip())
        elif not line and data:
            events.append((name, json.loads("\n".join(data)), time.monotonic()))
            name, data = "message", []
    return events


def test_sse_delivers_tokens_before_the_run_finishes(served, fake_server, rag_env, tmp_path):
    question = "[sse] How do tides relate to glaciers?"
    answer = expected_outputs(rag_env, tmp_path, [question])[0]["answer"]
    fake_server.control.config(stream_delay_ms=80)  # the chat server sends a token every 80 ms
    with httpx.stream("POST", f"{served.url}/pipelines/{NAME}/stream",
                      json={"question": question}, timeout=30) as response:
        assert response.status_code == 200, response.read()
        assert response.headers["content-type"].startswith("text/event-stream")
        events = sse_events(response)
    names = [name for name, _, _ in events]
    assert names[-1] == "result" and "error" not in names, names
    assert {"node_started", "node_finished"} <= set(names), names
    tokens = [(data, at) for name, data, at in events if name == "token"]
    assert len(tokens) > 3 and {data["node"] for data, _ in tokens} == {"generate"}, names
    assert "".join(data["text"] for data, _ in tokens) == answer
    assert events[-1][1]["outputs"]["answer"] == answer
    # the first token came while the others were still on their way, not all at the end
    assert events[-1][2] - tokens[0][1] > 0.3, [at for _, _, at in events]


def chat(served, **kwargs):
    client = openai.OpenAI(base_url=f"{served.url}/v1", api_key="unused", max_retries=0)
    return client, client.chat.completions.create(model=NAME, **kwargs)


def test_the_openai_sdk_gets_the_answer(served, fake_server, rag_env, tmp_path):
    question = "[sdk] How do bees relate to volcanoes?"
    answer = expected_outputs(rag_env, tmp_path, [question])[0]["answer"]
    client, completion = chat(served, messages=[
        {"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hello"},
        {"role": "assistant", "content": "Hi."}, {"role": "user", "content": question}])
    assert completion.object == "chat.completion" and completion.model == NAME
    assert completion.choices[0].message.role == "assistant"
    assert completion.choices[0].message.content == answer  # the last user message was asked
    assert completion.choices[0].finish_reason == "stop"
    assert NAME in [model.id for model in client.models.list()]


def test_the_openai_sdk_streams_the_answer(served, fake_server, rag_env, tmp_path):
    question = "[sdk stream] How do glaciers relate to bees?"
    answer = expected_outputs(rag_env, tmp_path, [question])[0]["answer"]
    _, stream = chat(served, stream=True, messages=[{"role": "user", "content": question}])
    chunks = list(stream)
    assert {chunk.object for chunk in chunks} == {"chat.completion.chunk"}
    pieces = [chunk.choices[0].delta.content for chunk in chunks if chunk.choices]
    assert len([p for p in pieces if p]) > 3, pieces  # token by token, not one piece
    assert "".join(p or "" for p in pieces) == answer
    assert chunks[-1].choices[0].finish_reason == "stop"
