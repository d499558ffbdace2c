"""Mail sources: where raw mail comes from, and how it is told "done".

A source plans which mails wait (in batches), lends a ``Reader`` that turns a batch into
``RawMail`` (in whichever process parses them), and is told ``ack(source_ref)`` only after the
transaction that handled the mail has committed. The ``source_ref`` is the mail's position
(IMAP UIDVALIDITY + UID, Maildir key), recorded as a receipt in that same transaction: whatever
instant the process dies at, a mail is either not yet recorded (and will be read again) or
recorded (and will only be acked).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class RawMail:
    data: bytes
    source_ref: str | None
    received_at: dt.datetime | None = None
    label: str = ""  # for log lines: "uid 42", "maildir 1732...", "stdin"


# A mail the mailbox has waiting: its source_ref and where the reader finds it (IMAP: the UID;
# Maildir: the file).
Planned = tuple[str, str]


class Reader(Protocol):
    """Reads planned mail. Picklable, so that a parse worker can read for itself: the bytes
    then go from the server straight to the process that parses them."""

    def read(self, batch: Sequence[Planned]) -> list[RawMail]:
        """The mails of ``batch`` in order; one that vanished meanwhile is left out."""
        ...


class Mailbox(Protocol):
    """Say which mails wait, lend a reader for them, be told when one has been handled."""

    def plan(self, now: dt.datetime) -> list[list[Planned]]:
        """The mails to handle now, oldest first, in batches worth one read each."""
        ...

    def reader(self) -> Reader:
        """A reader for what ``plan`` returned (it opens its own connection)."""
        ...

    def ack(self, source_refs: Sequence[str], quarantined: Sequence[str] = ()) -> None:
        """Mark these mails handled (flag, move); a vanished mail is no error.

        Those also in ``quarantined`` go to the quarantine folder when one is configured.
        """
        ...

    def owns(self, source_ref: str) -> bool:
        """Whether ``source_ref`` belongs to this mailbox."""
        ...

    def close(self) -> None:
        """Drop any connection."""
        ...


# A batch is read in one go and held in memory until its mails are recorded.
BATCH_COUNT = 50
BATCH_BYTES = 16 * 1024 * 1024


def batched(items: Sequence[T], sizes: Sequence[int]) -> list[list[T]]:
    """``items`` in order, cut into batches of at most BATCH_COUNT and BATCH_BYTES (a single
    larger item makes a batch of its own)."""
    batches: list[list[T]] = []
    batch: list[T] = []
    total = 0
    for item, size in zip(items, sizes, strict=True):
        if batch and (total + size > BATCH_BYTES or len(batch) >= BATCH_COUNT):
            batches.append(batch)
            batch, total = [], 0
        batch.append(item)
        total += size
    if batch:
        batches.append(batch)
    return batches


def fetch(mailbox: Mailbox, now: dt.datetime) -> Iterator[RawMail]:
    """Every mail ``plan`` names, read in this process."""
    reader = mailbox.reader()
    for batch in mailbox.plan(now):
        yield from reader.read(batch)


@dataclass(frozen=True)
class Candidate:
    """A mail found in the mailbox before the backlog policy decides on it."""

    position: str
    arrived: dt.datetime
    seen: bool


def first_run_selection(
    candidates: list[Candidate], policy: str, since: dt.datetime
) -> list[Candidate]:
    """The mails a first run takes from a mailbox that already holds mail.

    ``unseen``: unread mails that arrived on or after ``since``; ``all``: every mail since then;
    ``new``: none (only what arrives from now on).
    """
    if policy == "new":
        return []
    return [c for c in candidates if c.arrived >= since and (policy == "all" or not c.seen)]


def default_since(now: dt.datetime, configured: dt.date | None, tz: dt.tzinfo) -> dt.datetime:
    """The first-run cut-off: the configured date (support time zone), else seven days back."""
    if configured is not None:
        return dt.datetime.combine(configured, dt.time(), tzinfo=tz)
    return now - dt.timedelta(days=7)
