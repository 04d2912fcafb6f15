"""`llmkit serve` tests: a real server process on 127.0.0.1 serving pipelines/rag_openai.yaml
against the fake LLM server (tests/servers), on a generated docs folder (tests/e2e's), its
clients in a process of their own (tests/serve/load.py). Under CI=true a missing `serve`
extra, or a fake server that cannot start, fails these tests instead of skipping them."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import PIPELINES, server_env
from tests.extras import require
from tests.serve.process import ServeProcess
from tests.servers.fixtures import fake_server, fake_server_process  # noqa: F401
from tests.servers.process import FakeServerProcess

PIPELINE = PIPELINES / "rag_openai.yaml"
NAME = "rag_openai"  # the YAML's `name:`


@pytest.fixture(scope="session")
def serve_extra() -> None:
    """The `serve` extra, installed (else a skip; under CI=true, a failure)."""
    require("llmkit.serve", "serve")


@pytest.fixture(scope="session")
def rag_env(fake_server_process: FakeServerProcess,  # noqa: F811
            tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The environment that points rag_openai.yaml at the fake server, on tests/e2e's
    generated docs folder (each server gets an index folder of its own: `index_env`)."""
    return server_env(fake_server_process, tmp_path_factory.mktemp("rag"))


def index_env(rag_env: dict[str, str], folder: Path) -> dict[str, str]:
    """`rag_env` with the index kept in `folder`."""
    return {**rag_env, "LLMKIT_INDEX": str(folder / "index")}


@pytest.fixture
def start_serve(serve_extra: None, rag_env: dict[str, str],
                tmp_path: Path) -> Iterator[Callable[..., ServeProcess]]:
    """`start_serve(*options, env={...})`: a server of rag_openai.yaml with those options, run
    in `tmp_path`; every server started is stopped by its PID after the test."""
    started: list[ServeProcess] = []

    def start(*options: str, env: dict[str, str] | None = None) -> ServeProcess:
        server = ServeProcess(str(PIPELINE), *options, cwd=tmp_path,
                              env={**index_env(rag_env, tmp_path), **(env or {})})
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture(scope="session")
def served(serve_extra: None, rag_env: dict[str, str],
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServeProcess]:
    """One server of rag_openai.yaml with the default options, shared by the tests that
    change none."""
    folder = tmp_path_factory.mktemp("served")
    with ServeProcess(str(PIPELINE), cwd=folder, env=index_env(rag_env, folder)) as server:
        yield server


def expected_outputs(rag_env: dict[str, str], folder: Path,
                     questions: list[str]) -> list[dict[str, Any]]:
    """What the library itself answers (`load_pipeline(...).run_many`, in this process, on
    the same docs and fake server): the answers a server must give."""
    from llmkit import load_pipeline

    pipeline = load_pipeline(PIPELINE, env=index_env(rag_env, folder))
    return [dict(outputs) for outputs in pipeline.run_many([{"question": q} for q in questions])]


def wait_ready(server: ServeProcess, timeout: float = 30.0) -> None:
    """Wait until `GET /ready` answers 200 (every pipeline's resources are prepared)."""
    deadline = time.monotonic() + timeout
    while httpx.get(server.url + "/ready", timeout=5).status_code != 200:
        assert time.monotonic() < deadline, "the server was not ready in time"
        time.sleep(0.05)


def metric(server: ServeProcess, name: str, headers: dict[str, str] | None = None,
           **labels: str) -> float:
    """The sum of the samples of metric `name` in the server's `GET /metrics`, of those with
    `labels` only when given."""
    text = httpx.get(server.url + "/metrics", headers=headers, timeout=10).text
    wanted = [f'{key}="{value}"' for key, value in labels.items()]
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.split("{")[0].split(" ")[0] == name
               and all(label in line for label in wanted))
