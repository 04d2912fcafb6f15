"""A cache in a Redis server, shared by every process and machine that can reach it.

URL: `redis://[[user]:password@]host[:port][/db][?prefix=NAME&socket_timeout=S...]`
(`rediss://` for TLS). Every key starts with the
prefix (default `llmkit`), so projects can share a server: `clear()` deletes only keys under
ours (never FLUSHDB). Other query options go to redis-py's `from_url`.

Layout: an entry is the string `PREFIX:v:<hex key>` holding a small header (format
version, expiry, node name) followed by the value; reads are one `MGET` per batch, writes
one `MULTI`/`SET ... PX` pipeline. Expiry is enforced twice: the server drops the key after
its TTL (`PX`), and reads compare the header's expiry with `clock`, like the other stores.
`stats()` and `clear(node)` walk our keys with `SCAN` and read only headers: they cost one
pass over the prefix, fine for an admin command, not for a hot path.

Leases, for cross-process single-flight: `lease_many(keys, seconds)` sets
`PREFIX:lease:<hex key>` with `SET NX PX` to a token unique to this store object, so exactly
one client wins each key until it calls `release_many(keys)` or the lease expires (the
holder died). `release_many` deletes only leases holding our token (a Lua compare-and-delete),
so a holder whose lease expired and was taken over cannot free the new owner's lease.

One `redis.Redis` client, whose connection pool is shared by threads (each command borrows a
connection) and reset after a fork by redis-py. A lost connection or any server error is a
`CacheError` naming the URL without its password.
"""

from __future__ import annotations

import math
import os
import struct
from collections.abc import Iterator, Sequence
from typing import ClassVar, NoReturn
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import redis

from llmkit.cache.stores.base import CacheEntry, CacheStore, StoreUsage, expiry, redact_url
from llmkit.errors import CacheError

__all__ = ["DEFAULT_PREFIX", "RedisCache"]

DEFAULT_PREFIX = "llmkit"
_HEADER = struct.Struct("<BdH")  # format version, expiry (0: never), node name length
_VERSION = 1
_HEAD_BYTES = 256  # header bytes stats() fetches per entry; longer node names cost a refetch
_CHUNK = 1000  # keys per MGET / SCAN step / UNLINK
_RELEASE = """
local n = 0
for _, key in ipairs(KEYS) do
    if redis.call('GET', key) == ARGV[1] then n = n + redis.call('DEL', key) end
end
return n
"""


