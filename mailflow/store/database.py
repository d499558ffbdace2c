"""Opening the database, and the write lock and transactions every writer goes through."""

from __future__ import annotations

import fcntl
import os
import sqlite3
import threading
import time
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import peewee as pw
from playhouse.db_url import connect as url_connect

from mailflow.errors import DatabaseError, LockBusy, StorageError
from mailflow.store.models import database_proxy


def open_database(url: str, busy_seconds: int = 30) -> pw.Database:
    """Connect to ``url`` and bind the models to it.

    SQLite gets WAL (readers never block the writer), foreign keys, a busy timeout instead of an
    immediate "database is locked", full fsync (a commit that returned survives a power cut,
    which matters because the mailbox is told "done" right after), and ``BEGIN IMMEDIATE`` for
    every transaction so that two writers queue instead of deadlocking on lock upgrade.
    """
    if url.startswith("sqlite:///"):
        path = url[len("sqlite:///") :]
        if path != ":memory:":
            try:
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StorageError(f"cannot create database folder for {path}: {exc}") from exc
        db: pw.Database = pw.SqliteDatabase(
            path,
            timeout=busy_seconds,
            lock_type="IMMEDIATE",
            pragmas={
                "journal_mode": "wal",
                "foreign_keys": 1,
                "busy_timeout": busy_seconds * 1000,
                "synchronous": "full",
                # Reports read a month of a large table: a 64 MB page cache and memory-mapped
                # reads (256 MB) instead of a read() per page of the 2 MB default.
                "cache_size": -65536,
                "mmap_size": 268435456,
                "temp_store": "memory",  # the sorts of percentiles, not temp files
            },
        )
        if path != ":memory:":
            _LOCKS[db] = WriteLock(Path(path + ".lock"), busy_seconds)
    else:
        db = url_connect(url, **server_options(url))
    database_proxy.initialize(db)
    deadline = time.monotonic() + busy_seconds
    while True:
        try:
            # Turning a new SQLite file into WAL needs it to itself, and SQLite answers "locked"
            # at once instead of waiting: other mailflow processes are kept out by the write
            # lock, a reader finishing its query by trying again.
            with _LOCKS.get(db, WriteLock(None, 0)).held():
                db.connect(reuse_if_open=True)
            return db
        except (pw.OperationalError, sqlite3.Error) as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise StorageError(f"cannot open database {redact(url)}: {exc}") from exc
            time.sleep(0.05)


# A PostgreSQL server that vanishes without closing the connection (a cut network, a host gone)
# would leave a query waiting for TCP's own timeout, a quarter of an hour: these bound every
# connection attempt to 10 s and notice a silent server within about a minute, so the pass
# fails, the mailbox lock goes with the connection, and another daemon takes over.
SERVER_OPTIONS = {
    "connect_timeout": 10,
    "keepalives": 1,
    "keepalives_idle": 30,
    "keepalives_interval": 10,
    "keepalives_count": 3,
    "tcp_user_timeout": 60_000,  # ms: data sent and not acknowledged
}


def server_options(url: str) -> dict[str, int]:
    """``SERVER_OPTIONS`` except those the URL sets itself (``?connect_timeout=5``)."""
    query = url.partition("?")[2]
    return {k: v for k, v in SERVER_OPTIONS.items() if f"{k}=" not in query}


def redact(url: str) -> str:
    """A database URL with its password hidden, fit for a log line."""
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        creds, host = rest.rsplit("@", 1)
        user = creds.split(":", 1)[0]
        return f"{scheme}://{user}:***@{host}"
    return url


