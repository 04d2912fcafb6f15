"""The search node searches a small index in the event loop (a worker-thread hop costs more
than the search) and a large or unprepared one in a worker thread."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from llmkit.core.pipeline import Pipeline
from llmkit.nodes.retrieval import nodes as retrieval_nodes
from llmkit.nodes.retrieval.nodes import Search
from llmkit.nodes.retrieval.vector_index import VectorIndex


class _Unprepared(VectorIndex):
    llmkit_prepared = False  # a corpus still to ingest: searching it may embed


def _index(cls: type[VectorIndex] = VectorIndex) -> VectorIndex:
    index = cls(8)
    index.add([str(i) for i in range(50)], np.eye(8)[np.arange(50) % 8] + 0.01)
    return index


def test_the_decision():
    queries = np.ones((4, 8), np.float32)
    assert Search(_index()).runs_inline(queries)  # 4 x 50 x 8 multiply-adds
    assert not Search(_index(_Unprepared)).runs_inline(queries)
    assert not Search(object()).runs_inline(queries)  # no size to judge by


@pytest.mark.parametrize("inline_work", [retrieval_nodes.INLINE_SEARCH_WORK, 1])
def test_where_a_run_searches(monkeypatch, inline_work):
    monkeypatch.setattr(retrieval_nodes, "INLINE_SEARCH_WORK", inline_work)
    on_loop: list[bool] = []
    index = _index()
    search = index.search

    def recording(*args):
        try:
            on_loop.append(asyncio.get_running_loop() is not None)
        except RuntimeError:  # a worker thread runs no loop
            on_loop.append(False)
        return search(*args)

    monkeypatch.setattr(index, "search", recording)
    p = Pipeline(inputs=["v"]).add("search", Search(index, k=2), vector="v")
    assert p.run(v=np.eye(8, dtype=np.float32)[3])["hits"][0]["id"] == "3"
    assert on_loop == [inline_work > 1]
