"""Index directories: written atomically, marked as llmkit's, checked when opened.

Every index directory (a `VectorIndex`, a `BM25Index`, a corpus holding both) carries a marker
file, `llmkit-index.msgpack`, naming its kind, its files with their size and CRC-32, and its
subdirectories with their kinds. The marker is how llmkit proves it made a directory before
it replaces one: anything else at an index path (a user's folder, a file) is refused, never
moved or deleted. Directories written before markers existed are recognised by their exact
layout and the header of their main file. The checksums catch a damaged file when the index
is opened.
"""

from __future__ import annotations

import errno
import os
import re
import shutil
import uuid
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgpack

from llmkit.errors import LlmkitError

__all__ = ["IndexLoadError", "IndexPathError", "IndexWriteError", "NoIndexError",
           "check_replaceable", "corrupt", "load_index_dir", "save_index_dir"]

MARKER = "llmkit-index.msgpack"
_MAGIC = "llmkit.index-dir/1"
_READ = 1 << 22

# Directories written before markers existed: (files, subdirectories and their kinds, the
# main file, the first key of its msgpack map and that key's value, None for any).
_LEGACY: dict[str, tuple[set[str], dict[str, str], str, str, str | None]] = {
    "vector_index": ({"vectors.npy", "meta.msgpack"}, {}, "meta.msgpack", "format",
                     "llmkit.vector_index/1"),
    "bm25": ({"bm25.msgpack"}, {}, "bm25.msgpack", "format", "llmkit.bm25/1"),
    "corpus": ({"manifest.msgpack"}, {"vectors": "vector_index", "bm25": "bm25"},
               "manifest.msgpack", "settings", None),
}


class IndexLoadError(LlmkitError, ValueError):
    """An index directory is missing, incomplete or corrupt (the message names it)."""


class NoIndexError(IndexLoadError):
    """Nothing was saved at an index path yet."""


class IndexPathError(LlmkitError, ValueError):
    """An index path holds something llmkit did not create, so it will not replace it."""


class IndexWriteError(LlmkitError):
    """An index could not be written (full disk, no permission); the previous one is kept."""

    def __init__(self, path: Path, cause: OSError) -> None:
        self.path, self.cause = path, cause
        hint = ("; free some space and run ingest again"
                if cause.errno in (errno.ENOSPC, errno.EDQUOT) else "")
        super().__init__(f"could not write the index at '{path}': "
                         f"{cause.strerror or cause}{hint} (the previous index is unchanged)")


def corrupt(directory: Path, exc: BaseException) -> IndexLoadError:
    """The error for an unreadable index directory, with the way out."""
    return IndexLoadError(f"index at '{directory}' is corrupt or incomplete "
                          f"({type(exc).__name__}: {exc}); rebuild it from its documents: "
                          f"llmkit ingest SOURCE --index {directory} --rebuild")


# --------------------------------------------------------------------------- ownership

def _marker(directory: Path) -> dict[str, Any] | None:
    """The directory's marker, or None when it has no (readable, well-formed) one."""
    try:
        marker = msgpack.unpackb((directory / MARKER).read_bytes())
    except (OSError, ValueError, msgpack.UnpackException):
        return None
    if (not isinstance(marker, dict) or marker.get("format") != _MAGIC
            or not isinstance(marker.get("files"), dict)
            or not isinstance(marker.get("dirs"), dict)):
        return None
    return marker


def _first_entry(file: Path) -> tuple[Any, Any]:
    """The first key and value of the msgpack map in `file` (without reading the rest)."""
    with file.open("rb") as f:
        unpacker = msgpack.Unpacker(f, read_size=1 << 16)
        if unpacker.read_map_header() < 1:
            return None, None
        return unpacker.unpack(), unpacker.unpack()


def _is_legacy(directory: Path, kind: str, names: set[str]) -> bool:
    files, dirs, main, key, value = _LEGACY[kind]
    if names != files | set(dirs) or not all((directory / f).is_file() for f in files):
        return False
    try:
        first = _first_entry(directory / main)
    except (OSError, ValueError, msgpack.UnpackException):
        return False
    return (first[0] == key and (value is None or first[1] == value)
            and all(_is_ours(directory / name, sub) for name, sub in dirs.items()))


def _is_ours(directory: Path, kind: str) -> bool:
    """True when llmkit wrote `directory` as an index of `kind` and it holds nothing else."""
    if directory.is_symlink() or not directory.is_dir():
        return False
    names = {entry.name for entry in directory.iterdir()}
    marker = _marker(directory)
    if marker is None:
        return kind in _LEGACY and _is_legacy(directory, kind, names)
    dirs = marker["dirs"]
    return (marker.get("kind") == kind and names <= {MARKER, *marker["files"], *dirs}
            and all(_is_ours(directory / name, sub) for name, sub in dirs.items()
                    if name in names))


def replaceable(path: Path, kind: str) -> bool:
    """True when nothing is at `path`, or an empty directory, or an index of `kind`."""
    if not os.path.lexists(path):
        return True
    if path.is_dir() and not path.is_symlink() and not any(path.iterdir()):
        return True
    return _is_ours(path, kind)


