"""Per-item result cache: keys (`keys`), value bytes (`codec`) and stores (`stores`).

`open_cache(url)` turns a `--cache` URL into a store:

    None                     memory front over SQLite at .llmkit/cache.db (the CLI default)
    memory://[?max_bytes=N]  in-process LRU bounded by N bytes of values
    sqlite:///abs/path.db    SQLite file (sqlite://rel/path.db is relative, like a plain path)
    path/to/file.db          SQLite file
    redis://host:6379/0[?prefix=NAME]
                             Redis server shared by processes and machines, keys under
                             NAME: (default llmkit:); rediss:// for TLS. Needs `llmkit[redis]`.
"""

from __future__ import annotations

from urllib.parse import parse_qs

from llmkit.cache.codec import CodecError, decode, encode, register_dataclass
from llmkit.cache.keys import KEY_FORMAT_VERSION, UnhashableError, hash_value, item_key
from llmkit.cache.stores.base import CacheEntry, CacheStore, StoreUsage, redact_url
from llmkit.cache.stores.memory import MemoryCache
from llmkit.cache.stores.sqlite import SQLiteCache
from llmkit.cache.stores.tiered import TieredCache
from llmkit.errors import CacheError, did_you_mean

__all__ = [
    "DEFAULT_PATH",
    "KEY_FORMAT_VERSION",
    "CacheEntry",
    "CacheError",
    "CacheStore",
    "CodecError",
    "MemoryCache",
    "SQLiteCache",
    "StoreUsage",
    "TieredCache",
    "UnhashableError",
    "decode",
    "encode",
    "hash_value",
    "item_key",
    "open_cache",
    "register_dataclass",
]

DEFAULT_PATH = ".llmkit/cache.db"
_SCHEMES = ("memory", "sqlite", "redis", "rediss")
_USE = "use memory://, sqlite:///path.db, redis://host:6379/0 or a file path"


def open_cache(url: str | None = None) -> CacheStore:
    """The store a `--cache` URL names (see the module docstring); `CacheError` if it cannot
    be opened or the URL is not understood."""
    if url is None:
        return TieredCache(MemoryCache(), SQLiteCache(DEFAULT_PATH))
    if not url.strip():
        raise CacheError(f"empty cache URL: {_USE}")
    scheme, sep, rest = url.partition("://")
    if not sep:
        return SQLiteCache(url)
    if scheme == "sqlite":
        if not rest or rest == "/":
            raise CacheError(f"no file in cache URL {url!r}: use sqlite:///abs/path.db")
        return SQLiteCache(rest)
    if scheme == "memory":
        return _open_memory(url, rest)
    if scheme in ("redis", "rediss"):
        return _open_redis(url)
    raise CacheError(
        f"unknown cache scheme {scheme!r} in {redact_url(url)}{did_you_mean(scheme, _SCHEMES)}: "
        f"{_USE}"
    )


def _open_redis(url: str) -> CacheStore:
    try:
        from llmkit.cache.stores.redis import RedisCache
    except ImportError as exc:
        raise CacheError(f"{redact_url(url)} needs redis-py: pip install 'llmkit[redis]' "
                         f"({exc})") from exc
    return RedisCache(url)


def _open_memory(url: str, rest: str) -> MemoryCache:
    location, _, query = rest.partition("?")
    options = parse_qs(query, keep_blank_values=True)
    if location or set(options) - {"max_bytes"}:
        raise CacheError(f"unexpected parts in {url!r}: use memory:// or memory://?max_bytes=N")
    if "max_bytes" not in options:
        return MemoryCache()
    try:
        return MemoryCache(max_bytes=int(options["max_bytes"][-1]))
    except ValueError as exc:
        raise CacheError(f"bad max_bytes in {url!r}: expected a positive integer") from exc
