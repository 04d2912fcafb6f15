"""A memory front over a slower store: repeated reads in one process skip the disk or network."""

from __future__ import annotations

from collections.abc import Sequence

from llmkit.cache.stores.base import CacheEntry, CacheStore, StoreUsage
from llmkit.cache.stores.memory import MemoryCache


class TieredCache(CacheStore):
    """Reads `front` first and `back` for the misses, copying back hits (with their node and
    expiry) into front; writes go to both. The back store is the source of truth for
    `stats()` and for the count `clear()` returns."""

    def __init__(self, front: MemoryCache, back: CacheStore) -> None:
        self.front = front
        self.back = back

    @property
    def blocking(self) -> bool:  # type: ignore[override]  # the back store's, per instance
        return self.back.blocking

    @property
    def url(self) -> str:
        return f"{self.back.url} (with a memory front)"

    def get_entries(self, keys: Sequence[bytes]) -> list[CacheEntry | None]:
        found = self.front.get_entries(keys)
        missing = [i for i, entry in enumerate(found) if entry is None]
        if missing:
            from_back = self.back.get_entries([keys[i] for i in missing])
            promoted = []
            for i, entry in zip(missing, from_back, strict=True):
                if entry is not None:
                    found[i] = entry
                    promoted.append((keys[i], entry))
            self.front.put_entries(promoted)
        return found

    def set_many(
        self, entries: Sequence[tuple[bytes, bytes]], *, node: str, ttl: float | None = None
    ) -> None:
        self.front.set_many(entries, node=node, ttl=ttl)
        self.back.set_many(entries, node=node, ttl=ttl)

    def clear(self, node: str | None = None) -> int:
        self.front.clear(node)
        return self.back.clear(node)

    def stats(self) -> dict[str, StoreUsage]:
        return self.back.stats()

    def close(self) -> None:
        self.front.close()
        self.back.close()
