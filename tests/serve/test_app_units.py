"""The server's pure logic, in process: schema generation, error mapping, auth compare,
limits, and the ASGI app through Starlette's TestClient (the process-level tests are in the
other files of tests/serve/)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.extras import require

require("starlette", "serve")
require("prometheus_client", "serve")

from starlette.testclient import TestClient  # noqa: E402

from llmkit import Pipeline, node  # noqa: E402
from llmkit.errors import BackendError, InputError, LlmkitError, NodeError  # noqa: E402
from llmkit.serve import app  # noqa: E402
from llmkit.serve.auth import authorized  # noqa: E402
from llmkit.serve.errors import ApiError, classify, error_body  # noqa: E402
from llmkit.serve.limits import InFlight  # noqa: E402
from llmkit.serve.schema import json_schema, openapi, pipeline_schemas  # noqa: E402


@node(outputs="answer", inline=True)
def shout(question: str) -> str:
    if question == "boom":
        raise ValueError("exploded with sk-live-123")
    return question.upper()


def echo() -> Pipeline:
    return (Pipeline("echo", {"question": str, "n": int}, description="shouts")
            .add("gen", shout, question="question").outputs(answer="gen.answer", n="n"))


def client(**options: Any) -> TestClient:
    return TestClient(app([echo()], **options))


# -- schema ------------------------------------------------------------------------------------
@pytest.mark.parametrize(("kind", "schema"), [
    (str, {"type": "string"}), (int, {"type": "integer"}), (float, {"type": "number"}),
    (bool, {"type": "boolean"}), (dict, {"type": "object"}),
    (list[str], {"type": "array", "items": {"type": "string"}}), (Any, {}), (object, {})])
def test_json_schema_of_python_types(kind, schema):
    assert json_schema(kind) == schema


def test_pipeline_schemas_come_from_declared_inputs_and_output_ports():
    inputs, outputs = pipeline_schemas(echo())
    assert inputs == {"type": "object", "additionalProperties": False,
                      "required": ["question", "n"],
                      "properties": {"question": {"type": "string"}, "n": {"type": "integer"}}}
    # `answer` reads a function node's port (typed by its return annotation), `n` the input
    assert outputs["properties"] == {"answer": {"type": "string"}, "n": {"type": "integer"}}


def test_openapi_lists_each_pipelines_endpoints_and_schemas():
    doc = openapi({"echo": echo()}, [])
    assert {"/pipelines/echo/run", "/pipelines/echo/run_many", "/pipelines/echo/stream",
            "/pipelines/echo", "/health", "/ready", "/metrics"} <= set(doc["paths"])
    assert "/v1/chat/completions" not in doc["paths"]  # no chat models
    assert doc["components"]["schemas"]["echo.inputs"]["required"] == ["question", "n"]
    body = doc["paths"]["/pipelines/echo/run"]["post"]["requestBody"]
    assert body["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/echo.inputs"}


# -- errors ------------------------------------------------------------------------------------
@pytest.mark.parametrize(("exc", "status", "kind"), [
    (ApiError(413, "body_too_large", "x"), 413, "body_too_large"),
    (InputError("missing input 'q'"), 422, "input_error"),
    (NodeError("embed", BackendError("401 check OPENAI_API_KEY")), 502, "backend_error"),
    (NodeError("gen", ValueError("bad")), 500, "node_error"),
    (LlmkitError("odd"), 500, "llmkit_error"),
    (RuntimeError("bug"), 500, "internal_error")])
def test_classify(exc, status, kind):
    assert classify(exc) == (status, kind)


def test_error_body_is_one_scrubbed_line():
    exc = NodeError("gen", ValueError("line one\n  key sk-live-123"))
    body = error_body(exc, lambda text: text.replace("sk-live-123", "***"))
    assert body == {"error": {"type": "node_error",
                              "message": "node 'gen' failed: ValueError: line one key ***"}}
    assert error_body(RuntimeError("bug"), str)["error"]["message"] == "RuntimeError: bug"


# -- auth --------------------------------------------------------------------------------------
@pytest.mark.parametrize(("header", "ok"), [
    (b"Bearer s3cret", True), (b"bearer s3cret", True), (b"Bearer s3cre", False),
    (b"Bearer s3cretX", False), (b"Basic s3cret", False), (b"s3cret", False), (None, False)])
def test_authorized(header, ok):
    assert authorized(header, b"s3cret") is ok


def test_auth_guards_everything_but_the_probes():
    with client(token="s3cret") as c:
        assert c.get("/health").status_code == 200
        assert c.get("/ready").status_code == 200
        refused = c.post("/pipelines/echo/run", json={"question": "a", "n": 1})
        assert refused.status_code == 401
        assert refused.json()["error"]["type"] == "unauthorized"
        assert "s3cret" not in refused.text
        assert c.get("/metrics").status_code == 401
        ok = c.post("/pipelines/echo/run", json={"question": "a", "n": 1},
                    headers={"Authorization": "Bearer s3cret"})
        assert ok.json() == {"outputs": {"answer": "A", "n": 1}}


# -- limits ------------------------------------------------------------------------------------
def test_in_flight_refuses_beyond_its_limit_with_retry_after():
    gate = InFlight(2)
    gate.enter()
    gate.enter()
    with pytest.raises(ApiError) as info:
        gate.enter()
    assert (info.value.status, info.value.headers) == (429, {"Retry-After": "1"})
    gate.exit()
    gate.enter()  # a place came free
    assert gate.count == 2


def test_a_body_over_max_body_is_413_and_malformed_json_400():
    with client(max_body=100) as c:
        big = c.post("/pipelines/echo/run", content=b'{"question": "' + b"x" * 200 + b'"}')
        assert big.status_code == 413
        assert big.json()["error"]["type"] == "body_too_large"
        chunked = c.post("/pipelines/echo/run", content=iter([b'{"question": "', b"x" * 200]))
        assert chunked.status_code == 413  # no Content-Length: counted as it arrives
        bad = c.post("/pipelines/echo/run", content=b"{nope")
        assert bad.status_code == 400
        assert bad.json()["error"]["type"] == "invalid_json"


# -- endpoints -----------------------------------------------------------------------------------
def test_run_errors_map_to_statuses_with_one_line_messages():
    with client() as c:
        assert c.post("/pipelines/nope/run", json={}).status_code == 404
        missing = c.post("/pipelines/echo/run", json={"question": "a"})
        assert missing.status_code == 422
        assert missing.json()["error"]["message"] == "missing input 'n'"
        failed = c.post("/pipelines/echo/run", json={"question": "boom", "n": 1})
        assert failed.status_code == 500
        assert failed.json()["error"]["message"] == \
            "node 'gen' failed: ValueError: exploded with sk-live-123"
        assert c.get("/no/such/route").json()["error"]["type"] == "not_found"


def test_run_many_answers_each_input_in_order_json_and_ndjson():
    with client() as c:
        many = c.post("/pipelines/echo/run_many",
                      json=[{"question": "a", "n": 1}, {"question": "b"}, 7])
        results = many.json()["results"]
        assert results[0] == {"outputs": {"answer": "A", "n": 1}}
        assert results[1]["error"]["type"] == results[2]["error"]["type"] == "input_error"
        lines = b'{"question": "a", "n": 1}\n\n{bad\n{"question": "c", "n": 3}\n'
        streamed = c.post("/pipelines/echo/run_many", content=lines,
                          headers={"content-type": "application/x-ndjson"})
        records = [json.loads(line) for line in streamed.text.splitlines()]
        assert [r.get("outputs", {}).get("answer") for r in records] == ["A", None, "C"]
        assert records[1]["error"]["message"].startswith("run 1: the body is not valid JSON")


def test_stream_sends_node_events_then_the_result():
    with client() as c:
        text = c.post("/pipelines/echo/stream", json={"question": "a", "n": 2}).text
    events = [block.split("\n")[0] for block in text.strip().split("\n\n")]
    assert events == ["event: node_started", "event: node_finished", "event: result"]
    assert text.strip().endswith('data: {"outputs":{"answer":"A","n":2}}')


def test_describe_lists_inputs_outputs_and_the_mermaid_graph():
    with client() as c:
        described = c.get("/pipelines/echo").json()
    assert described["inputs"] == {"question": "str", "n": "int"}
    assert described["outputs"] == ["answer", "n"]
    assert described["mermaid"].startswith("flowchart LR")


def test_metrics_count_requests_and_node_batches():
    with client() as c:
        c.post("/pipelines/echo/run", json={"question": "a", "n": 1})
        c.post("/pipelines/echo/run_many", json=[{"question": "b", "n": 1}] * 3)
        text = c.get("/metrics").text
    assert 'llmkit_requests_total{route="/pipelines/{name}/run",status="200"} 1.0' in text
    assert 'llmkit_node_items_total{node="gen",pipeline="echo"} 4.0' in text


def test_chat_models_need_question_and_answer():
    qa = Pipeline("qa", {"question": str}).add("gen", shout, question="question") \
        .outputs(answer="gen.answer")
    with TestClient(app([echo(), qa])) as c:
        assert [m["id"] for m in c.get("/v1/models").json()["data"]] == ["qa"]
        answer = c.post("/v1/chat/completions", json={"model": "qa", "messages": [
            {"role": "user", "content": "first"}, {"role": "assistant", "content": "x"},
            {"role": "user", "content": "last"}]}).json()
        assert answer["choices"][0]["message"]["content"] == "LAST"
        assert c.post("/v1/chat/completions", json={
            "model": "echo", "messages": []}).status_code == 404
