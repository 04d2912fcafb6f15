"""Exact inner-product search over L2-normalised float32 rows, batched and blockwise.

Also the row bookkeeping (`RowTable`: ids, metadata, tombstones, filters, content version)
that `BM25Index` shares; directories are written and checked by `index_dir`.

Hits are plain dicts `{"id": str, "score": float, "metadata": dict}` (not a dataclass): they
flow into a msgpack cache and into YAML/JSON output without any conversion.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import msgpack
import numpy as np

from llmkit.nodes.index_dir import IndexLoadError, corrupt, load_index_dir, save_index_dir

__all__ = ["IndexLoadError", "RowTable", "VectorIndex", "load_index_dir", "save_index_dir"]

Hit = dict[str, Any]
_FORMAT = "llmkit.vector_index/1"
_KIND = "vector_index"


# --------------------------------------------------------------------------- rows

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
        list/tuple/set of values (one of them); keys are ANDed."""
        if not filter:
            return None if len(self.rows) == len(self.ids) else self.alive
        mask = self.alive.copy()
        for key, wanted in filter.items():
            options = wanted if isinstance(wanted, (list, tuple, set, frozenset)) else [wanted]
            column = self._column(key)
            match = np.zeros(len(self.ids), dtype=bool)
            for value in options:
                if _hashable(value) and value in column:
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


# --------------------------------------------------------------------------- threads

class _SearchThreads:
    """The process-wide pool that scans corpus blocks, with BLAS capped at one thread
    (threadpoolctl) while any scan runs, so concurrent searches never oversubscribe the cores.

    The cap is process-wide, so it is reference-counted: the first scan in sets it, the last
    one out restores it. Without threadpoolctl there is no pool: searches run in the calling
    thread and BLAS threads are left as they are.
    """

    def __init__(self) -> None:
        self._controller: Any = None
        self.reset()

    def reset(self) -> None:
        """Start afresh (also in a forked child, where the parent's threads do not exist)."""
        self._lock = threading.Lock()
        self._users = 0
        self._limiter: Any = None
        self._pool: ThreadPoolExecutor | None = None

    def available(self) -> bool:
        with self._lock:
            if self._controller is None:
                try:
                    from threadpoolctl import ThreadpoolController
                except ImportError:
                    self._controller = False
                else:
                    self._controller = ThreadpoolController()
            return bool(self._controller)

    def map(self, fn: Callable[[Any], Any], items: list) -> list:
        """`fn` over `items` on the pool (one thread per core), BLAS single-threaded."""
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(os.cpu_count() or 1,
                                                thread_name_prefix="llmkit-search")
            if self._users == 0:
                self._limiter = self._controller.limit(limits=1, user_api="blas")
            self._users += 1
            pool = self._pool
        try:
            return list(pool.map(fn, items))
        finally:
            with self._lock:
                self._users -= 1
                if self._users == 0:
                    self._limiter.restore_original_limits()
                    self._limiter = None


_threads = _SearchThreads()
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_threads.reset)


# --------------------------------------------------------------------------- the index

_EPS32 = 2.0 ** -24  # unit roundoff of float32
_NORM_TOLERANCE = 1e-3  # rows whose norm is this close to 1 are stored as given


def _exact_scores(queries: np.ndarray, vectors: np.ndarray) -> np.ndarray:
    """Row-wise dot products computed the same way whatever the batch: float32 products are
    exact in float64 and summed per row in a fixed order, then rounded to float32."""
    return np.einsum("ij,ij->i", queries, vectors, dtype=np.float64).astype(np.float32)


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


