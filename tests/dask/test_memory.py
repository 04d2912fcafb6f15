"""Client memory stays flat however many inputs stream through the executor: the RSS of a
client process after 20,000 tiny inputs and after 200,000 (1,000,000: bench/scale.py)."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.dask.conftest import REPO
from tests.extras import require

require("distributed", "dask")


def test_client_rss_is_flat_from_20k_to_200k_inputs():
    done = subprocess.run([sys.executable, "-m", "tests.dask.memory_probe", "200000", "20000"],
                          cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)},
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    at_20k, at_200k = map(float, done.stdout.split())
    # 180,000 more inputs of 200 bytes held would be ~60 MiB; blocks in flight are ~1 MiB
    assert at_200k - at_20k < 15, (at_20k, at_200k)
