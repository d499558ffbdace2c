"""A local Maildir as the mail source (the embedded default, and what an MTA delivers to).

Handled mail is marked seen the Maildir way (moved from ``new/`` to ``cur/`` with the ``S`` flag)
or, when ``processed_folder`` is set, moved into that Maildir++ sub-folder (``.Processed``). We
rename files ourselves rather than go through ``mailbox.Maildir``, which rewrites a message to
change its flags.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
from collections.abc import Sequence
from pathlib import Path

from mailflow.errors import MailboxError
from mailflow.sources import (
    Candidate,
    Planned,
    RawMail,
    batched,
    default_since,
    first_run_selection,
)
from mailflow.store import cursors
from mailflow.store.models import utc

log = logging.getLogger(__name__)


class MaildirReader:
    """Reads planned mails from their files (a file taken away meanwhile is skipped)."""

    def read(self, batch: Sequence[Planned]) -> list[RawMail]:
        mails = []
        for ref, where in batch:
            file = Path(where)
            try:
                data = file.read_bytes()
                arrived = dt.datetime.fromtimestamp(file.stat().st_mtime, dt.UTC)
            except FileNotFoundError:
                continue  # taken away meanwhile (another reader, an operator)
            except OSError as exc:
                raise MailboxError(f"maildir {file}: {exc.strerror or exc}") from exc
            mails.append(RawMail(data, ref, arrived, f"maildir {ref.rsplit(':', 1)[-1]}"))
        return mails


class MaildirSource:
    """Reads ``new/`` and ``cur/`` of a Maildir; remembers where the first run started."""

    def __init__(
        self,
        path: Path,
        processed_folder: str,
        quarantine_folder: str,
        first_run: str,
        first_run_since: dt.date | None,
        tz: dt.tzinfo,
    ) -> None:
        self.path = path
        self.processed_folder = processed_folder
        self.quarantine_folder = quarantine_folder
        self.first_run = first_run
        self.first_run_since = first_run_since
        self.tz = tz
        self.key = f"maildir:{path.resolve()}"
        self._files: dict[str, Path] = {}
        self._sizes: dict[str, int] = {}

    def owns(self, source_ref: str) -> bool:
        return source_ref.startswith(self.key + ":")

    def plan(self, now: dt.datetime) -> list[list[Planned]]:
        try:
            for sub in ("new", "cur", "tmp"):
                (self.path / sub).mkdir(parents=True, exist_ok=True)
            found = self._scan()
        except OSError as exc:
            raise MailboxError(f"maildir {self.path}: {exc.strerror or exc}") from exc
        keys = [key for key in self._select(found, now) if key in self._files]
        planned = [(f"{self.key}:{key}", str(self._files[key])) for key in keys]
        return batched(planned, [self._sizes.get(key, 0) for key in keys])

    def reader(self) -> MaildirReader:
        return MaildirReader()

    def _scan(self) -> list[Candidate]:
        self._files = {}
        self._sizes = {}
        found: list[Candidate] = []
        for sub in ("new", "cur"):
            for entry in os.scandir(self.path / sub):
                if entry.name.startswith(".") or not entry.is_file():
                    continue
                key, _, info = entry.name.partition(":")
                flags = info[2:] if info.startswith("2,") else ""
                self._files[key] = Path(entry.path)
                stat = entry.stat()
                self._sizes[key] = stat.st_size
                arrived = dt.datetime.fromtimestamp(stat.st_mtime, dt.UTC)
                found.append(Candidate(key, arrived, "S" in flags))
        found.sort(key=lambda c: (c.arrived, c.position))
        return found

    def _select(self, found: list[Candidate], now: dt.datetime) -> list[str]:
        cursor = cursors.load(self.key)
        if cursor is None:
            since = default_since(now, self.first_run_since, self.tz)
            chosen = first_run_selection(found, self.first_run, since)
            skipped = len(found) - len(chosen)
            log.info(
                "first run on %s: %d mails present, taking %d (%s since %s), skipping %d",
                self.path,
                len(found),
                len(chosen),
                self.first_run,
                since.date(),
                skipped,
            )
            # The cut-off for "new" mail is the time of this first look (as epoch seconds).
            cursors.create(
                source=self.key,
                uidvalidity=0,
                last_uid=int(now.timestamp()),
                backlog=[c.position for c in chosen],
                updated_at=utc(now),
            )
            return [c.position for c in chosen]
        start = dt.datetime.fromtimestamp(cursor.last_uid, dt.UTC)
        backlog = set(cursor.backlog)
        positions = [
            c.position
            for c in found
            if c.position in backlog or (not c.seen and c.arrived >= start)
        ]
        if backlog and not backlog & set(self._files):
            cursor.backlog = []
            cursor.updated_at = utc(now)
            cursors.save(cursor)
        return positions

    def ack(self, source_refs: Sequence[str], quarantined: Sequence[str] = ()) -> None:
        aside = set(quarantined) if self.quarantine_folder else set()
        keys = [ref[len(self.key) + 1 :] for ref in source_refs if self.owns(ref)]
        for ref, key in zip([r for r in source_refs if self.owns(r)], keys, strict=True):
            self._ack_one(key, self.quarantine_folder if ref in aside else self.processed_folder)
        cursor = cursors.load(self.key)
        if cursor is not None and set(keys) & set(cursor.backlog):
            cursor.backlog = [k for k in cursor.backlog if k not in set(keys)]
            cursors.save(cursor)

    def _ack_one(self, key: str, folder_name: str) -> None:
        file = self._files.get(key) or self._find(key)
        if file is None:
            return
        flags = file.name.partition(":")[2][2:] if ":" in file.name else ""
        flags = "".join(sorted(set(flags) | {"S"}))
        folder = self.path / f".{folder_name}" if folder_name else self.path
        target = folder / "cur" / f"{key}:2,{flags}"
        try:
            for sub in ("new", "cur", "tmp"):
                (folder / sub).mkdir(parents=True, exist_ok=True)
            os.replace(file, target)
        except FileNotFoundError:
            return
        except OSError as exc:
            raise MailboxError(f"maildir {file}: cannot mark handled: {exc.strerror}") from exc
        self._files.pop(key, None)

    def _find(self, key: str) -> Path | None:
        for sub in ("new", "cur"):
            folder = self.path / sub
            if not folder.is_dir():
                continue
            for entry in os.scandir(folder):
                if entry.name == key or entry.name.startswith(key + ":"):
                    return Path(entry.path)
        return None

    def close(self) -> None:
        self._files = {}
