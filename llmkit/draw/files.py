"""A picture's format (named, or by the file's suffix) and its bytes written to a file the
user named: all at once, through a temporary file beside it renamed over it, so a reader
never sees half a picture and a failed write leaves the old file as it was."""

from __future__ import annotations

import contextlib
import os
import secrets
import stat

__all__ = ["FORMATS", "format_of", "write"]

#: Each format by the suffixes that choose it.
FORMATS = {"svg": (".svg",), "png": (".png",), "html": (".html", ".htm"),
           "mermaid": (".mmd", ".mermaid"), "dot": (".dot", ".gv")}


def format_of(path: str | os.PathLike[str] | None, format: str | None) -> str:
    """`format` when given, else the one `path`'s suffix names, else svg; a `ValueError`
    naming the choices when neither is known."""
    if format is not None:
        if format not in FORMATS:
            raise ValueError(f"unknown picture format {format!r}: choose one of "
                             f"{', '.join(FORMATS)}")
        return format
    if path is None:
        return "svg"
    suffix = os.path.splitext(os.fspath(path))[1].lower()
    for name, suffixes in FORMATS.items():
        if suffix in suffixes:
            return name
    raise ValueError(f"{os.fspath(path)}: cannot tell the picture format from "
                     f"{suffix or 'a name without a suffix'}: end it in "
                     f"{', '.join(s for ss in FORMATS.values() for s in ss)}")


def write(path: str | os.PathLike[str], data: bytes) -> None:
    """Replace the file at `path` (through a symlink, the file it names) with `data`,
    keeping its permission bits; a new file is created."""
    target = os.path.realpath(path)
    try:
        mode: int | None = stat.S_IMODE(os.stat(target).st_mode)
    except FileNotFoundError:
        mode = None
    directory, base = os.path.split(target)
    temporary = os.path.join(directory, f".{base}.{secrets.token_hex(4)}.llmkit-tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with open(fd, "wb") as out:
            if mode is not None:
                os.chmod(fd, mode)
            out.write(data)
            out.flush()
            os.fsync(fd)
        os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