def check_replaceable(path: str | os.PathLike[str], kind: str) -> None:
    """Raise IndexPathError unless an index of `kind` may be written at `path` (a symlink
    counts as the directory it points to, which a save replaces)."""
    target = Path(os.path.realpath(path))
    for candidate in (target, _backup_of(target)):
        if not replaceable(candidate, kind):
            what = "a file" if candidate.is_file() else "not empty"
            raise IndexPathError(
                f"'{candidate}' is {what} and is not an llmkit index, so llmkit will not "
                "replace it: choose another index path, or move it away yourself")


# --------------------------------------------------------------------------- writing

def _backup_of(directory: Path) -> Path:
    return directory.with_name(f".{directory.name}.llmkit-old")


def _temp_names(directory: Path) -> re.Pattern[str]:
    """The names `save_index_dir` gives its temporary directories next to `directory`."""
    return re.compile(rf"\.{re.escape(directory.name)}\.llmkit-tmp-[0-9a-f]{{32}}")


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _checksum(file: Path) -> list[int]:
    """[size, CRC-32] of a file's bytes (CRC-32: ~2.8 GB/s, enough to catch damage)."""
    crc, size = 0, 0
    with file.open("rb") as f:
        while block := f.read(_READ):
            crc = zlib.crc32(block, crc)
            size += len(block)
    return [size, crc]


def _mark(directory: Path, kind: str) -> None:
    """Write the marker of a freshly written index directory, syncing what it lists."""
    files: dict[str, list[int]] = {}
    dirs: dict[str, str] = {}
    for entry in sorted(directory.iterdir()):
        if entry.is_dir():
            inner = _marker(entry)
            if inner is None:
                raise ValueError(f"'{entry}' was not written by save_index_dir")
            dirs[entry.name] = inner["kind"]
        else:
            files[entry.name] = _checksum(entry)
        _fsync(entry)
    marker = directory / MARKER
    marker.write_bytes(msgpack.packb({"format": _MAGIC, "kind": kind, "files": files,
                                      "dirs": dirs}))
    _fsync(marker)
    _fsync(directory)


def save_index_dir(directory: str | os.PathLike[str], write: Callable[[Path], None],
                   kind: str) -> None:
    """Have `write(tmp)` fill a fresh temporary directory, mark it as an index of `kind`,
    then swap it in for `directory`.

    Refuses (IndexPathError) to replace anything but an index of `kind` or an empty
    directory. Crash-safe: the old directory is renamed to a hidden backup before the new one
    is renamed into place, and `load_index_dir` falls back to that backup, so a save killed
    at any point leaves either the old or the new index readable. A failed write (a full
    disk) removes the temporary directory and raises IndexWriteError naming `directory`.
    One writer at a time.
    """
    target = Path(os.path.realpath(directory))
    check_replaceable(target, kind)
    backup = _backup_of(target)
    tmp = target.with_name(f".{target.name}.llmkit-tmp-{uuid.uuid4().hex}")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        ours = _temp_names(target)
        for stale in target.parent.iterdir():  # left by an interrupted save
            if ours.fullmatch(stale.name) and not stale.is_symlink():
                shutil.rmtree(stale, ignore_errors=True)
        tmp.mkdir()
        write(tmp)
        _mark(tmp, kind)
        if os.path.lexists(target):
            if os.path.lexists(backup):
                shutil.rmtree(backup)
            os.rename(target, backup)
        os.rename(tmp, target)
        _fsync(target.parent)
    except BaseException as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        if isinstance(exc, IndexWriteError):  # from a nested save: name this directory
            raise IndexWriteError(target, exc.cause) from exc.cause
        if isinstance(exc, OSError):
            raise IndexWriteError(target, exc) from exc
        raise
    shutil.rmtree(backup, ignore_errors=True)


# --------------------------------------------------------------------------- reading

def _verify(directory: Path, kind: str) -> None:
    """Check a marked directory's kind and its files' sizes and checksums."""
    marker = _marker(directory)
    if marker is None:
        if (directory / MARKER).exists():
            raise ValueError(f"{MARKER} is damaged")
        return  # written before markers: the loader checks the format
    if marker.get("kind") != kind:
        raise ValueError(f"it holds a {marker.get('kind')} index, not a {kind} index")
    for name, (size, crc) in marker["files"].items():
        file = directory / name
        if not file.is_file():
            raise ValueError(f"{name} is missing")
        if file.stat().st_size != size:
            raise ValueError(f"{name} has {file.stat().st_size} bytes, {size} were written")
        if _checksum(file)[1] != crc:
            raise ValueError(f"{name} does not match its checksum")


def load_index_dir(directory: str | os.PathLike[str], kind: str) -> Path:
    """The directory to read an index of `kind` from: `directory`, or the backup an
    interrupted save left behind, with its files checked against the marker's checksums.
    Raises IndexLoadError when there is neither or it is damaged."""
    target = Path(directory)
    source = target
    if not target.is_dir():
        source = _backup_of(target.absolute())
        if not source.is_dir():
            raise NoIndexError(f"no index at '{target}': run ingest to build it")
    try:
        _verify(source, kind)
    except (OSError, ValueError) as exc:
        raise corrupt(target, exc) from exc
    return source
