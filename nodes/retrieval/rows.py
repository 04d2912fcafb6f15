"""Row bookkeeping every index over rows shares (`RowTable`: ids, metadata, tombstones,
metadata filters, content version) and what follows from it (`TableIndex`).

Hits are plain dicts `{"id": str, "score": float, "metadata": dict}` (not a dataclass): they
flow into a msgpack cache and into YAML/JSON output without any conversion.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import msgpack
import numpy as np

from llmkit.nodes.protocols import Hit
from llmkit.nodes.retrieval.filters import check_filter

__all__ = ["Hit", "RowTable", "TableIndex"]


def _hashable(value: Any) -> bool:
    try:
        hash(value)
    except TypeError:
        return False
    return True


class RowTable:
    """Row bookkeeping shared by the indexes: id ↔ row, metadata, tombstones, metadata filters
    and an incrementally hashed content version.

    Re-adding an id overwrites its row in place; a deleted row stays as a tombstone until the
    index is saved (saving compacts). Rows keep insertion order, which breaks score ties.
    """

    def __init__(self, ids: Sequence[str] = (), metadata: Sequence[dict] = (),
                 version: bytes = b"") -> None:
        self.ids: list[str] = list(ids)
        self.metadata: list[dict] = list(metadata)
        self.rows: dict[str, int] = {id_: row for row, id_ in enumerate(self.ids)}
        if len(self.rows) != len(self.ids) or len(self.metadata) != len(self.ids):
            raise ValueError("ids must be unique and match metadata one to one")
        self.alive = np.ones(len(self.ids), dtype=bool)
        self.version = version or hashlib.blake2b(b"llmkit-rows", digest_size=16).digest()
        self._columns: dict[str, dict[Any, np.ndarray]] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self.rows)

    @property
    def n_rows(self) -> int:
        """Rows including tombstones."""
        return len(self.ids)

    def _bump(self, *parts: bytes) -> None:
        h = hashlib.blake2b(self.version, digest_size=16)
        for part in parts:
            h.update(len(part).to_bytes(8, "little"))
            h.update(part)
        self.version = h.digest()
        self._columns = {}

    def upsert(self, ids: Sequence[str], metadata: Sequence[dict] | None,
               payload: Callable[[list[int]], bytes]) -> tuple[list[int], np.ndarray]:
        """Assign rows to `ids` (last occurrence wins). Returns (positions in the input that
        were kept, their rows); new rows are appended. `payload(positions)` gives the bytes
        of the stored content, hashed into the content version."""
        if isinstance(ids, str):
            raise TypeError("ids must be a sequence of strings, not one string")
        if metadata is None:
            metadata = [{} for _ in ids]
        if len(metadata) != len(ids):
            raise ValueError(f"got {len(ids)} ids but {len(metadata)} metadata dicts")
        last: dict[str, int] = {}
        for pos, id_ in enumerate(ids):
            if not isinstance(id_, str):
                raise TypeError(f"ids must be strings, got {type(id_).__name__}")
            if not isinstance(metadata[pos], Mapping):
                raise TypeError(f"metadata must be dicts, got {type(metadata[pos]).__name__}")
            last[id_] = pos
        positions = list(last.values())
        kept_meta = [dict(metadata[pos]) for pos in positions]
        try:
            packed = msgpack.packb([list(last), kept_meta])
        except (TypeError, ValueError) as exc:
            raise TypeError(f"metadata must be msgpack-serialisable (str, numbers, lists, "
                            f"dicts): {exc}") from exc
        rows = np.empty(len(positions), dtype=np.int64)
        new = 0
        for i, (id_, meta) in enumerate(zip(last, kept_meta, strict=True)):
            row = self.rows.get(id_)
            if row is None:
                row = self.rows[id_] = len(self.ids)
                self.ids.append(id_)
                self.metadata.append(meta)
                new += 1
            else:
                self.metadata[row] = meta
            rows[i] = row
        if new:
            self.alive = np.concatenate([self.alive, np.ones(new, dtype=bool)])
        self._bump(b"add", packed, payload(positions))
        return positions, rows

    def delete(self, ids: Sequence[str]) -> int:
        """Tombstone the rows of `ids` (unknown ids are ignored); returns how many."""
        if isinstance(ids, str):
            raise TypeError("ids must be a sequence of strings, not one string")
        gone = [id_ for id_ in dict.fromkeys(ids) if id_ in self.rows]
        for id_ in gone:
            row = self.rows.pop(id_)
            self.alive[row] = False
            self.metadata[row] = {}
        if gone:
            self._bump(b"delete", msgpack.packb(gone))
        return len(gone)

    def live_rows(self) -> np.ndarray:
        """Row numbers of the live rows, in row order."""
        return np.flatnonzero(self.alive)

    def mask(self, filter: Mapping[str, Any] | None) -> np.ndarray | None:
        """Boolean mask of rows that are alive and match `filter` (None: every row is alive
        and there is no filter). A filter maps metadata keys to a value (equality) or to a
        list/tuple/set of values (one of them); keys are ANDed. An invalid filter (`check_filter`)
        is a ValueError."""
        filter = check_filter(filter)
        if not filter:
            return None if len(self.rows) == len(self.ids) else self.alive
        mask = self.alive.copy()
        for key, wanted in filter.items():
            options = wanted if isinstance(wanted, list) else [wanted]  # checked: scalars
            column = self._column(key)
            match = np.zeros(len(self.ids), dtype=bool)
            for value in options:
                if value in column:
                    match[column[value]] = True
            mask &= match
        return mask

    def _column(self, key: str) -> dict[Any, np.ndarray]:
        """value -> rows for one metadata key, built once per content version (thread-safe)."""
        columns = self._columns
        column = columns.get(key)
        if column is None:
            with self._lock:
                column = columns.get(key)
                if column is None:
                    groups: dict[Any, list[int]] = {}
                    for row in self.rows.values():
                        value = self.metadata[row].get(key)
                        if _hashable(value):
                            groups.setdefault(value, []).append(row)
                    column = {v: np.asarray(r, dtype=np.int64) for v, r in groups.items()}
                    columns[key] = column
        return column

    def hits(self, rows: np.ndarray, scores: np.ndarray) -> list[Hit]:
        """Hit dicts for `rows` (metadata is a shallow copy: callers may change it)."""
        return [{"id": self.ids[row], "score": float(score), "metadata": dict(self.metadata[row])}
                for row, score in zip(rows.tolist(), scores.tolist(), strict=True)]

    def state(self) -> dict[str, Any]:
        """The live rows' ids, metadata and content version, compacted, for saving."""
        live = self.live_rows().tolist()
        return {"ids": [self.ids[r] for r in live],
                "metadata": [self.metadata[r] for r in live],
                "content_version": self.version.hex()}

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> RowTable:
        return cls(state["ids"], state["metadata"], bytes.fromhex(state["content_version"]))


class TableIndex:
    """What every index over a `RowTable` shares: length, membership, content version."""

    _table: RowTable

    def __len__(self) -> int:
        return len(self._table)

    def __contains__(self, id_: object) -> bool:
        return id_ in self._table.rows

    @property
    def content_version(self) -> str:
        """Hex hash that changes whenever rows are added, replaced or deleted."""
        return self._table.version.hex()
