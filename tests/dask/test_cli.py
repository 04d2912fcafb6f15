"""`llmkit run --executor`: Ctrl-C stops a run on the LocalCluster the command started with
exit code 130 and no worker process left behind; a bad executor is one line."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import psutil

from tests.dask.conftest import REPO, alive
from tests.extras import require

require("distributed", "dask")


def llmkit(*args, cwd, **kwargs):
    return subprocess.Popen([sys.executable, "-m", "llmkit", *map(str, args)], cwd=cwd,
                            env={**os.environ, "PYTHONPATH": str(REPO), "SLOW_DELAY": "30"},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            **kwargs)


def test_ctrl_c_exits_130_and_leaves_no_worker_process(tmp_path):
    inputs = tmp_path / "x.jsonl"
    inputs.write_text("".join(json.dumps({"x": i}) + "\n" for i in range(100)))
    proc = llmkit("run", REPO / "tests" / "fixtures" / "pipelines" / "slow.yaml",
                  "--allow-import", "--input-file", inputs, "--output", tmp_path / "out.jsonl",
                  "--executor", "dask", "--no-cache", cwd=tmp_path)
    me, deadline = psutil.Process(proc.pid), time.monotonic() + 30
    workers: set[int] = set()
    while len(workers) < 2 and time.monotonic() < deadline:  # the cluster's worker processes
        workers = {c.pid for c in me.children(recursive=True) if "python" in c.name()}
        time.sleep(0.1)
    assert len(workers) >= 2, "the LocalCluster did not start"
    time.sleep(1.0)  # the blocks reach the workers, whose runs sleep 30 s
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert err.rstrip().endswith("llmkit: interrupted")
    assert not alive(workers)


def test_an_unknown_executor_or_unreachable_scheduler_is_one_line(tmp_path):
    pipeline = REPO / "tests" / "fixtures" / "pipelines" / "slow.yaml"
    (tmp_path / "q.jsonl").write_text('{"x": 1}\n')
    for executor, message in (("spark", "expected dask (a local cluster) or dask://"),
                              ("dask://127.0.0.1:1", "cannot reach the Dask scheduler at "
                                                     "127.0.0.1:1")):
        proc = llmkit("run", pipeline, "--allow-import", "--input-file", "q.jsonl",
                      "--executor", executor, cwd=tmp_path)
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 2
        assert err.count("\n") == 1 and err.startswith("llmkit: error: ") and message in err
