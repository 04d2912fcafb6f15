"""What is specific to one store (memory LRU, tiered promotion) and `open_cache` URLs."""

from __future__ import annotations

import pytest

import llmkit.cache
from llmkit.cache import (
    DEFAULT_PATH,
    CacheError,
    MemoryCache,
    SQLiteCache,
    StoreUsage,
    TieredCache,
    open_cache,
)
from llmkit.cache.stores.base import redact_url


def k(i: int) -> bytes:
    return i.to_bytes(16, "big")


# -- MemoryCache --------------------------------------------------------------------------

def test_memory_evicts_least_recently_used_by_bytes():
    cache = MemoryCache(max_bytes=10)
    cache.set_many([(k(1), b"aaaa"), (k(2), b"bbbb")], node="n")
    cache.get_many([k(1)])  # k(1) is now the most recent
    cache.set_many([(k(3), b"cccc")], node="n")
    assert cache.get_many([k(1), k(2), k(3)]) == [b"aaaa", None, b"cccc"]
    assert cache.stats() == {"n": StoreUsage(entries=2, bytes=8)}


def test_memory_skips_a_value_larger_than_its_budget():
    cache = MemoryCache(max_bytes=10)
    cache.set_many([(k(1), b"small")], node="n")
    cache.set_many([(k(2), b"x" * 11)], node="n")
    assert cache.get_many([k(1), k(2)]) == [b"small", None]


def test_memory_overwrite_accounts_bytes_once():
    cache = MemoryCache(max_bytes=10)
    for _ in range(5):
        cache.set_many([(k(1), b"12345678")], node="n")
    assert cache.stats() == {"n": StoreUsage(entries=1, bytes=8)}


@pytest.mark.parametrize("max_bytes", [0, -1, 1.5])
def test_memory_rejects_a_bad_budget(max_bytes):
    with pytest.raises(ValueError, match="max_bytes"):
        MemoryCache(max_bytes=max_bytes)


# -- TieredCache --------------------------------------------------------------------------

@pytest.fixture
def tiers(tmp_path):
    front, back = MemoryCache(), SQLiteCache(tmp_path / "cache.db")
    with TieredCache(front, back) as tiered:
        yield tiered, front, back


def test_tiered_promotes_back_hits_with_their_node_and_expiry(tiers):
    tiered, front, back = tiers
    now = 1_000_000.0
    for store in (front, back):
        store.clock = lambda: now
    back.set_many([(k(1), b"from disk")], node="embed", ttl=10)
    assert tiered.get_many([k(1), k(2)]) == [b"from disk", None]
    assert front.stats() == {"embed": StoreUsage(entries=1, bytes=9)}
    now += 11
    assert front.get_many([k(1)]) == [None]  # the back store's expiry came along


def test_tiered_clear_of_a_node_reaches_promoted_entries(tiers):
    tiered, front, back = tiers
    back.set_many([(k(1), b"v")], node="embed")
    tiered.get_many([k(1)])
    assert tiered.clear("embed") == 1
    assert tiered.get_many([k(1)]) == [None]
    assert front.stats() == {}


def test_tiered_writes_both_tiers_and_blocks_like_its_back(tiers):
    tiered, front, back = tiers
    tiered.set_many([(k(1), b"v")], node="n")
    assert front.get_many([k(1)]) == back.get_many([k(1)]) == [b"v"]
    assert tiered.blocking is True
    assert TieredCache(MemoryCache(), MemoryCache()).blocking is False


def test_tiered_sees_writes_of_another_process_through_the_back(tiers, tmp_path):
    tiered, _, _ = tiers
    with SQLiteCache(tmp_path / "cache.db") as other:
        other.set_many([(k(5), b"theirs")], node="n")
    assert tiered.get_many([k(5)]) == [b"theirs"]


# -- open_cache ---------------------------------------------------------------------------

def test_default_is_memory_over_sqlite_in_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with open_cache(None) as cache:
        assert isinstance(cache, TieredCache)
        assert isinstance(cache.front, MemoryCache)
        assert isinstance(cache.back, SQLiteCache)
        assert cache.back.path == tmp_path / DEFAULT_PATH
    assert (tmp_path / ".llmkit" / "cache.db").exists()


def test_sqlite_urls_and_plain_paths(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for url, expected in [
        (f"sqlite://{tmp_path}/abs/a.db", tmp_path / "abs" / "a.db"),
        ("sqlite://rel/b.db", tmp_path / "rel" / "b.db"),
        ("plain/c.db", tmp_path / "plain" / "c.db"),
    ]:
        with open_cache(url) as cache:
            assert isinstance(cache, SQLiteCache)
            assert cache.path == expected
            assert cache.url == f"sqlite://{expected}"


def test_memory_urls():
    with open_cache("memory://") as cache:
        assert isinstance(cache, MemoryCache)
    with open_cache("memory://?max_bytes=1000") as cache:
        assert cache.max_bytes == 1000


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("", "empty cache URL"),
        ("memory://?max_bytes=lots", "bad max_bytes"),
        ("memory://?max_bytes=0", "bad max_bytes"),
        ("memory://host", "unexpected parts"),
        ("sqlite://", "no file"),
        ("memroy://", "did you mean 'memory'"),
        ("s3://bucket/x", "use memory://, sqlite:///path.db, redis://host:6379/0 or a file"),
        ("mysql://:hunter2@db:3306/0", r"^unknown cache scheme 'mysql' in "
                                       r"mysql://:\*\*\*@db:3306/0: use memory://"),
    ],
)
def test_bad_urls_raise_cache_error(url, message):
    with pytest.raises(CacheError, match=message) as info:
        open_cache(url)
    assert "hunter2" not in str(info.value)


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("redis://:pw@host:6379/0", "redis://:***@host:6379/0"),
        ("redis://user:pw@host/0", "redis://user:***@host/0"),
        ("redis://user@host/0", "redis://user@host/0"),
        ("redis://host/0?password=pw&db=1", "redis://host/0?password=***&db=1"),
        ("sqlite:///tmp/x.db", "sqlite:///tmp/x.db"),
    ],
)
def test_urls_are_shown_without_passwords(url, shown):
    assert redact_url(url) == shown


def test_public_names_resolve():
    for name in llmkit.cache.__all__:
        assert hasattr(llmkit.cache, name), name
    assert len(set(llmkit.cache.__all__)) == len(llmkit.cache.__all__)
