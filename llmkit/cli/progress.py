"""A one-line progress report for batch runs on a terminal (stderr), redrawn at most ten
times a second: items done (of the total when known), items per second, cache hits and
failures. Silent when the stream is not a terminal, so piped output stays clean."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TextIO

__all__ = ["Progress"]


class Progress:
    """Draws `done/total  rate/s  hits  failed` on one line of `stream`."""

    def __init__(self, stream: TextIO, total: int | None = None, *,
                 hits: Callable[[], int] = lambda: 0, interval: float = 0.1,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.stream = stream
        self.enabled = stream.isatty()
        self.total = total
        self.hits = hits
        self.interval = interval
        self.clock = clock
        self.start = clock()
        self.drawn_at = -interval
        self.done = 0
        self.failed = 0
        self.width = 0

    def update(self, done: int, failed: int) -> None:
        """Record progress; redraw when the last redraw is older than `interval`."""
        self.done, self.failed = done, failed
        if self.enabled and self.clock() - self.drawn_at >= self.interval:
            self.draw()

    def line(self) -> str:
        elapsed = max(self.clock() - self.start, 1e-9)
        count = f"{self.done}/{self.total}" if self.total is not None else f"{self.done}"
        percent = f" {100 * self.done / self.total:3.0f}%" if self.total else ""
        return (f"{count}{percent}  {self.done / elapsed:,.1f}/s  cache hits {self.hits()}  "
                f"failed {self.failed}")

    def draw(self) -> None:
        text = self.line()
        self.stream.write("\r" + text.ljust(self.width))
        self.stream.flush()
        self.width = len(text)
        self.drawn_at = self.clock()

    def note(self, message: str) -> None:
        """Print a message line, keeping the progress line below it."""
        if self.enabled and self.width:
            self.stream.write("\r" + " " * self.width + "\r")
            self.width = 0
        self.stream.write(message + "\n")
        self.stream.flush()

    def close(self) -> None:
        """Draw the final state and end the line."""
        if self.enabled:
            self.draw()
            self.stream.write("\n")
            self.stream.flush()
