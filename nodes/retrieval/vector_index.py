"""Exact inner-product search over L2-normalised float32 rows, batched and blockwise.

Rows are kept by a `RowTable` (rows.py), blocks scanned by the shared search threads
(search_threads.py), directories written and checked by `index_dir`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import msgpack
import numpy as np

from llmkit.nodes.retrieval.index_dir import IndexLoadError, corrupt, load_index_dir, save_index_dir
from llmkit.nodes.retrieval.rows import Hit, RowTable, TableIndex
from llmkit.nodes.retrieval.search_threads import blas_threads_pay, search_threads

__all__ = ["Hit", "IndexLoadError", "VectorIndex"]

_FORMAT = "llmkit.vector_index/1"
_KIND = "vector_index"
_EPS32 = 2.0 ** -24  # unit roundoff of float32
_NORM_TOLERANCE = 1e-3  # rows whose norm is this close to 1 are stored as given
_CORES = os.cpu_count() or 1  # read once: the call reads /sys on every search otherwise


def _exact_scores(queries: np.ndarray, vectors: np.ndarray) -> np.ndarray:
    """Row-wise dot products computed the same way whatever the batch: float32 products are
    exact in float64 and summed per row in a fixed order, then rounded to float32."""
    return np.einsum("ij,ij->i", queries, vectors, dtype=np.float64).astype(np.float32)


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
        each returns its candidates, and the union is rescored exactly. A search too small for
        a second BLAS thread to pay (`blas_threads_pay`) runs with BLAS at one thread.
        """
        plan = self._plan(mask, n_valid)
        workers = min(_CORES, len(plan))
        if not search_threads.available():
            candidates = self._scan(queries, k, plan)
        elif self.parallel and workers > 1:
            parts = search_threads.map(lambda blocks: self._scan(queries, k, blocks),
                                       [plan[i::workers] for i in range(workers)])
            candidates = tuple(np.concatenate(c) for c in zip(*parts, strict=True))
        elif blas_threads_pay(len(queries), n_valid, self.dim):
            candidates = self._scan(queries, k, plan)
        else:
            with search_threads.single_blas_thread():
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
