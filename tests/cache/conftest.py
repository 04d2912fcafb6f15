"""A real `redis-server` for the Redis store's tests, one per session; each test gets a
database URL under a prefix of its own. A missing server or redis-py skips those tests
locally and fails them under CI=true."""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator

import pytest

from tests.extras import require
from tests.servers.redis_server import RedisServer

_prefixes = itertools.count()


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    require("redis", extra="redis")
    try:
        server = RedisServer()
    except (OSError, RuntimeError) as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true requires redis-server: {exc}", pytrace=False)
        pytest.skip(f"no redis-server: {exc}")
    with server:
        yield server


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    """A URL whose prefix no other test uses: the store behind it starts empty."""
    return f"{redis_server.url}?prefix=test{next(_prefixes)}"
