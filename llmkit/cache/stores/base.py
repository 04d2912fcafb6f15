"""What a cache store must do: get and set opaque values by 16-byte key, in batches.

A store knows nothing about values (they are `codec` bytes) nor about keys (`keys.item_key`).
It records which pipeline node wrote each entry, for `stats()` and `clear(node)`, and an
optional expiry time.

Failure contract, shared by every backend:
- an entry whose bytes are damaged is returned as is; `codec.decode` then raises `CodecError`
  and the caller treats it as a miss. A damaged *entry* never makes `get_many` raise;
- when the store itself fails (disk full, lock timeout, a malformed database file, a lost
  connection), `get_many`, `set_many`, `clear` and `stats` raise `CacheError` naming the store.
  Callers running a pipeline treat such a read as all misses and such a write as skipped.
"""

from __future__ import annotations

import abc
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import ClassVar, NamedTuple
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from llmkit.secrets import REDACTED, is_secret_name

__all__ = ["CacheEntry", "CacheStore", "StoreUsage", "expiry", "redact_url"]


@dataclass(frozen=True)
class StoreUsage:
    """How many live entries, and how many bytes of values, one node has in a store."""

    entries: int
    bytes: int


class CacheEntry(NamedTuple):
    """A stored value with the node that wrote it and its expiry (seconds since the epoch)."""

    value: bytes
    node: str
    expires: float | None


class CacheStore(abc.ABC):
    """A key-value store for cached node results; every method takes a batch.

    Stores are thread-safe. `blocking` tells the scheduler whether calls do I/O (then it makes
    them from a worker thread) or return at once (memory).
    """

    blocking: ClassVar[bool]
    clock: Callable[[], float] = staticmethod(time.time)  # wall clock: expiry is shared on disk

    @property
    @abc.abstractmethod
    def url(self) -> str:
        """Where the store is, for messages (never with a password)."""

    def get_many(self, keys: Sequence[bytes]) -> list[bytes | None]:
        """The value of each key, in order (None for a miss or an expired entry)."""
        return [None if entry is None else entry.value for entry in self.get_entries(keys)]

    @abc.abstractmethod
    def get_entries(self, keys: Sequence[bytes]) -> list[CacheEntry | None]:
        """Like `get_many`, with each entry's node and expiry (a tiered store promotes them)."""

    @abc.abstractmethod
    def set_many(
        self, entries: Sequence[tuple[bytes, bytes]], *, node: str, ttl: float | None = None
    ) -> None:
        """Store (key, value) pairs written by `node`, expiring after `ttl` seconds if given;
        all of them or none (one transaction)."""

    @abc.abstractmethod
    def clear(self, node: str | None = None) -> int:
        """Remove the entries of `node` (all entries when None); return how many went."""

    @abc.abstractmethod
    def stats(self) -> dict[str, StoreUsage]:
        """Live entries and value bytes per node name."""

    @abc.abstractmethod
    def close(self) -> None:
        """Release connections and files; the store is unusable afterwards."""

    def __enter__(self) -> CacheStore:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.url!r})"


def expiry(ttl: float | None, now: float) -> float | None:
    """The absolute expiry time of an entry written at `now` with `ttl` (None: never)."""
    if ttl is None:
        return None
    if not ttl > 0:
        raise ValueError(f"cache ttl must be a positive number of seconds, got {ttl!r}")
    return now + ttl


def redact_url(url: str) -> str:
    """`url` with its password and secret-named query parameters replaced by ***."""
    parts = urlsplit(url)
    netloc = parts.netloc
    if parts.password is not None:
        userinfo, _, host = netloc.rpartition("@")
        user = userinfo.partition(":")[0]
        netloc = f"{user}:{REDACTED}@{host}"
    query = parts.query
    pairs = parse_qsl(query, keep_blank_values=True)
    if any(is_secret_name(k) for k, _ in pairs):
        query = urlencode([(k, REDACTED if is_secret_name(k) else v) for k, v in pairs],
                          safe="*")
    if (netloc, query) == (parts.netloc, parts.query):
        return url
    return urlunsplit(parts._replace(netloc=netloc, query=query))
