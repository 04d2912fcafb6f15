"""HTTP backend tests run against the fake server in a real subprocess, over every pairing of
event loop and transport that can run: aiohttp needs asyncio, httpx runs on both."""

from __future__ import annotations

import socket

import pytest

from tests.servers.fixtures import fake_server, fake_server_process  # noqa: F401

LOOPS_AND_TRANSPORTS = [
    pytest.param(("asyncio", "aiohttp"), id="asyncio-aiohttp"),
    pytest.param(("asyncio", "httpx"), id="asyncio-httpx"),
    pytest.param(("trio", "httpx"), id="trio-httpx"),
]


@pytest.fixture(params=LOOPS_AND_TRANSPORTS)
def loop_and_transport(request: pytest.FixtureRequest) -> tuple[str, str]:
    return request.param


@pytest.fixture
def anyio_backend(loop_and_transport: tuple[str, str]) -> str:
    return loop_and_transport[0]


@pytest.fixture
def transport(loop_and_transport: tuple[str, str]) -> str:
    return loop_and_transport[1]


@pytest.fixture
def closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (connections to it are refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
