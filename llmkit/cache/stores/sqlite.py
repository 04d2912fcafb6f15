"""A cache in one SQLite file: the CLI default, safe for several threads and processes.

One table, (key BLOB PRIMARY KEY, node, value, expires, size), in WAL mode with
synchronous=NORMAL: a committed batch survives the death of the process (not necessarily a
power cut), readers never wait for the writer, and writers of other processes wait up to
`timeout` seconds for their turn. The file is marked as ours with `PRAGMA application_id`
and its layout versioned with `PRAGMA user_version`; any other SQLite file (or non-SQLite
file) is refused rather than written into.

Threads share one connection behind a lock. Measured on a 2-core VM (hits in batches of 100,
1 to 8 threads), that took 7-13 µs per item against 8-25 µs with one connection per thread:
calls are short, so the lock costs less than extra connections with their own page caches.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from os import PathLike
from pathlib import Path
from typing import ClassVar, NoReturn

from llmkit.cache.stores.base import CacheEntry, CacheStore, StoreUsage, expiry
from llmkit.errors import CacheError

__all__ = ["SQLiteCache"]

APPLICATION_ID = 0x6C6C6D6B  # "llmk"
SCHEMA_VERSION = 1
_CHUNK = 500  # keys per SELECT: well under SQLite's limit of bound parameters
_SCHEMA = """
CREATE TABLE llmkit_cache (
    key BLOB PRIMARY KEY,
    node TEXT NOT NULL,
    value BLOB NOT NULL,
    expires REAL,
    size INTEGER NOT NULL
);
CREATE INDEX llmkit_cache_node ON llmkit_cache (node);
CREATE INDEX llmkit_cache_expires ON llmkit_cache (expires) WHERE expires IS NOT NULL;
"""
_INSERT = "INSERT OR REPLACE INTO llmkit_cache (key, node, value, expires, size) VALUES (?,?,?,?,?)"
_PURGE = "DELETE FROM llmkit_cache WHERE expires <= ?"  # uses the partial index: cheap when idle
_STATS = """SELECT node, COUNT(*), COALESCE(SUM(size), 0) FROM llmkit_cache
            WHERE expires IS NULL OR expires > ? GROUP BY node"""


def _select(n: int) -> str:
    # CAST: a value damaged into TEXT must come back as bytes, not fail to decode as UTF-8
    return (f"SELECT key, CAST(value AS BLOB), node, CAST(expires AS REAL) FROM llmkit_cache "
            f"WHERE key IN ({','.join('?' * n)}) AND (expires IS NULL OR expires > ?)")


# Padded statement sizes: a few distinct statements stay in sqlite3's statement cache
_SIZES = (1, 2, 4, 8, 16, 32, 64, 128, 256, _CHUNK)
_SELECTS = {n: _select(n) for n in _SIZES}


class SQLiteCache(CacheStore):
    """A cache in the SQLite file at `path` (created with its parent directories)."""

    blocking: ClassVar[bool] = True

    def __init__(self, path: str | PathLike[str], *, timeout: float = 30.0) -> None:
        self.path = Path(path).expanduser().absolute()
        self._lock = threading.Lock()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise CacheError(
                f"cannot create the cache directory {self.path.parent}: {exc.strerror}; "
                "choose another --cache path"
            ) from exc
        try:
            self._conn = sqlite3.connect(
                self.path, timeout=timeout, isolation_level=None, check_same_thread=False
            )
        except sqlite3.Error as exc:
            self._fail("open", exc)
        # a damaged node name must not make a read fail on UTF-8
        self._conn.text_factory = lambda data: data.decode("utf-8", "replace")
        try:
            self._enable_wal(timeout)
            self._conn.execute("PRAGMA synchronous=NORMAL")
            self._init_schema()
        except BaseException as exc:
            self._conn.close()
            if isinstance(exc, sqlite3.Error):
                self._fail("open", exc)
            raise

    @property
    def url(self) -> str:
        return f"sqlite://{self.path}"

    def get_entries(self, keys: Sequence[bytes]) -> list[CacheEntry | None]:
        unique = list(dict.fromkeys(keys))
        found: dict[bytes, CacheEntry] = {}
        now = self.clock()
        with self._lock:
            try:
                for start in range(0, len(unique), _CHUNK):
                    chunk = unique[start : start + _CHUNK]
                    size = next(n for n in _SIZES if n >= len(chunk))
                    params = [*chunk, *[chunk[-1]] * (size - len(chunk)), now]
                    for key, value, node, expires in self._conn.execute(_SELECTS[size], params):
                        if value is not None:
                            found[key] = CacheEntry(value, node, expires)
            except sqlite3.Error as exc:
                self._fail("read", exc)
        return [found.get(key) for key in keys]

    def set_many(
        self, entries: Sequence[tuple[bytes, bytes]], *, node: str, ttl: float | None = None
    ) -> None:
        if not entries:
            return
        now = self.clock()
        expires = expiry(ttl, now)
        rows = [(key, node, value, expires, len(value)) for key, value in entries]

        def write(conn: sqlite3.Connection) -> None:
            conn.execute(_PURGE, (now,))
            conn.executemany(_INSERT, rows)

        with self._lock:
            try:
                self._transaction(write)
            except sqlite3.Error as exc:
                self._fail("write", exc)

    def clear(self, node: str | None = None) -> int:
        with self._lock:
            try:
                if node is None:
                    cursor = self._conn.execute("DELETE FROM llmkit_cache")
                else:
                    cursor = self._conn.execute("DELETE FROM llmkit_cache WHERE node = ?", (node,))
            except sqlite3.Error as exc:
                self._fail("clear", exc)
            return cursor.rowcount

    def stats(self) -> dict[str, StoreUsage]:
        with self._lock:
            try:
                rows = self._conn.execute(_STATS, (self.clock(),)).fetchall()
            except sqlite3.Error as exc:
                self._fail("read", exc)
        return {node: StoreUsage(count, size) for node, count, size in rows}

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def _enable_wal(self, timeout: float) -> None:
        """Switch to WAL; retried by hand, since SQLite may report a concurrent switch by
        another process as "locked" at once instead of calling its busy handler."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                self._conn.execute("PRAGMA journal_mode=WAL")
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.01)

    def _init_schema(self) -> None:
        """Create the table in a new file, or check that an existing file is our cache."""

        def check(conn: sqlite3.Connection) -> None:
            app_id = conn.execute("PRAGMA application_id").fetchone()[0]
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            tables = conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
            if (app_id, version, tables) == (0, 0, 0):  # a new, empty database
                for statement in _SCHEMA.split(";"):
                    if statement.strip():
                        conn.execute(statement)
                conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
                conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            elif app_id != APPLICATION_ID:
                raise CacheError(f"{self.path} is not an llmkit cache: delete it or choose "
                                 "another --cache path")
            elif version != SCHEMA_VERSION:
                raise CacheError(
                    f"{self.path} is an llmkit cache of another version (layout {version}, "
                    f"this llmkit uses {SCHEMA_VERSION}): delete it or choose another --cache path"
                )

        # IMMEDIATE: two processes creating the same new file take turns
        self._transaction(check)

    def _transaction(self, work: Callable[[sqlite3.Connection], None]) -> None:
        """Run `work` in one write transaction (rolled back if anything, even Ctrl-C, stops it)."""
        conn = self._conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            work(conn)
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise

    def _fail(self, action: str, exc: sqlite3.Error) -> NoReturn:
        if "not a database" in str(exc):
            raise CacheError(f"{self.path} is not an llmkit cache (not an SQLite database): "
                             "delete it or choose another --cache path") from exc
        hint = "; choose another --cache path or make it writable" if action == "open" else ""
        raise CacheError(f"cannot {action} the cache at {self.path}: {exc}{hint}") from exc
