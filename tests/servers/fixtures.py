"""Pytest fixtures serving the fake LLM server from a real subprocess.

`fake_server_process` starts one server per session; `fake_server` hands it to a test with its
config, faults and counters reset. Under CI=true a server that cannot start fails the tests;
elsewhere it skips them.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.servers.process import FakeServerProcess


@pytest.fixture(scope="session")
def fake_server_process() -> Iterator[FakeServerProcess]:
    try:
        server = FakeServerProcess()
    except Exception as exc:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(f"the fake LLM server did not start: {exc}")
        pytest.skip(f"the fake LLM server did not start: {exc}")
    with server:
        yield server


@pytest.fixture
def fake_server(fake_server_process: FakeServerProcess) -> FakeServerProcess:
    fake_server_process.control.reset()
    return fake_server_process
