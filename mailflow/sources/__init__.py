"""Mail sources: where raw mail comes from, and how it is told "done".

A source yields ``RawMail`` and is told ``ack(source_ref)`` only after the transaction that handled
the mail has committed. The ``source_ref`` is the mail's position (IMAP UIDVALIDITY + UID, Maildir
key), recorded as a receipt in that same transaction: whatever instant the process dies at, a
mail is either not yet recorded (and will be fetched again) or recorded (and will only be acked).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class RawMail:
    data: bytes
    source_ref: str | None
    received_at: dt.datetime | None = None
    label: str = ""  # for log lines: "uid 42", "maildir 1732...", "stdin"


class Mailbox(Protocol):
    """Yield new raw mails; be told when one has been handled."""

    def fetch(self, now: dt.datetime) -> Iterator[RawMail]:
        """New mails, oldest first."""
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
