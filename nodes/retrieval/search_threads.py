"""The process-wide pool that scans a vector index's corpus blocks, BLAS capped at one
thread while it does."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

__all__ = ["search_threads"]


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


search_threads = _SearchThreads()
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=search_threads.reset)
