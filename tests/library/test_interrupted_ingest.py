"""An ingest killed with SIGKILL in the middle of writing leaves the previous index readable."""

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np

from llmkit.nodes.retrieval.corpus import Corpus

ROOT = Path(__file__).resolve().parents[2]

# Ingests a bigger folder; pauses inside the save, after the new vectors are written to the
# temporary directory and before the swap, and says so, so the kill lands mid-write.
CHILD = textwrap.dedent("""
    import sys, time
    from llmkit.nodes.retrieval import vector_index
    from llmkit.nodes.retrieval.corpus import Corpus

    save = vector_index.VectorIndex.save

    def slow_save(self, directory):
        save(self, directory)
        print("writing", flush=True)
        time.sleep(60)

    vector_index.VectorIndex.save = slow_save
    Corpus(sys.argv[1]).ingest(sys.argv[2])
""")


def test_a_killed_ingest_keeps_the_previous_index(tmp_path):
    old, new, index = tmp_path / "old", tmp_path / "new", tmp_path / "index"
    old.mkdir()
    new.mkdir()
    (old / "a.md").write_text("Glaciers carve U-shaped valleys as they move downhill.")
    for i in range(50):
        (new / f"n{i}.md").write_text(f"Document {i} is about volcanoes and magma {i}.")
    Corpus(index).ingest(old)

    child = subprocess.Popen([sys.executable, "-c", CHILD, str(index), str(new)], cwd=ROOT,
                             stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "writing"
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.wait(timeout=30)

    corpus = Corpus(index)
    assert len(corpus) == 1
    hits = corpus.search(corpus.embedder.embed(["How do glaciers shape valleys?"]), 4)
    assert hits[0][0]["metadata"]["source"] == "a.md"
    assert np.isfinite(hits[0][0]["score"])
    # The next ingest cleans up the interrupted write and completes.
    assert len(Corpus(index).ingest(new).added) == 50
