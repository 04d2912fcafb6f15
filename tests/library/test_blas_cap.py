"""A vector search too small for a second BLAS thread to pay runs with BLAS at one thread
(its spin after each product costs more CPU than the search); a large one keeps the pool."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from llmkit.nodes.retrieval import search_threads as threads_module
from llmkit.nodes.retrieval import vector_index
from llmkit.nodes.retrieval.search_threads import blas_threads_pay
from llmkit.nodes.retrieval.vector_index import VectorIndex

threadpoolctl = pytest.importorskip("threadpoolctl")


def _blas_threads() -> int:
    return min(info["num_threads"] for info in threadpoolctl.threadpool_info()
               if info["user_api"] == "blas")


def test_small_searches_stay_single_threaded_and_large_ones_do_not():
    assert not blas_threads_pay(1, 200, 384)  # one question on a small corpus
    assert not blas_threads_pay(100, 200, 384)  # a 100-question batch on it
    assert blas_threads_pay(1024, 8192, 384)  # a full query block on a full corpus block


@pytest.fixture
def seen_threads(monkeypatch):
    """The BLAS thread count each scan of a search ran with."""
    seen: list[int] = []
    scan = VectorIndex._scan

    def recording(self, *args):
        seen.append(_blas_threads())
        return scan(self, *args)

    monkeypatch.setattr(VectorIndex, "_scan", recording)
    return seen


def _search() -> None:
    rng = np.random.default_rng(0)
    index = VectorIndex(16)
    index.add([str(i) for i in range(200)], rng.standard_normal((200, 16)))
    index.search(rng.standard_normal((4, 16)), 3)


def test_the_cap_follows_the_decision(monkeypatch, seen_threads):
    with threadpoolctl.threadpool_limits(limits=2, user_api="blas"):
        if _blas_threads() < 2:
            pytest.skip("BLAS cannot run two threads here")
        _search()  # small: capped
        monkeypatch.setattr(threads_module, "BLAS_THREADS_PAY", 1)
        _search()  # the same search counted as large: the pool is left as it is
        assert _blas_threads() == 2  # and the cap was lifted after the small one
    assert seen_threads == [1, 2]
    assert vector_index.search_threads._users == 0


def test_the_cap_is_set_and_lifted_from_any_thread(seen_threads):
    """threadpoolctl lets only the first thread that limited OpenBLAS limit it again: a cap
    first set from a worker thread must still work from the event loop's thread after."""
    with threadpoolctl.threadpool_limits(limits=2, user_api="blas"):
        if _blas_threads() < 2:
            pytest.skip("BLAS cannot run two threads here")
        for _ in range(2):
            worker = threading.Thread(target=_search)
            worker.start()
            worker.join()
            assert _blas_threads() == 2  # lifted after each
        _search()
    assert seen_threads == [1, 1, 1]
