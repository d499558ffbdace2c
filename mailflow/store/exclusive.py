"""Work only one process may do at a time on one database: reading a mailbox, delivering the
outbox.

Two processes reading one mailbox race each other's cursor; two delivering one outbox send the
same mails twice (an operator gets there easily: the daemon under systemd plus ``run --once``
from cron, or a second instance started by mistake). So each such duty has a lock, taken
without waiting: a process that finds it held does its other work and says so in its log.

On SQLite the lock is ``flock(2)`` on a file beside the database (``<database>.<duty>.lock``):
the kernel drops it the moment its holder dies, so a daemon restarted after a crash resumes at
once, not after a lease runs out. The file is opened per process (after a fork too), because a
child sharing its parent's open file would share its lock. PostgreSQL deployments (several
hosts) need a lock the server holds instead; until that is built (issue 13), a PostgreSQL
database gets no lock here and one daemon per database is the rule (README).
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
from pathlib import Path

log = logging.getLogger(__name__)


class Exclusive:
    """A duty's lock: ``try_take`` without waiting, ``release`` when the duty is done."""

    def __init__(self, path: Path | None, duty: str) -> None:
        self.path = path
        self.duty = duty
        self._fd: int | None = None
        self._pid = 0
        self._told = False

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
            if not self._told:
                log.info("%s: another mailflow process is at it; this one leaves it", self.duty)
                self._told = True
            return False
        self._told = False
        os.ftruncate(self._fd, 0)
        os.write(self._fd, f"{os.getpid()}\n".encode())
        return True

    def release(self) -> None:
        if self._fd is not None and self._pid == os.getpid():
            fcntl.flock(self._fd, fcntl.LOCK_UN)


def exclusive(database_file: Path | None, duty: str, identity: str = "") -> Exclusive:
    """The lock of ``duty`` (and, for a mailbox, which one) beside an SQLite database file."""
    if database_file is None:
        return Exclusive(None, duty)
    suffix = hashlib.sha256(identity.encode()).hexdigest()[:12] if identity else ""
    name = f"{database_file.name}.{duty.replace(' ', '-')}{'.' + suffix if suffix else ''}.lock"
    return Exclusive(database_file.with_name(name), duty)
