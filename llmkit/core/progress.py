"""The progress display of many runs (`run_many(progress=True)`, `iter_many`, the CLI's
`--input-file` runs): runs done (of the total, with an ETA, when known), rate, cache hits
and failures, drawn by tqdm on stderr at most ten times a second. Silent when the stream is
not a terminal, so piped output and logs stay clean; tqdm (10 ms to import) is imported only
when a bar is drawn."""

from __future__ import annotations

import sys
from typing import Any, TextIO

from llmkit.core.stats import Profile

__all__ = ["Progress"]


class Progress:
    """A progress bar on `stream` (stderr by default), drawn only on a terminal; the cache
    hits are those counted in `profile` (the runs' profile)."""

    def __init__(self, stream: TextIO | None = None, total: int | None = None, *,
                 profile: Profile | None = None) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = _is_terminal(self.stream)
        self.total = total
        self.profile = profile if profile is not None else Profile()
        self.done = 0
        self.failed = 0
        self._bar: Any = None

    def update(self, done: int, failed: int) -> None:
        """Record `done` runs finished, `failed` of them failed; the bar redraws when due."""
        self.done, self.failed = done, failed
        if self.enabled:
            bar = self._bar if self._bar is not None else self._open()
            bar.set_postfix_str(self._counts(), refresh=False)
            bar.update(done - bar.n)

    def advance(self, failed: bool) -> None:
        """One more run finished (`failed`: with an error)."""
        self.update(self.done + 1, self.failed + failed)

    def note(self, message: str) -> None:
        """Print a message line above the bar."""
        if self._bar is not None:
            self._bar.write(message, file=self.stream)
        else:
            self.stream.write(message + "\n")
            self.stream.flush()

    def close(self) -> None:
        """Draw the final state and end the line."""
        if self._bar is not None:
            self._bar.set_postfix_str(self._counts(), refresh=False)
            self._bar.close()
            self._bar = None

    def _counts(self) -> str:
        hits = sum(s.cache_hits for s in self.profile.nodes.values())
        return f"cache hits {hits}, failed {self.failed}"

    def _open(self) -> Any:
        from tqdm import tqdm

        self._bar = tqdm(total=self.total, file=self.stream, unit="run", mininterval=0.1,
                         dynamic_ncols=True, leave=True)
        return self._bar


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False
