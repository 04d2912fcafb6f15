"""What the scheduler does with a cache store: item keys, lookups and writes for one node.

An item's key hashes the node's fingerprint and a hash of each input value. An input that
a cached node produced is identified by that node's item key and the port name, so keys
chain down a pipeline without hashing a large array twice; other inputs (pipeline inputs,
outputs of uncached nodes) are hashed once per run and remembered.

Faults never stop a run: an entry that does not decode, a value that cannot be stored, a
store that fails — each is a miss or a skipped write, and one warning per node.
"""

from __future__ import annotations

import hashlib
import logging
import weakref
from collections.abc import Sequence
from typing import Any

import anyio.to_thread

from llmkit.cache import CacheStore, CodecError, UnhashableError, decode, encode, hash_value
from llmkit.core.node import Node
from llmkit.errors import CacheError

log = logging.getLogger("llmkit.cache")

MISS = object()
ELSEWHERE = object()  # a miss that another process is computing: it holds the item's lease
LEASE_SECONDS = 30.0  # how long a process may hold an item it computes (it releases sooner)
_unhashable: weakref.WeakSet[Node] = weakref.WeakSet()  # nodes already warned about


def output_hash(item_key: bytes, port: str) -> bytes:
    """The identity of output `port` of the item computed under `item_key`."""
    return hashlib.blake2b(item_key + port.encode(), digest_size=16).digest()


class NodeMemo:
    """One node's cache: its fingerprint, TTL, and the warnings it has already given."""

    def __init__(self, name: str, node: Node, store: CacheStore) -> None:
        self.name = name
        self.node = node
        self.store = store
        self.ttl = node.settings.cache_ttl
        self.blocking = store.blocking
        # A store shared by processes (Redis) leases misses, so one process computes each.
        self.leases = store.blocking and callable(getattr(store, "lease_many", None))
        self._warned: set[str] = set()

    @classmethod
    def create(cls, name: str, node: Node, store: CacheStore | None) -> NodeMemo | None:
        """The memo for a cacheable node, or None (no store, or not cacheable)."""
        if store is None or not node.cacheable:
            return None
        return cls(name, node, store)

    def fingerprint(self) -> bytes | None:
        """The node's fingerprint now (resources read anew: take it once they are prepared),
        or None when it has none: such a node's items are not cached, as said once."""
        try:
            return self.node.fingerprint
        except UnhashableError as exc:
            if self.node not in _unhashable:  # once per node, not once per run call
                _unhashable.add(self.node)
                log.warning("node '%s' is not cached: it cannot be fingerprinted (%s)",
                            self.name, exc)
            return None

    def warn(self, kind: str, message: str, *args: Any) -> None:
        """Log a warning once per node and kind; a store's read or write warns again only
        after one has succeeded (once per outage, however many runs it spans)."""
        if kind not in self._warned:
            self._warned.add(kind)
            log.warning("node '%s': " + message, self.name, *args)

    # -- reading --------------------------------------------------------------------------
    def _decode(self, blobs: Sequence[bytes | None]) -> list[Any]:
        values: list[Any] = []
        for blob in blobs:
            if blob is None:
                values.append(MISS)
                continue
            try:
                value = decode(blob)
            except CodecError as exc:
                self.warn("decode", "a cache entry is unreadable and was recomputed (%s)", exc)
                value = MISS
            values.append(value if isinstance(value, dict) else MISS)
        return values

    def get_now(self, keys: list[bytes]) -> list[Any]:
        """Cached outputs (or MISS) for `keys`, for a store that does not block."""
        try:
            blobs = self.store.get_many(keys)
        except CacheError as exc:
            self.warn("read", "cache read failed, computing instead (%s)", exc)
            return [MISS] * len(keys)
        self._warned.discard("read")
        return self._decode(blobs)

    async def get(self, keys: list[bytes]) -> list[Any]:
        """Cached outputs (or MISS) for `keys`, reading a blocking store in a thread. With a
        store that leases, each miss is leased in the same hop: MISS where this process won
        the lease (and computes the item), ELSEWHERE where another process holds it."""
        try:
            values = await anyio.to_thread.run_sync(self._read_and_lease, keys)
        except CacheError as exc:
            self.warn("read", "cache read failed, computing instead (%s)", exc)
            return [MISS] * len(keys)
        self._warned.discard("read")
        return values

    def _read_and_lease(self, keys: list[bytes]) -> list[Any]:
        values = self._decode(self.store.get_many(keys))
        missing = [key for key, value in zip(keys, values, strict=True) if value is MISS]
        if not self.leases or not missing:
            return values
        store: Any = self.store
        try:
            leased = store.lease_many(missing, LEASE_SECONDS)
            won = [key for key, ok in zip(missing, leased, strict=True) if ok]
            # A holder may have written the value and let go between our read and our lease:
            # read the won keys again, and give back the leases of those found.
            now = dict(zip(won, self._decode(store.get_many(won)) if won else [], strict=True))
            found = [key for key in won if now[key] is not MISS]
            if found:
                store.release_many(found)
        except CacheError as exc:  # no lease to be had: compute here, as on a failed read
            self.warn("lease", "cache leases failed, computing here (%s)", exc)
            return values
        return [value if value is not MISS else now.get(key, ELSEWHERE)
                for key, value in zip(keys, values, strict=True)]

    # -- writing --------------------------------------------------------------------------
    def encode_all(self, pairs: list[tuple[bytes, dict[str, Any]]]) -> list[tuple[bytes, bytes]]:
        entries = []
        for key, out in pairs:
            try:
                entries.append((key, encode(out)))
            except CodecError as exc:
                self.warn("encode", "a result cannot be cached and was not stored (%s)", exc)
        return entries

    def put_now(self, entries: list[tuple[bytes, bytes]]) -> None:
        try:
            self.store.set_many(entries, node=self.name, ttl=self.ttl)
        except CacheError as exc:
            self.warn("write", "cache write failed, results are not cached (%s)", exc)
        else:
            self._warned.discard("write")

    async def put(self, entries: list[tuple[bytes, bytes]], release: list[bytes]) -> None:
        """Write in a thread that a cancellation waits for: a write is whole or absent; then
        give up the leases on `release` (computed, or failed: another process may try)."""
        await anyio.to_thread.run_sync(self._write_and_release, entries, release)

    def _write_and_release(self, entries: list[tuple[bytes, bytes]], release: list[bytes]
                           ) -> None:
        if entries:
            self.put_now(entries)
        if release:
            try:
                self.store.release_many(release)  # type: ignore[attr-defined]
            except CacheError as exc:  # the leases expire on their own
                self.warn("lease", "cache leases were not released (%s)", exc)


def value_hash(value: Any) -> bytes | None:
    """`hash_value(value)`, or None when the value cannot be hashed."""
    try:
        return hash_value(value)
    except UnhashableError:
        return None
