"""Replacing a file the user named without ever showing half of it: the new bytes go to a
temporary file beside it (`.NAME.<hex>.llmkit-tmp`, with its permission bits), renamed over
it when whole. Used by `--output`, `--json`, `--chart` and the pictures."""

from __future__ import annotations

import contextlib
import os
import secrets
import stat

__all__ = ["open_beside", "replace_file"]


def open_beside(path: str | os.PathLike[str]) -> tuple[int, str, str]:
    """(fd, temporary, target): a new temporary file, open for writing, beside the file
    `path` names (through a symlink, the file it points at: `target`), with that file's
    permission bits when it exists. The caller renames it over `target`, or removes it."""
    target = os.path.realpath(path)
    try:
        mode: int | None = stat.S_IMODE(os.stat(target).st_mode)
    except FileNotFoundError:
        mode = None
    directory, base = os.path.split(target)
    temporary = os.path.join(directory, f".{base}.{secrets.token_hex(4)}.llmkit-tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    if mode is not None:
        try:
            os.chmod(fd, mode)
        except OSError:
            os.close(fd)
            os.unlink(temporary)
            raise
    return fd, temporary, target


def replace_file(path: str | os.PathLike[str], data: bytes) -> None:
    """Replace the file at `path` with `data` at once (a new file is created); a failure
    leaves the old file as it was."""
    fd, temporary, target = open_beside(path)
    try:
        with open(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(fd)
        os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
