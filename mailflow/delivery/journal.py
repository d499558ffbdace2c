"""Sent marks on their way to the database: what the SMTP server accepted, written down at once.

Between the server's "250 OK" and the row's "sent" mark lies the window in which a crash repeats
a mail. Marking each mail in a database transaction of its own keeps that window to one mail,
but with SQLite it makes the sender queue for the single write lock after every mail, behind
ingest groups that hold it for tens of milliseconds, and delivery falls behind. So the sender
appends each mark to a journal file (one ``write(2)``; no fsync: it survives a crash of the
process, as SQLite's WAL with synchronous=NORMAL does, not a power cut) and moves the marks into
the database whenever the write lock is free, and in any case before it reads which rows are
due. The window stays one mail.

Each process appends to its own file, ``<database>.sent.<pid>``, so no two writers share one.
Moving marks in is idempotent (only rows still pending are marked), so anybody may move in
anybody's marks; a file whose process is gone is removed once its marks are in.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Mark:
    outbox_id: int
    at: dt.datetime
    refused: tuple[str, ...] = ()


class SentJournal:
    """The journal files next to the database ``base``."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self._fd: int | None = None
        self._pid = 0
        self._own: list[Mark] = []  # written by this process and not yet in the database

    @property
    def own(self) -> list[Mark]:
        """Marks this process wrote that are not in the database yet."""
        return list(self._own) if self._pid == os.getpid() else []

    def record(self, mark: Mark) -> None:
        """Write one mark down (before anything else happens to its row)."""
        if self._pid != os.getpid():  # a fork must not append to its parent's file
            flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC
            self._fd = os.open(self._path(os.getpid()), flags, 0o600)
            self._pid = os.getpid()
            self._own = []
        assert self._fd is not None
        line = {"id": mark.outbox_id, "at": mark.at.isoformat(), "refused": list(mark.refused)}
        os.write(self._fd, (json.dumps(line) + "\n").encode())
        self._own.append(mark)

    def foreign(self) -> bool:
        """Whether journal files of other processes exist (their marks must go in first)."""
        mine = self._path(os.getpid()).name
        return any(p.name != mine for p in self.base.parent.glob(f"{self.base.name}.sent.*"))

    def everyone(self) -> tuple[list[Path], list[Mark]]:
        """Every journal file and every complete mark in them (a torn last line is skipped)."""
        paths = sorted(self.base.parent.glob(f"{self.base.name}.sent.*"))
        marks: list[Mark] = []
        for path in paths:
            try:
                text = path.read_text("utf-8", errors="replace")
            except FileNotFoundError:
                continue
            for line in text.split("\n")[:-1]:  # the part after the last newline is torn
                try:
                    item = json.loads(line)
                    marks.append(
                        Mark(
                            int(item["id"]),
                            dt.datetime.fromisoformat(item["at"]),
                            tuple(item.get("refused", ())),
                        )
                    )
                except (ValueError, KeyError, TypeError):
                    log.warning("%s: skipping an unreadable line", path)
        return paths, marks

    def settled(self, paths: list[Path] | None = None) -> None:
        """The marks read are in the database: empty our file, remove those of dead processes."""
        if self._pid == os.getpid() and self._fd is not None:
            os.ftruncate(self._fd, 0)
            self._own = []
        for path in paths or ():
            pid = _pid_of(path)
            if pid is not None and pid != os.getpid() and not _alive(pid):
                path.unlink(missing_ok=True)

    def _path(self, pid: int) -> Path:
        return self.base.with_name(f"{self.base.name}.sent.{pid}")


def _pid_of(path: Path) -> int | None:
    suffix = path.name.rsplit(".", 1)[-1]
    return int(suffix) if suffix.isdigit() else None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