class WriteLock:
    """Writers take turns here rather than in SQLite's busy handler.

    SQLite's handler sleeps in growing steps (up to 100 ms) while another connection writes, so
    the sending process would lose tens of milliseconds behind every group the ingest commits.
    Threads of one process queue on an RLock; processes (the daemon, its sending process, CLI
    commands) on flock(2) of ``<database>.lock``, polled every half millisecond up to the busy
    timeout. The file is opened once per process: a forked child must not share its parent's
    open file, or the two would hold one lock between them. PostgreSQL needs none of this.
    """

    POLL_SECONDS = 0.0005

    def __init__(self, path: Path | None, timeout: float) -> None:
        self.path = path
        self.timeout = timeout
        self._threads = threading.RLock()
        self._depth = 0
        self._fd: int | None = None
        self._pid = 0

    @contextmanager
    def held(self, wait: bool = True) -> Iterator[None]:
        """Hold the write lock (re-entrant within a thread); LockBusy if taken and not ``wait``."""
        if not self._threads.acquire(blocking=wait):
            raise LockBusy
        try:
            self._depth += 1
            try:
                if self._depth == 1:
                    self._acquire(wait)
                try:
                    yield
                finally:
                    if self._depth == 1:
                        self._release()
            finally:
                self._depth -= 1
        finally:
            self._threads.release()

    def _acquire(self, wait: bool) -> None:
        if self.path is None:
            return
        if self._pid != os.getpid():
            try:
                self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            except OSError as exc:
                raise StorageError(f"cannot open lock file {self.path}: {exc}") from exc
            self._pid = os.getpid()
        assert self._fd is not None
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                if not wait:
                    raise LockBusy from None
                if time.monotonic() > deadline:
                    raise StorageError(
                        f"database: still locked by another writer after {self.timeout:.0f} s"
                    ) from None
                time.sleep(self.POLL_SECONDS)

    def _release(self) -> None:
        if self._fd is not None and self._pid == os.getpid():
            fcntl.flock(self._fd, fcntl.LOCK_UN)


_LOCKS: weakref.WeakKeyDictionary[pw.Database, WriteLock] = weakref.WeakKeyDictionary()


def sqlite_file(db: pw.Database) -> Path | None:
    """The database file, for a file-backed SQLite database."""
    lock = _LOCKS.get(db)
    return lock.path.with_suffix("") if lock is not None and lock.path is not None else None


@contextmanager
def transaction(db: pw.Database, wait: bool = True) -> Iterator[None]:
    """One write transaction; database trouble becomes a StorageError (retry later).

    ``wait=False``: raise LockBusy at once if another writer is at work.
    """
    lock = _LOCKS.get(db)
    if lock is None:
        lock = _LOCKS.setdefault(db, WriteLock(None, 0))
    try:
        with lock.held(wait), db.atomic():
            yield
    except (pw.OperationalError, pw.InterfaceError) as exc:
        drop_broken(db)
        raise DatabaseError(f"database: {exc}") from exc


def ping(db: pw.Database) -> None:
    """Before a pass: drop a kept PostgreSQL connection that no longer answers (the server
    restarted while it sat idle), so the pass opens a fresh one instead of failing once on the
    stale one and reporting an outage that is already over. One round trip; SQLite has no
    server to lose."""
    state = db._state  # type: ignore[attr-defined]
    if isinstance(db, pw.SqliteDatabase) or state.conn is None or state.transactions:
        return
    try:
        with state.conn.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception:  # any failure of the old connection: a new one is opened when needed
        state.reset()


def drop_broken(db: pw.Database) -> None:
    """Forget a connection its server dropped (PostgreSQL restarted, a network cut), so the
    next query opens a new one instead of failing on the dead one for ever."""
    state = db._state  # type: ignore[attr-defined]
    if getattr(state.conn, "closed", 0):  # psycopg2: nonzero once the connection is gone
        state.reset()


def claim(query: Any) -> Any:
    """``query`` with its rows locked for this transaction, skipping rows another holds
    (``FOR UPDATE SKIP LOCKED``) on PostgreSQL, where several daemons run the same job at once;
    SQLite's write lock already lets one transaction at a time in."""
    if isinstance(database_proxy.obj, pw.PostgresqlDatabase):
        return query.for_update(skip_locked=True)
    return query
