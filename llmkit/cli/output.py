"""Where `llmkit run --input-file` writes its JSONL results, so that nothing is lost: the
output only ever holds whole lines, and a user's existing file is not touched until the run
ends.

`--output FILE` (a regular file, or a new one) is written to a temporary file next to it,
`.FILE.<random>.llmkit-tmp`, flushed line by line; when the run ends, or is interrupted,
the temporary file is renamed over FILE (atomically, keeping FILE's permission bits, and
through a symlink to the file it names). When a write fails (a full disk), the temporary
file is removed and FILE is left as it was. A FIFO or a device (`/dev/stdout`, `/dev/full`)
is written directly, as stdout is; a regular file there is cut back to its last whole line
when a write fails.
"""

from __future__ import annotations

import contextlib
import io
import os
import stat
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import BinaryIO

from llmkit.files import open_beside

__all__ = ["LineWriter", "output_file", "same_file", "stdout_writer"]


class LineWriter:
    """Writes whole lines to an unbuffered binary stream, each flushed at once. A write that
    fails is cut back out of a regular file, then raised as an `OSError` naming `name`."""

    def __init__(self, raw: BinaryIO, name: str) -> None:
        self.raw = raw
        self.name = name
        try:
            self.fd: int | None = raw.fileno()
        except (AttributeError, io.UnsupportedOperation):  # an in-memory stream
            self.fd = None
        self.regular = self.fd is not None and stat.S_ISREG(os.fstat(self.fd).st_mode)

    def write(self, line: bytes) -> None:
        written = 0
        try:
            while written < len(line):
                written += self.raw.write(line[written:]) or 0
            self.raw.flush()
        except OSError as exc:  # (of the errno's class: a closed pipe stays BrokenPipeError)
            self._cut(written)
            raise OSError(exc.errno, f"cannot write the results: {exc.strerror or exc}",
                          self.name) from None

    def _cut(self, written: int) -> None:
        """Remove the part of a line that reached a regular file (only what we just wrote)."""
        if written and self.regular and self.fd is not None:
            with contextlib.suppress(OSError):  # the write error is what the user must see
                os.ftruncate(self.fd, os.lseek(self.fd, 0, os.SEEK_CUR) - written)


def stdout_writer() -> LineWriter:
    """A `LineWriter` on standard output (its file descriptor, past Python's buffers)."""
    sys.stdout.flush()
    try:
        raw: BinaryIO = open(sys.stdout.fileno(), "wb", buffering=0,  # noqa: SIM115
                             closefd=False)
    except (AttributeError, io.UnsupportedOperation):  # stdout replaced, e.g. under a test
        raw = sys.stdout.buffer
    return LineWriter(raw, "<stdout>")


@contextmanager
def output_file(path: str) -> Iterator[LineWriter]:
    """A `LineWriter` for `--output path`; see the module docstring for what happens when."""
    try:
        mode: int | None = os.stat(path).st_mode
    except FileNotFoundError:
        mode = None
    if mode is not None and stat.S_ISDIR(mode):
        raise IsADirectoryError(21, "is a directory, not a file", path)
    if mode is not None and not stat.S_ISREG(mode):  # a FIFO or a device: stream into it
        with open(path, "wb", buffering=0) as raw:
            yield LineWriter(raw, path)
        return
    try:  # a symlink keeps pointing at the file it names (`target`)
        fd, temporary, target = open_beside(path)
    except OSError as exc:
        raise OSError(exc.errno, f"cannot write the results next to it: {exc.strerror}",
                      path) from None
    raw = open(fd, "wb", buffering=0)  # noqa: SIM115
    try:
        yield LineWriter(raw, path)
    except KeyboardInterrupt:  # the results finished so far are kept, as on a normal end
        _commit(raw, temporary, target, path)
        raise
    except OSError as exc:
        _discard(raw, temporary)
        if exc.filename != path:
            raise
        kept = "left as it was" if mode is not None else "not created"
        raise OSError(exc.errno, f"{exc.strerror}; the file is {kept}", path) from None
    except BaseException:
        _discard(raw, temporary)
        raise
    _commit(raw, temporary, target, path)


def _commit(raw: BinaryIO, temporary: str, target: str, path: str) -> None:
    """Make the temporary file durable, then atomically the file at `target`; if that
    fails (a full disk may only show at `fsync`), remove it and name `path`."""
    try:
        with raw:
            os.fsync(raw.fileno())
        os.replace(temporary, target)
    except OSError as exc:
        _discard(raw, temporary)
        raise OSError(exc.errno, f"cannot write the results: {exc.strerror or exc}",
                      path) from None
    with contextlib.suppress(OSError):  # the rename's own durability; not worth failing over
        directory = os.open(os.path.dirname(target) or ".", os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)


def _discard(raw: BinaryIO, temporary: str) -> None:
    raw.close()
    with contextlib.suppress(FileNotFoundError):
        os.unlink(temporary)


def same_file(a: os.stat_result, b: os.stat_result) -> bool:
    """Whether two stats are of one file (through symlinks and hard links alike)."""
    return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)