class RedisCache(CacheStore):
    """A cache in the Redis server at `url`, under the key prefix its `prefix` option names.

    The constructor connects and pings, so a wrong URL fails at once, not at the first read.
    """

    blocking: ClassVar[bool] = True

    def __init__(self, url: str, *, connect_timeout: float = 5.0, timeout: float = 30.0) -> None:
        self._url = redact_url(url)
        server_url, prefix = _split_prefix(url)
        self.prefix = prefix
        self._values = f"{prefix}:v:".encode()
        self._leases = f"{prefix}:lease:".encode()
        self._token = os.urandom(16)
        try:
            self._client = redis.Redis.from_url(
                server_url, socket_connect_timeout=connect_timeout, socket_timeout=timeout)
            self._release = self._client.register_script(_RELEASE)
            self._client.ping()
        except (redis.RedisError, ValueError) as exc:
            self._fail("open", exc)

    @property
    def url(self) -> str:
        return self._url

    def get_entries(self, keys: Sequence[bytes]) -> list[CacheEntry | None]:
        if not keys:
            return []
        names = [self._values + key.hex().encode() for key in keys]
        try:
            pipe = self._client.pipeline(transaction=False)
            for start in range(0, len(names), _CHUNK):
                pipe.mget(names[start : start + _CHUNK])
            raw = [value for chunk in pipe.execute() for value in chunk]
        except redis.RedisError as exc:
            self._fail("read", exc)
        now = self.clock()
        return [None if data is None else _live(_unpack(data), now) for data in raw]

    def set_many(
        self, entries: Sequence[tuple[bytes, bytes]], *, node: str, ttl: float | None = None
    ) -> None:
        expires = expiry(ttl, self.clock())
        if not entries:
            return
        head = _HEADER.pack(_VERSION, expires or 0.0, len(node_bytes := node.encode())) + node_bytes
        px = None if ttl is None else math.ceil(ttl * 1000)
        try:
            pipe = self._client.pipeline(transaction=True)  # all of them or none
            for key, value in entries:
                pipe.set(self._values + key.hex().encode(), head + value, px=px)
            pipe.execute()
        except redis.RedisError as exc:
            self._fail("write", exc)

    def clear(self, node: str | None = None) -> int:
        removed = 0
        try:
            for names in self._scan():
                if node is not None:
                    heads = self._heads(names)
                    names = [n for n, (entry, _) in zip(names, heads, strict=True)
                             if entry is not None and entry.node == node]
                if names:
                    removed += self._client.unlink(*names)
        except redis.RedisError as exc:
            self._fail("clear", exc)
        return removed

    def stats(self) -> dict[str, StoreUsage]:
        usage: dict[str, tuple[int, int]] = {}
        now = self.clock()
        try:
            for names in self._scan():
                for entry, size in self._heads(names):
                    if entry is not None and _live(entry, now) is not None:
                        count, total = usage.get(entry.node, (0, 0))
                        usage[entry.node] = (count + 1, total + size)
        except redis.RedisError as exc:
            self._fail("read", exc)
        return {node: StoreUsage(count, size) for node, (count, size) in usage.items()}

    def lease_many(self, keys: Sequence[bytes], seconds: float) -> list[bool]:
        """Try to lease each key for `seconds` (SET NX PX): True where this store now holds
        the lease, False where another holder (or this store, earlier) already does."""
        if not seconds > 0:
            raise ValueError(f"lease must be a positive number of seconds, got {seconds!r}")
        px = math.ceil(seconds * 1000)
        try:
            pipe = self._client.pipeline(transaction=False)
            for key in keys:
                pipe.set(self._leases + key.hex().encode(), self._token, nx=True, px=px)
            return [bool(won) for won in pipe.execute()]
        except redis.RedisError as exc:
            self._fail("lease", exc)

    def release_many(self, keys: Sequence[bytes]) -> int:
        """Give up the leases this store holds on `keys` (others' are left alone); return how
        many were released."""
        if not keys:
            return 0
        try:
            return int(self._release(keys=[self._leases + k.hex().encode() for k in keys],
                                     args=[self._token]))
        except redis.RedisError as exc:
            self._fail("release", exc)

    def close(self) -> None:
        self._client.close()

    def _scan(self) -> Iterator[list[bytes]]:
        """Our entry keys, a batch at a time (a key may appear twice, as SCAN allows)."""
        pattern = _glob_escape(self._values) + b"*"
        cursor = None
        while cursor != 0:
            cursor, names = self._client.scan(cursor or 0, match=pattern, count=_CHUNK)
            if names:
                yield names

    def _heads(self, names: list[bytes]) -> list[tuple[CacheEntry | None, int]]:
        """Each entry's header (value left empty) and value size, reading only the header."""
        pipe = self._client.pipeline(transaction=False)
        for name in names:
            pipe.getrange(name, 0, _HEAD_BYTES - 1)
            pipe.strlen(name)
        replies = pipe.execute()
        out: list[tuple[CacheEntry | None, int]] = []
        for name, head, length in zip(names, replies[::2], replies[1::2], strict=True):
            entry = _unpack(head)
            if entry is None and len(head) == _HEAD_BYTES:  # a node name longer than we read
                head = self._client.getrange(name, 0, -1)
                entry = _unpack(head)
            header = len(head) - len(entry.value) if entry is not None else 0
            out.append((entry, length - header))
        return out

    def _fail(self, action: str, exc: Exception) -> NoReturn:
        detail = " ".join(str(exc).split()) or type(exc).__name__
        raise CacheError(f"cannot {action} the cache at {self._url}: {detail}") from exc


def _split_prefix(url: str) -> tuple[str, str]:
    """The URL redis-py understands, and the key prefix taken out of its query."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    prefixes = [v for k, v in query if k == "prefix"]
    prefix = prefixes[-1].rstrip(":") if prefixes else DEFAULT_PREFIX
    if not prefix:
        raise CacheError(f"empty prefix in {redact_url(url)}: use ?prefix=NAME or leave it out")
    rest = urlencode([(k, v) for k, v in query if k != "prefix"])
    return urlunsplit(parts._replace(query=rest)), prefix


def _unpack(data: bytes) -> CacheEntry | None:
    """The entry in `data`, which may be cut anywhere after the node name (None if it is not
    one of ours)."""
    if len(data) < _HEADER.size or data[0] != _VERSION:
        return None
    _, expires, name_len = _HEADER.unpack_from(data)
    start = _HEADER.size + name_len
    if len(data) < start:
        return None
    node = data[_HEADER.size : start].decode("utf-8", "replace")
    return CacheEntry(data[start:], node, expires or None)


def _live(entry: CacheEntry | None, now: float) -> CacheEntry | None:
    if entry is None or (entry.expires is not None and entry.expires <= now):
        return None
    return entry


def _glob_escape(text: bytes) -> bytes:
    return b"".join(b"\\" + bytes([c]) if c in b"*?[]\\" else bytes([c]) for c in text)

