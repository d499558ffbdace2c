"""Work only one process may do at a time on one database: reading a mailbox, delivering the
outbox.

Two processes reading one mailbox race each other's cursor; two delivering one outbox send the
same mails twice (an operator gets there easily: the daemon under systemd plus ``run --once``
from cron, or a second instance started by mistake). So each such duty has a lock, taken
without waiting: a process that finds it held does its other work and says so in its log.

On SQLite the lock is ``flock(2)`` on a file beside the database (``<database>.<duty>.lock``):
the kernel drops it the moment its holder dies, so a daemon restarted after a crash resumes at
once, not after a lease runs out. The file is opened per process (after a fork too), because a
child sharing its parent's open file would share its lock.

On PostgreSQL (daemons on several hosts) the server holds it: a transaction-level advisory
lock (``pg_try_advisory_xact_lock``) taken on a connection of the lock's own and held by
keeping that transaction open for the duty. The server drops it the moment the holder's
connection goes (a crash, a killed process, a lost host once TCP notices), and, being bound
to a transaction rather than a session, it survives PgBouncer's transaction pooling, which
session-level advisory locks do not. A holder that hangs while holding it is not taken over
by a lease here: the hung process is the watchdog's to restart (issue 14), and a restart
drops the connection. The outbox needs no such lock on PostgreSQL: every daemon delivers,
each row claimed with ``FOR UPDATE SKIP LOCKED`` (``outbox``).
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
from pathlib import Path
from typing import Any

from mailflow.errors import DatabaseError
from mailflow.store.database import server_options

log = logging.getLogger(__name__)


class _Duty:
    """What both kinds of lock share: the duty's name and saying once that it is held."""

    def __init__(self, duty: str) -> None:
        self.duty = duty
        self._pid = 0
        self._told = False

    def _taken(self, taken: bool) -> bool:
        """``taken``, after saying (once per stretch of waiting) that another process is at
        the duty."""
        if not taken and not self._told:
            log.info("%s: another mailflow process is at it; this one leaves it", self.duty)
        self._told = not taken
        return taken


class Exclusive(_Duty):
    """A duty's lock: ``try_take`` without waiting, ``release`` when the duty is done."""

    def __init__(self, path: Path | None, duty: str) -> None:
        super().__init__(duty)
        self.path = path
        self._fd: int | None = None

    def try_take(self) -> bool:
        """Take the lock if nobody holds it; True when this process holds it now."""
        if self.path is None:
            return True
        if self._pid != os.getpid():  # a fork must not use its parent's descriptor
            self._fd, self._pid = None, os.getpid()
        if self._fd is None:
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return self._taken(False)
        self._taken(True)
        os.ftruncate(self._fd, 0)
        os.write(self._fd, f"{os.getpid()}\n".encode())
        return True

    def release(self) -> None:
        if self._fd is not None and self._pid == os.getpid():
            fcntl.flock(self._fd, fcntl.LOCK_UN)


class ServerLock(_Duty):
    """A duty's lock held by PostgreSQL (see the module docstring); the same interface."""

    def __init__(self, url: str, duty: str, identity: str) -> None:
        super().__init__(duty)
        self.url = url
        digest = hashlib.sha256(f"{duty}\n{identity}".encode()).digest()
        self.key = int.from_bytes(digest[:8], "big", signed=True)
        self._con: Any = None

    def try_take(self) -> bool:
        import psycopg2  # noqa: PLC0415 - only PostgreSQL deployments have it

        if self._pid != os.getpid():  # a fork must not use its parent's connection
            self._con, self._pid = None, os.getpid()
        while True:
            fresh = self._con is None or self._con.closed
            try:
                if fresh:
                    self._con = psycopg2.connect(
                        self.url,
                        application_name=f"mailflow {self.duty}",
                        **server_options(self.url),
                    )
                with self._con.cursor() as cur:
                    cur.execute("SELECT pg_try_advisory_xact_lock(%s)", (self.key,))
                    taken = bool(cur.fetchone()[0])
                break
            except psycopg2.Error as exc:
                self._con = None
                if fresh:  # the server is gone: the pass stops (and says so once)
                    raise DatabaseError(
                        f"database: cannot take the lock for {self.duty}: {exc}"
                    ) from exc
                # else a kept connection the server dropped (it restarted): once more, anew
        if not taken:
            self._con.rollback()
        return self._taken(taken)

    def release(self) -> None:
        if self._con is not None and self._pid == os.getpid() and not self._con.closed:
            try:
                self._con.rollback()  # ends the transaction: the lock goes with it
            except Exception:
                self._con = None


def exclusive(
    database_file: Path | None, duty: str, identity: str = "", url: str = ""
) -> Exclusive | ServerLock:
    """The lock of ``duty`` (and, for a mailbox, which one): beside an SQLite database file,
    or held by the PostgreSQL server at ``url``."""
    if database_file is None and url.startswith(("postgres://", "postgresql://")):
        return ServerLock(url, duty, identity)
    if database_file is None:
        return Exclusive(None, duty)
    suffix = hashlib.sha256(identity.encode()).hexdigest()[:12] if identity else ""
    name = f"{database_file.name}.{duty.replace(' ', '-')}{'.' + suffix if suffix else ''}.lock"
    return Exclusive(database_file.with_name(name), duty)
