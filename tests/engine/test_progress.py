"""The progress bar of many runs (`run_many(progress=True)`, `iter_many`, the CLI): count of
the total, rate, ETA, cache hits and failures on a terminal; nothing off a terminal (and
tqdm not even imported) but the notes."""

from __future__ import annotations

import io
import subprocess
import sys

from llmkit.core.node import Node
from llmkit.core.pipeline import Pipeline
from llmkit.core.progress import Progress
from llmkit.core.stats import Profile


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


class Half(Node):
    inputs = {"x": int}
    outputs = {"x": int}

    def run(self, x: int) -> dict:
        if x % 2:
            raise ValueError("odd")
        return {"x": x}


def last_line(stream: io.StringIO) -> str:
    return stream.getvalue().replace("\n", "\r").rstrip("\r").rsplit("\r", 1)[-1]


def test_a_bar_shows_count_of_total_eta_hits_and_failures():
    stream, profile = Terminal(), Profile()
    profile.node("embed").cache_hits = 7
    progress = Progress(stream, total=100, profile=profile)
    for done in range(1, 51):
        progress.update(done, failed=1)
    progress.close()
    line = last_line(stream)
    assert "50/100" in line and " 50%" in line
    assert "<" in line  # elapsed<remaining: the ETA
    assert "run/s" in line or "s/run" in line
    assert "cache hits 7, failed 1" in line


def test_without_a_total_it_counts():
    stream = Terminal()
    progress = Progress(stream)
    progress.advance(False)
    progress.advance(True)
    progress.close()
    line = last_line(stream)
    assert line.startswith("2run") and "failed 1" in line


def test_silent_when_not_a_terminal_except_for_notes():
    stream = io.StringIO()
    progress = Progress(stream, total=3)
    progress.update(1, 0)
    progress.note("llmkit: warning: in.jsonl:2: not valid JSON")
    progress.close()
    assert stream.getvalue() == "llmkit: warning: in.jsonl:2: not valid JSON\n"


def test_a_note_goes_above_the_bar():
    stream = Terminal()
    progress = Progress(stream, total=3)
    progress.update(1, 0)
    progress.note("hello")
    progress.close()
    assert "hello\n" in stream.getvalue()
    assert "1/3" in last_line(stream)


def test_run_many_and_iter_many_draw_one_on_a_terminal(monkeypatch):
    p = Pipeline("half", inputs=["x"]).add("h", Half(), x="x").outputs(x="h.x")
    for call in (lambda: p.run_many([{"x": x} for x in range(10)], on_error="return",
                                    progress=True),
                 lambda: list(p.iter_many([{"x": x} for x in range(10)], on_error="return",
                                          progress=True))):
        stderr = Terminal()
        monkeypatch.setattr(sys, "stderr", stderr)
        assert len(call()) == 10
        line = last_line(stderr)
        assert "10/10" in line and "failed 5" in line


def test_quiet_and_tqdm_not_imported_off_a_terminal():
    script = ("import sys; from llmkit.core.pipeline import Pipeline\n"
              "from tests.engine.test_progress import Half\n"
              "p = Pipeline('h', inputs=['x']).add('h', Half(), x='x').outputs(x='h.x')\n"
              "p.run_many([{'x': 2}] * 5, progress=True)\n"
              "print('tqdm' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=60)
    assert (done.stdout, done.stderr) == ("False\n", "")
