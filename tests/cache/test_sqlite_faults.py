"""SQLiteCache under faults: damaged entries, killed writers, concurrent processes, files
that are not our cache and places that cannot be written."""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import numpy as np
import pytest

from llmkit.cache import CacheError, CodecError, SQLiteCache, decode, encode
from llmkit.cache.stores.sqlite import SCHEMA_VERSION


def k(i: int) -> bytes:
    return i.to_bytes(16, "big")


def run_python(code: str, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code), *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


# -- damaged entries ----------------------------------------------------------------------

def test_damaged_rows_are_returned_as_bytes_and_fail_to_decode(tmp_path):
    path = tmp_path / "cache.db"
    with SQLiteCache(path) as cache:
        cache.set_many([(k(1), encode({"ok": 1})), (k(2), encode("truncated me"))], node="n")
    raw = sqlite3.connect(path)
    with raw:  # what a torn or foreign write could leave behind
        raw.execute("UPDATE llmkit_cache SET value = substr(value, 1, 5) WHERE key = ?", (k(2),))
        raw.execute("INSERT INTO llmkit_cache VALUES (?, 'n', CAST(X'FFFE00' AS TEXT), NULL, 3)",
                    (k(3),))
        raw.execute("INSERT INTO llmkit_cache VALUES (?, CAST(X'FF' AS TEXT), X'00', 'soon', 1)",
                    (k(4),))
        raw.execute("INSERT INTO llmkit_cache VALUES (?, 'n', 42, NULL, 1)", (k(5),))
    raw.close()

    with SQLiteCache(path) as cache:
        got = cache.get_many([k(i) for i in range(1, 6)])
        assert decode(got[0]) == {"ok": 1}
        for blob in got[1:]:
            assert isinstance(blob, bytes)
            with pytest.raises(CodecError):
                decode(blob)
        cache.stats()  # a damaged node name does not break stats either


