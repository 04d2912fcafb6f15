"""What a node's path param puts in its fingerprint: a file's content, not where it sits, so
a moved or copied project keeps its cache and an edited file misses it (docs/cache.md)."""

from __future__ import annotations

import functools
import hashlib
import os
import stat
from collections.abc import Collection, Mapping
from typing import Any

__all__ = ["located"]


def located(params: Mapping[str, Any], path_params: Collection[str]) -> Mapping[str, Any]:
    """`params` with each path param that names a file replaced by `{"sha256": digest}`;
    a folder or a missing file keeps its value (a folder's content is the node's to key)."""
    if not path_params:
        return params
    out = dict(params)
    for name in path_params:
        value = params.get(name)
        if isinstance(value, (str, os.PathLike)):
            digest = file_digest(os.fspath(value))
            if digest is not None:
                out[name] = {"sha256": digest}
    return out


def file_digest(path: str) -> str | None:
    """The sha256 of the file at `path`, read again only when its size or mtime changed;
    None when it is no regular file."""
    try:
        status = os.stat(path)
    except OSError:
        return None
    if not stat.S_ISREG(status.st_mode):
        return None
    return _digest(os.path.realpath(path), status.st_size, status.st_mtime_ns)


@functools.lru_cache(maxsize=256)
def _digest(path: str, size: int, mtime_ns: int) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()
