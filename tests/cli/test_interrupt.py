"""Ctrl-C during a JSONL run: the process stops with exit code 130, and the output holds the
finished results, each on one complete line (results are flushed as they finish, into a
temporary file that becomes the output when the run stops)."""

import json
import signal
import subprocess
import sys
import time

from tests.cli.conftest import PIPELINES, environment


def test_ctrl_c_leaves_complete_lines_and_exits_130(tmp_path):
    (tmp_path / "in.jsonl").write_text("".join(json.dumps({"x": i}) + "\n" for i in range(400)))
    out = tmp_path / "out.jsonl"
    proc = subprocess.Popen(
        [sys.executable, "-m", "llmkit", "run", PIPELINES / "slow.yaml", "--input-file",
         "in.jsonl", "--output", out, "--allow-import", "--no-cache", "--concurrency", "2"],
        cwd=tmp_path, env=environment(SLOW_DELAY="0.1"), stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and proc.poll() is None and sum(
            p.read_text().count("\n") for p in tmp_path.glob(".out.jsonl.*.llmkit-tmp")) < 3:
        time.sleep(0.05)
    assert not out.exists()  # the output appears when the run stops
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    assert err.strip().endswith("llmkit: interrupted")
    text = out.read_text()
    assert text.endswith("\n")
    results = [json.loads(line) for line in text.splitlines()]
    assert 3 <= len(results) < 400
    assert all(r == {"index": r["index"], "y": r["index"]} for r in results)
    assert list(tmp_path.glob(".*.llmkit-tmp")) == []
