"""A save killed with SIGKILL at any point leaves a loadable index."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from llmkit.nodes.retrieval.bm25 import BM25Index
from llmkit.nodes.retrieval.vector_index import VectorIndex

# Saves a new index over `directory`, parking forever at the chosen point of the save.
SCRIPT = """
import os, sys, time
from pathlib import Path
import numpy as np
from llmkit.nodes.retrieval.bm25 import BM25Index
from llmkit.nodes.retrieval.vector_index import VectorIndex

directory, point, ready, kind = sys.argv[1:5]

def park(*args):
    Path(ready).touch()
    time.sleep(120)

if point == "writing":          # files written to the temp dir, not yet synced
    os.fsync = park
else:                           # old dir moved aside, new one not yet in place
    real_rename, calls = os.rename, []
    def rename(src, dst):
        calls.append(src)
        if len(calls) == 2:
            park()
        real_rename(src, dst)
    os.rename = rename
if kind == "vector":
    index = VectorIndex(8)
    index.add([f"new{i}" for i in range(500)], np.random.default_rng(1).random((500, 8)))
else:
    index = BM25Index()
    index.add([f"new{i}" for i in range(500)], [f"new text {i}" for i in range(500)])
index.save(directory)
"""


def build(kind: str):
    if kind == "vector":
        index = VectorIndex(8)
        index.add([f"old{i}" for i in range(100)], np.random.default_rng(0).random((100, 8)))
    else:
        index = BM25Index()
        index.add([f"old{i}" for i in range(100)], [f"old text {i}" for i in range(100)])
    return index


@pytest.mark.parametrize("kind", ["vector", "bm25"])
@pytest.mark.parametrize("point", ["writing", "swapping"])
def test_sigkill_during_save_keeps_previous_index(tmp_path, point, kind):
    directory, ready = tmp_path / "index", tmp_path / "ready"
    old = build(kind)
    old.save(directory)
    cls = VectorIndex if kind == "vector" else BM25Index
    proc = subprocess.Popen([sys.executable, "-c", SCRIPT, str(directory), point, str(ready),
                             kind])
    try:
        deadline = time.monotonic() + 60
        while not ready.exists():
            assert proc.poll() is None, "the saving process ended early"
            assert time.monotonic() < deadline, "the saving process never reached the point"
            time.sleep(0.02)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait(timeout=30)
    survivor = cls.load(directory)
    assert len(survivor) == 100 and "old0" in survivor
    assert survivor.content_version == old.content_version
    # the next save cleans up and works
    build(kind).save(directory)
    assert len(cls.load(directory)) == 100
    leftovers = [p.name for p in tmp_path.iterdir() if p.name.startswith(".index.")]
    assert leftovers == []
