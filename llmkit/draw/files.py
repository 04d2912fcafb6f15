"""A picture's format (named, or by the file's suffix) and its bytes written to a file the
user named: all at once (`llmkit.files.replace_file`), so a reader never sees half a
picture and a failed write leaves the old file as it was."""

from __future__ import annotations

import os

from llmkit.files import replace_file as write

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
