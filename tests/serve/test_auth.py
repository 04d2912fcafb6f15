"""Bearer-token auth: no token or a wrong one is a 401, the right one a 200; the token is in
no response and no line the server writes."""

from __future__ import annotations

import httpx
import pytest

from tests.serve.conftest import NAME

TOKEN = "llmkit-serve-token-5e2b9c41d7a3"
WRONG = "llmkit-serve-token-0000wrong000"


@pytest.mark.parametrize("given_by", ["env", "flag"])
def test_only_the_right_token_runs_and_it_goes_nowhere(start_serve, fake_server, given_by):
    server = (start_serve(env={"LLMKIT_SERVE_TOKEN": TOKEN}) if given_by == "env"
              else start_serve("--token", TOKEN))
    run = f"{server.url}/pipelines/{NAME}/run"
    body = {"question": f"[auth {given_by}] Why do tides rise?"}
    attempts = {
        "none": httpx.post(run, json=body, timeout=30),
        "wrong": httpx.post(run, json=body, headers={"Authorization": f"Bearer {WRONG}"},
                            timeout=30),
        "not bearer": httpx.post(run, json=body, headers={"Authorization": TOKEN}, timeout=30),
        "right": httpx.post(run, json=body, headers={"Authorization": f"Bearer {TOKEN}"},
                            timeout=30),
        "right, chat": httpx.post(f"{server.url}/v1/chat/completions", timeout=30,
                                  headers={"Authorization": f"Bearer {TOKEN}"},
                                  json={"model": NAME, "messages": [
                                      {"role": "user", "content": body["question"]}]}),
        "metrics, none": httpx.get(f"{server.url}/metrics", timeout=30),
        "models, wrong": httpx.get(f"{server.url}/v1/models", timeout=30,
                                   headers={"Authorization": f"Bearer {WRONG}"}),
    }
    statuses = {name: r.status_code for name, r in attempts.items()}
    assert statuses == {"none": 401, "wrong": 401, "not bearer": 401, "right": 200,
                        "right, chat": 200, "metrics, none": 401, "models, wrong": 401}
    assert attempts["wrong"].json()["error"]["type"]
    assert attempts["right"].json()["outputs"]["answer"]
    server.terminate()  # its last lines, too
    seen = [server.stderr(), server.stdout()] + [
        f"{r.headers}\n{r.text}" for r in attempts.values()]
    for secret in (TOKEN, WRONG):
        assert not [text for text in seen if secret in text]
    assert f"/pipelines/{NAME}/run" in server.stderr() + server.stdout()  # an access log
