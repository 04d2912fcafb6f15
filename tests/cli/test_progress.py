"""The progress line: drawn only on a terminal, at most ten times a second."""

import io

from llmkit.cli.progress import Progress


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_redraws_at_most_ten_times_a_second():
    stream, clock = Terminal(), Clock()
    progress = Progress(stream, total=100, hits=lambda: 7, clock=clock)
    for done in range(1, 51):
        clock.now = done * 0.01  # 50 updates over half a second
        progress.update(done, failed=1)
    assert 5 <= stream.getvalue().count("\r") <= 6
    clock.now = 1.0
    progress.close()
    last = stream.getvalue().rsplit("\r", 1)[1]
    assert last.split() == ["50/100", "50%", "50.0/s", "cache", "hits", "7", "failed", "1"]


def test_silent_when_not_a_terminal_except_for_notes():
    stream = io.StringIO()
    progress = Progress(stream, total=3)
    progress.update(1, 0)
    progress.note("llmkit: warning: in.jsonl:2: not valid JSON")
    progress.close()
    assert stream.getvalue() == "llmkit: warning: in.jsonl:2: not valid JSON\n"


def test_a_note_clears_the_progress_line_first():
    stream, clock = Terminal(), Clock()
    progress = Progress(stream, clock=clock)
    progress.update(1, 0)
    progress.note("hello")
    assert stream.getvalue().endswith("\r" + " " * len(progress.line()) + "\rhello\n")
