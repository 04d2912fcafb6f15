"""Bad requests get a clear 4xx: JSON `{"error": {"type", "message"}}` with a one-line
message, never a traceback, and the server goes on serving."""

from __future__ import annotations

import httpx

from tests.serve.conftest import NAME


def assert_error(response: httpx.Response, status: int, *words: str) -> None:
    """`response` is a JSON error of `status` whose one-line message names `words`."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json"), response.headers
    error = response.json()["error"]
    assert set(error) >= {"type", "message"}, error
    message = error["message"]
    assert message and isinstance(message, str) and "\n" not in message, error
    assert "Traceback" not in response.text and len(message) < 300, error
    for word in words:
        assert word in message, error


def post(served, path: str, **kwargs) -> httpx.Response:
    return httpx.post(served.url + path, timeout=30, **kwargs)


def test_malformed_json_is_a_400(served):
    response = post(served, f"/pipelines/{NAME}/run", content=b'{"question": "Why tides?',
                    headers={"Content-Type": "application/json"})
    assert_error(response, 400, "JSON")


def test_missing_and_unknown_inputs_are_a_422(served):
    assert_error(post(served, f"/pipelines/{NAME}/run", json={}), 422, "question")
    assert_error(post(served, f"/pipelines/{NAME}/run",
                      json={"question": "Why tides?", "colour": "blue"}), 422, "colour")


def test_an_unknown_pipeline_is_a_404(served):
    assert_error(post(served, "/pipelines/no_such_pipe/run", json={"question": "Why?"}), 404,
                 "no_such_pipe")


def test_a_10_mb_body_is_a_413_and_the_server_goes_on(served):
    body = b'{"question": "' + b"x" * (10 * 2**20) + b'"}'
    response = post(served, f"/pipelines/{NAME}/run", content=body,
                    headers={"Content-Type": "application/json"})
    assert_error(response, 413)
    assert httpx.get(served.url + "/health", timeout=10).status_code == 200
