"""The process-wide pool that scans a vector index's corpus blocks, and the BLAS cap: one
thread while a scan runs on the pool, or while a search too small for more runs anywhere."""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

__all__ = ["BLAS_THREADS_PAY", "blas_threads_pay", "search_threads"]

# Multiply-adds (queries x rows x dim) below which a search keeps BLAS at one thread. Under
# it a second BLAS thread saves no wall time on a 2-core machine, while its spin-wait after
# each product costs up to ~10x the search's CPU (bench/search.py --blas-crossover).
BLAS_THREADS_PAY = 2**26


def blas_threads_pay(queries: int, rows: int, dim: int) -> bool:
    """Whether a product of `queries` with `rows` vectors of `dim` is large enough for BLAS
    to use more than one thread."""
    return queries * rows * dim >= BLAS_THREADS_PAY


class _SearchThreads:
    """The process-wide pool that scans corpus blocks, with BLAS capped at one thread
    (threadpoolctl) while any scan runs, so concurrent searches never oversubscribe the cores.

    The cap is process-wide, so it is reference-counted: the first scan in sets it, the last
    one out restores it, from whichever threads they run in (see `_released`). Without
    threadpoolctl there is no pool: searches run in the calling thread and BLAS threads are
    left as they are.
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

    @contextlib.contextmanager
    def single_blas_thread(self) -> Iterator[None]:
        """BLAS capped at one thread process-wide until the last user leaves (needs
        `available()`): ~5 us to set and restore."""
        with self._lock:
            if self._users == 0:
                with _released():
                    self._limiter = self._controller.limit(limits=1, user_api="blas")
            self._users += 1
        try:
            yield
        finally:
            with self._lock:
                self._users -= 1
                if self._users == 0:
                    with _released():
                        self._limiter.restore_original_limits()
                    self._limiter = None

    def map(self, fn: Callable[[Any], Any], items: list) -> list:
        """`fn` over `items` on the pool (one thread per core), BLAS single-threaded."""
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(os.cpu_count() or 1,
                                                thread_name_prefix="llmkit-search")
            pool = self._pool
        with self.single_blas_thread():
            return list(pool.map(fn, items))


@contextlib.contextmanager
def _released() -> Iterator[None]:
    """Let this thread set OpenBLAS's (process-wide) thread count, and leave it to any thread
    after. threadpoolctl >= 3.6 lets only the first thread that set it set it again (others
    silently do nothing), so a cap set from a worker thread could never be set from the
    event loop, nor be lifted by the thread that ends the last scan."""
    import threadpoolctl

    release = getattr(getattr(threadpoolctl, "OpenBLASController", None),
                      "clear_controlling_thread", None)
    if release is not None:
        release(force=True)
    try:
        yield
    finally:
        if release is not None:
            release(force=True)


search_threads = _SearchThreads()
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=search_threads.reset)
