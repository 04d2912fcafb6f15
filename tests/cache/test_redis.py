"""What is specific to the Redis store: server-side TTLs, prefixes, failures, leases, and a
cache shared by two processes. The store contract (test_store_contract.py) runs over it too."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from llmkit.cache import CacheError, StoreUsage, open_cache
from tests.extras import require
from tests.servers.redis_server import RedisServer, free_port

redis = require("redis", extra="redis")

REPO = Path(__file__).parents[2]


def k(i: int) -> bytes:
    return i.to_bytes(16, "big")


@pytest.fixture
def raw(redis_server):
    """A plain redis-py client on the test server, to look behind the store."""
    with redis.Redis.from_url(redis_server.url) as client:
        yield client


def test_ttl_is_set_on_the_server(redis_url, raw):
    with open_cache(redis_url) as store:
        store.set_many([(k(1), b"short")], node="n", ttl=10)
        store.set_many([(k(2), b"forever")], node="n")
    short, forever = (raw.pttl(f"{redis_url.rpartition('=')[2]}:v:{k(i).hex()}") for i in (1, 2))
    assert 9_000 < short <= 10_000
    assert forever == -1  # no expiry


def test_a_url_without_prefix_uses_llmkit(redis_server, raw):
    with open_cache(redis_server.url) as store:
        assert store.prefix == "llmkit"
        store.set_many([(k(1), b"x")], node="n")
        assert raw.exists(f"llmkit:v:{k(1).hex()}") == 1
        assert store.clear() == 1


def test_prefixes_isolate_projects_and_clear_only_their_own_keys(redis_server, raw):
    url = redis_server.url
    raw.set(b"someone-else:key", b"theirs")
    # a glob character in a prefix must not widen clear() to `ab:...`
    with open_cache(f"{url}?prefix=a*") as star, open_cache(f"{url}?prefix=ab") as ab:
        star.set_many([(k(1), b"star")], node="n")
        ab.set_many([(k(1), b"ab"), (k(2), b"ab")], node="n")
        assert star.get_many([k(1), k(2)]) == [b"star", None]
        assert star.stats() == {"n": StoreUsage(entries=1, bytes=4)}
        assert star.clear() == 1
        assert ab.get_many([k(1), k(2)]) == [b"ab", b"ab"]
        assert ab.stats() == {"n": StoreUsage(entries=2, bytes=4)}
        assert ab.clear() == 2
    assert raw.get(b"someone-else:key") == b"theirs"  # never FLUSHDB


def test_stats_and_clear_read_long_node_names(redis_url):
    long_name = "n" * 1000
    with open_cache(redis_url) as store:
        store.set_many([(k(1), b"value")], node=long_name)
        assert store.stats() == {long_name: StoreUsage(entries=1, bytes=5)}
        assert store.clear(long_name) == 1


def test_a_foreign_value_or_another_layout_under_our_prefix_is_a_miss(redis_url, raw):
    with open_cache(redis_url) as store:
        raw.set(f"{store.prefix}:v:{k(1).hex()}", b"not an entry")
        raw.set(f"{store.prefix}:v:{k(2).hex()}", b"\x02" + bytes(10) + b"layout 2")
        assert store.get_many([k(1), k(2)]) == [None, None]
        assert store.stats() == {}


def test_an_unreachable_server_is_one_line_without_the_password():
    url = f"redis://:hunter2@127.0.0.1:{free_port()}/0"
    with pytest.raises(CacheError) as info:
        open_cache(url)
    message = str(info.value)
    assert message.startswith("cannot open the cache at redis://:***@127.0.0.1:")
    assert "hunter2" not in message and "\n" not in message


def test_a_wrong_password_or_a_server_that_dies_is_a_cache_error_without_the_password(
        redis_server):  # the session's server only gates the test: this one starts its own
    with RedisServer("--requirepass", "hunter2") as server:
        with pytest.raises(CacheError, match=r"^cannot open the cache at redis://:\*\*\*@") as info:
            open_cache(server.url.replace("redis://", "redis://:sesame@"))
        assert "sesame" not in str(info.value)
        store = open_cache(server.url.replace("redis://", "redis://:hunter2@"))
        store.set_many([(k(1), b"x")], node="n")
        server.stop()
        calls = [("read", lambda: store.get_many([k(1)])),
                 ("write", lambda: store.set_many([(k(2), b"y")], node="n")),
                 ("read", store.stats), ("clear", store.clear),
                 ("lease", lambda: store.lease_many([k(1)], 1)),
                 ("release", lambda: store.release_many([k(1)]))]
        for action, call in calls:
            with pytest.raises(CacheError) as info:
                call()
            message = str(info.value)
            assert message.startswith(f"cannot {action} the cache at redis://:***@127.0.0.1:")
            assert "hunter2" not in message and "\n" not in message
        store.close()


def test_a_multi_line_server_error_becomes_one_line(redis_url, monkeypatch):
    def fail(*args, **kwargs):
        raise redis.ResponseError("first line\nsecond line")

    with open_cache(redis_url) as store:
        monkeypatch.setattr(redis.client.Pipeline, "execute", fail)
        with pytest.raises(CacheError, match=r"the cache at .*: first line second line$"):
            store.get_many([k(1)])


def test_an_empty_prefix_is_refused(redis_server):
    with pytest.raises(CacheError, match="empty prefix"):
        open_cache(f"{redis_server.url}?prefix=")


# -- leases -----------------------------------------------------------------------------------

def test_one_client_wins_each_lease(redis_url):
    with open_cache(redis_url) as a, open_cache(redis_url) as b:
        assert a.lease_many([k(1), k(2)], 10) == [True, True]
        assert b.lease_many([k(1), k(3)], 10) == [False, True]
        assert a.lease_many([k(1)], 10) == [False]  # not re-entrant


def test_only_the_owner_releases_a_lease(redis_url):
    with open_cache(redis_url) as a, open_cache(redis_url) as b:
        a.lease_many([k(1)], 10)
        assert b.release_many([k(1)]) == 0
        assert b.lease_many([k(1)], 10) == [False]  # still a's
        assert a.release_many([k(1), k(2)]) == 1
        assert b.lease_many([k(1)], 10) == [True]


def test_an_expired_lease_is_free_and_its_old_holder_cannot_release_it(redis_url):
    with open_cache(redis_url) as a, open_cache(redis_url) as b:
        assert a.lease_many([k(1)], 0.05) == [True]
        time.sleep(0.1)
        assert b.lease_many([k(1)], 10) == [True]  # the holder "died"
        assert a.release_many([k(1)]) == 0
        assert a.lease_many([k(1)], 10) == [False]


def test_leases_are_not_entries(redis_url):
    with open_cache(redis_url) as store:
        store.lease_many([k(1)], 10)
        assert store.get_many([k(1)]) == [None]
        assert store.stats() == {}
        assert store.clear() == 0


@pytest.mark.parametrize("seconds", [0, -1, float("nan")])
def test_a_non_positive_lease_is_refused(redis_url, seconds):
    with open_cache(redis_url) as store, pytest.raises(ValueError, match="lease"):
        store.lease_many([k(1)], seconds)


# -- two processes ----------------------------------------------------------------------------

COUNTING_NODE = '''
from llmkit.core.node import Node


class Counted(Node):
    """Echoes x, appending a line to `log` for every item it computes."""

    inputs = {"x": object}
    outputs = {"y": object}

    def __init__(self, log: str) -> None:
        self.log = log

    def run(self, x):
        with open(self.log, "a") as f:
            f.write(f"{x}\\n")
        return {"y": x}
'''


def test_a_second_process_computes_nothing_and_the_cli_sees_the_entries(redis_url, tmp_path):
    (tmp_path / "counting.py").write_text(COUNTING_NODE)
    (tmp_path / "p.yaml").write_text(textwrap.dedent(f"""\
        llmkit: 1
        name: counted
        inputs: [x]
        nodes:
          c:
            type: "counting:Counted"
            params: {{log: "{tmp_path / 'log.txt'}"}}
            inputs: {{x: x}}
        """))
    (tmp_path / "in.jsonl").write_text("".join(json.dumps({"x": i}) + "\n" for i in range(50)))

    def llmkit(*args: str) -> str:
        return subprocess.run([sys.executable, "-m", "llmkit", *args, "--cache", redis_url],
                              cwd=tmp_path, check=True, timeout=60, capture_output=True,
                              text=True, env={"PYTHONPATH": f"{tmp_path}:{REPO}"}).stdout

    def run(output: str) -> None:
        llmkit("run", "p.yaml", "--allow-import", "--input-file", "in.jsonl", "--output", output)

    run("first.jsonl")
    assert len((tmp_path / "log.txt").read_text().splitlines()) == 50
    run("second.jsonl")
    assert len((tmp_path / "log.txt").read_text().splitlines()) == 50  # all 50 were hits
    outputs = [sorted(json.loads(line)["y"] for line in (tmp_path / f).read_text().splitlines())
               for f in ("first.jsonl", "second.jsonl")]
    assert outputs[0] == outputs[1] == list(range(50))
    assert llmkit("cache", "stats").splitlines()[1].split()[:2] == ["c", "50"]
    assert llmkit("cache", "clear").strip() == "cleared 50 entries"