class VectorIndex(TableIndex):
    """Exact top-k inner-product search over L2-normalised float32 rows with metadata.

    `search` is batched and blockwise: all queries are multiplied with ~`block_rows` corpus
    rows at a time and a running per-query top-k is kept, so memory stays bounded for any
    corpus and results equal a one-query-at-a-time search exactly (scores are recomputed for
    the few candidates in a batch-independent way; ties go to the earlier row).

    With threadpoolctl installed (optional), the blocks of a search are scanned by a shared
    pool of one thread per core with BLAS capped at one thread, so concurrent searches from
    many threads never oversubscribe the cores; without it a search runs in the calling thread.
    Thread safety: `search`, `get`, `len` may run concurrently from many threads as long as
    nobody calls `add`/`delete` at the same time.
    """

    def __init__(self, dim: int, *, block_rows: int = 8192, query_block: int = 1024,
                 parallel: bool = True) -> None:
        if dim < 1:
            raise ValueError(f"dim must be >= 1, got {dim}")
        self.dim = int(dim)
        self.block_rows = int(block_rows)
        self.query_block = int(query_block)
        self.parallel = parallel
        self._table = RowTable()
        self._vectors = np.zeros((0, self.dim), dtype=np.float32)

    # ---- identity

    def llmkit_fingerprint(self) -> dict[str, Any]:
        """Identifies what a search returns: changes with the content, for cache keys."""
        return {"type": type(self).__name__, "dim": self.dim,
                "content_version": self.content_version}

    def get(self, id_: str, default: Any = None) -> dict[str, Any] | Any:
        """`{"id", "vector", "metadata"}` of a stored row, or `default`."""
        row = self._table.rows.get(id_)
        if row is None:
            return default
        return {"id": id_, "vector": np.array(self._vectors[row]),
                "metadata": dict(self._table.metadata[row])}

    # ---- writes

    def add(self, ids: Sequence[str], vectors: Any,
            metadata: Sequence[dict] | None = None) -> None:
        """Add or replace rows. Vectors are stored as float32, L2-normalised unless their
        norm is already within 1e-3 of 1 (zero vectors stay zero and score 0)."""
        vectors = np.asarray(vectors, dtype=np.float32)
        if vectors.ndim != 2 or vectors.shape != (len(ids), self.dim):
            raise ValueError(f"vectors must have shape ({len(ids)}, {self.dim}), "
                             f"got {vectors.shape}")
        if not np.isfinite(vectors).all():
            raise ValueError("vectors contain NaN or infinity")
        norms = np.linalg.norm(vectors, axis=1)
        off = (np.abs(norms - 1) > _NORM_TOLERANCE) & (norms > 0)
        if off.any():
            vectors = vectors.copy()
            vectors[off] /= norms[off, None]
        positions, rows = self._table.upsert(
            ids, metadata, lambda pos: np.ascontiguousarray(vectors[pos]).tobytes())
        needed = self._table.n_rows
        if needed > self._vectors.shape[0] or not self._vectors.flags.writeable:
            grown = np.empty((max(needed, 2 * self._vectors.shape[0], 1024), self.dim),
                             dtype=np.float32)
            grown[:self._vectors.shape[0]] = self._vectors
            self._vectors = grown
        self._vectors[rows] = vectors[positions]

    def delete(self, ids: Sequence[str]) -> int:
        """Delete rows by id (unknown ids are ignored); returns how many were deleted."""
        return self._table.delete(ids)

    # ---- search

    def search(self, queries: Any, k: int,
               filter: Mapping[str, Any] | None = None) -> list[list[Hit]]:
        """Top-`k` hits per query row, best first: `{"id", "score", "metadata"}` dicts.

        `queries` is (q, dim) (a single (dim,) vector counts as one query). `filter` keeps rows
        whose metadata equals each given value, or any of the values given in a list. Fewer
        than k rows (after filtering) → all of them.
        """
        queries = np.asarray(queries, dtype=np.float32)
        if queries.ndim == 1:
            queries = queries[None, :]
        if queries.ndim != 2 or queries.shape[1] != self.dim:
            raise ValueError(f"queries must have shape (q, {self.dim}) for this index, "
                             f"got {queries.shape}")
        if not np.isfinite(queries).all():
            raise ValueError("queries contain NaN or infinity")
        if k < 0:
            raise ValueError(f"k must be >= 0, got {k}")
        table = self._table
        mask = table.mask(filter)
        n_valid = table.n_rows if mask is None else int(mask.sum())
        k = min(int(k), n_valid)
        if k == 0:
            return [[] for _ in range(len(queries))]
        results: list[list[Hit]] = []
        for start in range(0, len(queries), self.query_block):
            block = np.ascontiguousarray(queries[start:start + self.query_block])
            scores, rows = self._top_k(block, k, mask, n_valid)
            results.extend(table.hits(r, s) for r, s in zip(rows, scores, strict=True))
        return results

    def _plan(self, mask: np.ndarray | None, n_valid: int) -> list[tuple[Any, Any]]:
        """Corpus blocks as (slice or row numbers, column mask or None).

        Mostly-valid corpora walk contiguous slices (views, no copy) and mask the rest; sparse
        filters gather just the matching rows."""
        n, step = self._table.n_rows, self.block_rows
        if mask is not None and n_valid * 2 < n:
            picked = np.flatnonzero(mask)
            return [(picked[i:i + step], None) for i in range(0, picked.size, step)]
        plan = []
        for start in range(0, n, step):
            local = None if mask is None else mask[start:start + step]
            if local is not None and local.all():
                local = None
            if local is None or local.any():
                plan.append((slice(start, min(start + step, n)), local))
        return plan

    def _top_k(self, queries: np.ndarray, k: int, mask: np.ndarray | None,
               n_valid: int) -> tuple[np.ndarray, np.ndarray]:
        """Exact top-k (score desc, row asc) of each query over the valid rows.

        The blocks are shared out to the search threads (one per core) when there are several;
        each returns its candidates, and the union is rescored exactly.
        """
        plan = self._plan(mask, n_valid)
        workers = min(os.cpu_count() or 1, len(plan))
        if self.parallel and workers > 1 and _threads.available():
            parts = _threads.map(lambda blocks: self._scan(queries, k, blocks),
                                 [plan[i::workers] for i in range(workers)])
            candidates = tuple(np.concatenate(c) for c in zip(*parts, strict=True))
        else:
            candidates = self._scan(queries, k, plan)
        cand_q, cand_r = candidates
        exact = _exact_scores(queries[cand_q], self._vectors[cand_r])
        order = np.lexsort((cand_r, -exact, cand_q))
        cand_q = cand_q[order]
        rank = np.arange(cand_q.size) - np.searchsorted(cand_q, cand_q)  # place in its query
        best = order[rank < k]
        return exact[best].reshape(len(queries), k), cand_r[best].reshape(len(queries), k)

    def _scan(self, queries: np.ndarray, k: int,
              plan: list[tuple[Any, Any]]) -> tuple[np.ndarray, np.ndarray]:
        """(query, row) pairs that may be in the top-k, found with BLAS scores.

        BLAS scores are within `margin` of the exact ones (any summation order, |q|·|c| ≤
        |q|·1.001), so a row can only be in the top-k if its BLAS score is within 2·margin of
        the k-th best BLAS score. Per block, one comparison with the running per-query k-th
        best rejects most scores; the survivors join the candidates, which are pruned again.
        """
        q = len(queries)
        slack = 2 * (self.dim + 4) * _EPS32 * 1.01 * np.linalg.norm(queries, axis=1) + 1e-30
        floor = np.finfo(np.float32).min
        cand_q = np.zeros(0, dtype=np.int64)
        cand_s = np.zeros(0, dtype=np.float32)
        cand_r = np.zeros(0, dtype=np.int64)
        kth = np.full(q, -np.inf)  # k-th best BLAS score so far, per query
        # reused buffers: fresh multi-MiB arrays per block would cost page faults
        width = max(w.size if isinstance(w, np.ndarray) else w.stop - w.start for w, _ in plan)
        buffer = np.empty(q * width, dtype=np.float32)
        passed = np.empty(q * width, dtype=bool)
        for where, local in plan:
            block = self._vectors[where]
            scores = np.matmul(queries, block.T, out=buffer[:q * len(block)].reshape(q, -1))
            if local is not None:
                scores[:, ~local] = -np.inf
            bound = kth
            unfilled = np.flatnonzero(kth == -np.inf)
            if unfilled.size and scores.shape[1] >= k:
                bound = kth.copy()
                bound[unfilled] = _kth_lower_bound(
                    scores if unfilled.size == q else scores[unfilled], k)
            lower = np.maximum(bound - slack, floor).astype(np.float32)
            # flatnonzero + divmod is ~10x faster than a 2-D np.nonzero here
            flat = np.flatnonzero(np.greater_equal(scores, lower[:, None],
                                                   out=passed[:scores.size].reshape(q, -1)))
            if flat.size == 0:
                continue
            qi, cj = np.divmod(flat, scores.shape[1])
            cand_q = np.concatenate([cand_q, qi])
            cand_s = np.concatenate([cand_s, scores.ravel()[flat]])
            cand_r = np.concatenate([cand_r, where[cj] if isinstance(where, np.ndarray)
                                     else where.start + cj])
            order = np.lexsort((-cand_s, cand_q))
            cand_q, cand_s, cand_r = cand_q[order], cand_s[order], cand_r[order]
            first = np.searchsorted(cand_q, np.arange(q))
            filled = np.diff(np.append(first, cand_q.size)) >= k
            kth = np.where(filled, cand_s[np.minimum(first + k - 1, cand_s.size - 1)], -np.inf)
            keep = cand_s >= (kth - slack)[cand_q]
            cand_q, cand_s, cand_r = cand_q[keep], cand_s[keep], cand_r[keep]
        return cand_q, cand_r

    # ---- persistence

    def save(self, directory: str | os.PathLike) -> None:
        """Write `vectors.npy` + `meta.msgpack` (compacted) atomically into `directory`."""
        live = self._table.live_rows()
        state = self._table.state()

        def write(tmp: Path) -> None:
            # Plain writes, not a memory map: a full disk is then an OSError, not a SIGBUS.
            with (tmp / "vectors.npy").open("wb") as out:
                np.lib.format.write_array_header_1_0(out, {
                    "descr": np.lib.format.dtype_to_descr(np.dtype(np.float32)),
                    "fortran_order": False, "shape": (int(live.size), self.dim)})
                for start in range(0, live.size, self.block_rows):
                    out.write(self._vectors[live[start:start + self.block_rows]].tobytes())
            meta = {"format": _FORMAT, "dim": self.dim, "count": int(live.size), **state}
            (tmp / "meta.msgpack").write_bytes(msgpack.packb(meta))

        save_index_dir(directory, write, _KIND)

    @classmethod
    def load(cls, directory: str | os.PathLike, mmap: bool = True, **options: Any) -> VectorIndex:
        """Open a saved index; with `mmap` the vectors stay on disk, paged in on demand (an
        `add` then copies them into memory). `options` go to the constructor."""
        source = load_index_dir(directory, _KIND)
        try:
            meta = msgpack.unpackb((source / "meta.msgpack").read_bytes())
            if not isinstance(meta, dict) or meta.get("format") != _FORMAT:
                raise ValueError("meta.msgpack is not an llmkit vector index")
            dim, count = int(meta["dim"]), int(meta["count"])
            vectors = np.load(source / "vectors.npy", allow_pickle=False,
                              mmap_mode="r" if mmap and count else None)
            if vectors.dtype != np.float32 or vectors.shape != (count, dim):
                raise ValueError(f"vectors.npy holds {vectors.dtype}{vectors.shape}, "
                                 f"expected float32{(count, dim)}")
            table = RowTable.from_state(meta)
            if table.n_rows != count:
                raise ValueError(f"{table.n_rows} ids for {count} vectors")
        except Exception as exc:  # any failure to read means the directory is unusable
            raise corrupt(Path(directory), exc) from exc
        index = cls(dim, **options)
        index._table, index._vectors = table, vectors
        return index


def _kth_lower_bound(scores: np.ndarray, k: int) -> np.ndarray:
    """Per row, a value <= its k-th largest score: the k-th largest of 4k column-group
    maxima (one cheap pass) when the block is wide, else the exact k-th largest."""
    groups = 4 * k
    width = scores.shape[1] // groups
    if width >= 8:
        maxima = np.maximum.reduceat(scores, np.arange(0, groups * width, width), axis=1)
        return np.partition(maxima, groups - k, axis=1)[:, groups - k]
    return np.partition(scores, scores.shape[1] - k, axis=1)[:, scores.shape[1] - k]