def test_bytes_damaged_on_disk_are_caught_by_the_checksum(tmp_path):
    path = tmp_path / "cache.db"
    with SQLiteCache(path) as cache:
        cache.set_many([(k(1), encode(np.full(40_000, 7, dtype=np.uint8)))], node="n")
    data = bytearray(path.read_bytes())
    page = 4096
    # an overflow page of the blob: a 4-byte next-page pointer, then only our bytes
    spot = next(p * page for p in range(len(data) // page)
                if data[p * page + 4 : (p + 1) * page] == b"\x07" * (page - 4)) + 512
    data[spot : spot + 64] = os.urandom(64)
    path.write_bytes(bytes(data))

    with SQLiteCache(path) as cache:
        (blob,) = cache.get_many([k(1)])
    assert blob is not None
    with pytest.raises(CodecError, match="checksum"):
        decode(blob)


def test_a_malformed_database_raises_cache_error_not_sqlite_error(tmp_path):
    path = tmp_path / "cache.db"
    with SQLiteCache(path) as cache:
        cache.set_many([(k(i), b"x" * 100) for i in range(200)], node="n")
    data = bytearray(path.read_bytes())
    data[4096 : 4096 * 3] = os.urandom(4096 * 2)  # b-tree pages after the schema page
    path.write_bytes(bytes(data))
    with pytest.raises(CacheError, match=re.escape(str(path))), SQLiteCache(path) as cache:
        cache.get_many([k(i) for i in range(200)])
        cache.stats()


def test_calls_after_close_raise_cache_error(tmp_path):
    cache = SQLiteCache(tmp_path / "cache.db")
    cache.close()
    with pytest.raises(CacheError):
        cache.get_many([k(1)])


# -- killed and concurrent writers --------------------------------------------------------

WRITER = """
    import sys
    from llmkit.cache import SQLiteCache, encode
    cache = SQLiteCache(sys.argv[1])
    batch = 0
    while True:
        cache.set_many(
            [((batch * 1000 + i).to_bytes(16, "big"), encode({"batch": batch, "pad": "x" * 2000}))
             for i in range(200)],
            node="w",
        )
        print(batch, flush=True)  # only after the commit returned
        batch += 1
"""


def test_sigkill_mid_write_keeps_every_confirmed_batch(tmp_path):
    path = tmp_path / "cache.db"
    proc = run_python(WRITER, str(path))
    confirmed = []
    try:
        while len(confirmed) < 12:
            line = proc.stdout.readline()
            assert line, f"writer died: {proc.stderr.read()}"
            confirmed.append(int(line))
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    confirmed += [int(line) for line in proc.stdout.read().split()]
    proc.stdout.close()
    proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL

    with SQLiteCache(path) as cache:
        for batch in confirmed:
            blobs = cache.get_many([k(batch * 1000 + i) for i in range(200)])
            assert all(blob is not None for blob in blobs), f"batch {batch} lost"
            assert {decode(blob)["batch"] for blob in blobs} == {batch}
        cache.set_many([(k(10**9), b"still writable")], node="after")
    with sqlite3.connect(path) as raw:
        assert raw.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    raw.close()


CONCURRENT = """
    import os, sys, time
    from llmkit.cache import SQLiteCache
    path, worker, go = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    print("ready", flush=True)
    while not os.path.exists(go):
        time.sleep(0.002)
    with SQLiteCache(path) as cache:  # both processes create the same new file at once
        for batch in range(60):
            keys = [(worker * 10**6 + batch * 100 + i).to_bytes(16, "big") for i in range(20)]
            cache.set_many([(key, b"w%d" % worker) for key in keys], node=f"w{worker}")
            assert cache.get_many(keys) == [b"w%d" % worker] * 20
"""


def test_two_processes_write_the_same_file_concurrently(tmp_path):
    path, go = tmp_path / "shared" / "cache.db", tmp_path / "go"
    procs = [run_python(CONCURRENT, str(path), str(w), str(go)) for w in (1, 2)]
    for proc in procs:
        assert proc.stdout.readline() == "ready\n", proc.stderr.read()
    go.touch()
    for proc in procs:
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err

    with SQLiteCache(path) as cache:
        for w in (1, 2):
            keys = [k(w * 10**6 + b * 100 + i) for b in range(60) for i in range(20)]
            assert cache.get_many(keys) == [b"w%d" % w] * len(keys)
        assert {node: usage.entries for node, usage in cache.stats().items()} == {
            "w1": 1200, "w2": 1200}


# -- files and places that are not ours ---------------------------------------------------

def test_random_bytes_file_is_refused_and_left_alone(tmp_path):
    path = tmp_path / "cache.db"
    junk = os.urandom(8192)
    path.write_bytes(junk)
    with pytest.raises(CacheError, match=r"not an llmkit cache.*delete it or choose another"):
        SQLiteCache(path)
    assert path.read_bytes() == junk


def test_another_sqlite_database_is_refused(tmp_path):
    path = tmp_path / "app.db"
    with sqlite3.connect(path) as raw:
        raw.execute("CREATE TABLE users (name TEXT)")
    raw.close()
    with pytest.raises(CacheError, match=re.escape(f"{path} is not an llmkit cache")):
        SQLiteCache(path)


def test_a_cache_of_another_layout_version_is_refused(tmp_path):
    path = tmp_path / "cache.db"
    SQLiteCache(path).close()
    with sqlite3.connect(path) as raw:
        raw.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    raw.close()
    with pytest.raises(CacheError, match="another version"):
        SQLiteCache(path)


def test_parent_that_is_a_file_is_refused_at_open(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(CacheError, match=re.escape(str(tmp_path / "file"))):
        SQLiteCache(tmp_path / "file" / "sub" / "cache.db")


def test_a_directory_in_place_of_the_file_is_refused_at_open(tmp_path):
    (tmp_path / "cache.db").mkdir()
    with pytest.raises(CacheError, match=re.escape(str(tmp_path / "cache.db"))):
        SQLiteCache(tmp_path / "cache.db")


NOBODY = 65534
# Opens a cache in the child; as root, only after dropping to `nobody` (root writes anywhere).
OPEN_AS_USER = """
    import os, sys
    from llmkit.cache import CacheError, SQLiteCache
    if os.geteuid() == 0:
        os.setgroups([]); os.setgid(int(sys.argv[2])); os.setuid(int(sys.argv[2]))
    try:
        SQLiteCache(sys.argv[1]).close()
    except CacheError as exc:
        print(exc); sys.exit(3)
"""


@pytest.fixture
def own_folder(tmp_path):
    """An empty folder of the user who opens the cache; under root, one of `nobody` that
    `nobody` can reach (pytest's own temporary folders are private to root)."""
    if os.geteuid() != 0:
        yield tmp_path / "ro"
        return
    with tempfile.TemporaryDirectory() as base:
        os.chmod(base, 0o711)
        yield Path(base) / "ro"


@pytest.mark.parametrize("existing", [False, True])
def test_read_only_directory_is_refused_at_open(own_folder, existing):
    folder, path = own_folder, own_folder / "cache.db"
    folder.mkdir()
    if existing:
        SQLiteCache(path).close()
    if os.geteuid() == 0:
        for entry in [folder, *folder.iterdir()]:
            os.chown(entry, NOBODY, NOBODY)
    folder.chmod(0o555)
    try:
        child = run_python(OPEN_AS_USER, str(path), str(NOBODY))
        out, err = child.communicate(timeout=60)
    finally:
        folder.chmod(0o755)
    assert child.returncode == 3, err
    assert str(path) in out
