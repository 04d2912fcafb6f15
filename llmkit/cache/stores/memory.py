"""An in-process cache: least recently used entries go first once values exceed a byte budget."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from typing import ClassVar

from llmkit.cache.stores.base import CacheEntry, CacheStore, StoreUsage, expiry


class MemoryCache(CacheStore):
    """A thread-safe LRU dict bounded by the total size of its values.

    A value larger than the whole budget is not kept. Expired entries are dropped when read
    or when `stats()` walks the store.
    """

    blocking: ClassVar[bool] = False

    def __init__(self, max_bytes: int = 256 * 2**20) -> None:
        if not (isinstance(max_bytes, int) and max_bytes > 0):
            raise ValueError(f"max_bytes must be a positive int, got {max_bytes!r}")
        self.max_bytes = max_bytes
        self._entries: OrderedDict[bytes, CacheEntry] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"memory://?max_bytes={self.max_bytes}"

    def get_entries(self, keys: Sequence[bytes]) -> list[CacheEntry | None]:
        now = self.clock()
        found: list[CacheEntry | None] = []
        with self._lock:
            entries = self._entries
            for key in keys:
                entry = entries.get(key)
                if entry is not None:
                    if entry.expires is not None and entry.expires <= now:
                        self._drop(key)
                        entry = None
                    else:
                        entries.move_to_end(key)
                found.append(entry)
        return found

    def set_many(
        self, entries: Sequence[tuple[bytes, bytes]], *, node: str, ttl: float | None = None
    ) -> None:
        expires = expiry(ttl, self.clock())
        self.put_entries((key, CacheEntry(value, node, expires)) for key, value in entries)

    def put_entries(self, entries: Iterable[tuple[bytes, CacheEntry]]) -> None:
        """Store entries that carry their own node and expiry (promoted from a slower tier)."""
        with self._lock:
            for key, entry in entries:
                if key in self._entries:
                    self._drop(key)
                size = len(entry.value)
                if size > self.max_bytes:
                    continue
                self._entries[key] = entry
                self._bytes += size
            while self._bytes > self.max_bytes:
                _, evicted = self._entries.popitem(last=False)
                self._bytes -= len(evicted.value)

    def clear(self, node: str | None = None) -> int:
        with self._lock:
            if node is None:
                removed = len(self._entries)
                self._entries.clear()
                self._bytes = 0
                return removed
            doomed = [key for key, entry in self._entries.items() if entry.node == node]
            for key in doomed:
                self._drop(key)
            return len(doomed)

    def stats(self) -> dict[str, StoreUsage]:
        now = self.clock()
        usage: dict[str, tuple[int, int]] = {}
        with self._lock:
            expired = [k for k, e in self._entries.items()
                       if e.expires is not None and e.expires <= now]
            for key in expired:
                self._drop(key)
            for entry in self._entries.values():
                count, size = usage.get(entry.node, (0, 0))
                usage[entry.node] = (count + 1, size + len(entry.value))
        return {node: StoreUsage(count, size) for node, (count, size) in usage.items()}

    def close(self) -> None:
        self.clear()

    def _drop(self, key: bytes) -> None:
        """Remove one entry; the caller holds the lock."""
        self._bytes -= len(self._entries.pop(key).value)
