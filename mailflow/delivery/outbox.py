"""The transactional outbox: queue a mail with the change that caused it; deliver it later.

``queue`` runs inside the caller's transaction, so a mail exists exactly when its cause does.
``flush`` delivers due rows one by one and marks each sent right after the server accepted it,
in its own small transaction or, with SQLite, in the sent journal first (``journal``): a crash
between the two can repeat that one mail, never lose one.
Failures back off exponentially (with jitter, so a recovered server is not hit by every row at
once) up to ``max_attempts``, then the row is marked failed with an event on its ticket.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import peewee as pw

from mailflow.delivery import large, mime
from mailflow.delivery.claiming import claimed, due, pending
from mailflow.delivery.journal import Mark, SentJournal
from mailflow.delivery.mime import OutgoingMail
from mailflow.delivery.transports import Transport
from mailflow.errors import (
    AddressError,
    LockBusy,
    PermanentDeliveryError,
    ServerUnreachable,
    SmtpAuthError,
    TransientDeliveryError,
)
from mailflow.mail import addresses
from mailflow.store.blobs import BlobStore
from mailflow.store.database import transaction
from mailflow.store.models import Message, Outbox, Ticket, utc
from mailflow.store.rows import add_event, count_since, insert_row

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int
    base_seconds: int
    max_seconds: int

    def delay(self, attempts: int, jitter: float) -> dt.timedelta:
        """Wait before attempt ``attempts + 1``; ``jitter`` in [0, 1) spreads retries."""
        seconds = min(self.max_seconds, self.base_seconds * 2 ** max(0, attempts - 1))
        return dt.timedelta(seconds=seconds * (0.75 + 0.5 * jitter))


def queue(
    mail: OutgoingMail,
    kind: str,
    ticket: Ticket | None,
    now: dt.datetime,
    token: str,
    store: BlobStore | None = None,
) -> int:
    """Record ``mail`` as an outgoing message and an outbox row; call inside a transaction.

    With a ``store``, a large mail (a forwarded file) goes there instead of into the row
    (``large``).

    Every recipient passes ``addresses.normalize`` here, whoever wrote it (a row stored before
    this check existed included). An unfit one is left out and said so; when none is left the
    row is written as failed, with the reason and a ``mail_failed`` event, so the change that
    caused the mail still commits and nothing waits to be sent that never can be.
    Returns the id of the outgoing message.
    """
    problems = [why for a in (*mail.to, *mail.cc) if (why := _unfit(a.email))]
    if problems:
        mail = dataclasses.replace(
            mail,
            to=tuple(a for a in mail.to if not _unfit(a.email)),
            cc=tuple(a for a in mail.cc if not _unfit(a.email)),
        )
    message_id = mime.make_message_id(
        token, mail.sender.email.rsplit("@", 1)[1], mail.ticket_number
    )
    raw, digest, size = large.keep(mime.pieces(mail, message_id, now) if mail.to else [], store)
    stored = _message_row(mail, message_id, size, ticket, now)
    recipients = [envelope_address(a.email) for a in (*mail.to, *mail.cc)]
    row = insert_row(
        Outbox,
        message=stored,
        ticket=ticket,
        kind=kind,
        mail_from=envelope_address(mail.sender.email),
        recipients=recipients,
        rcpt=mail.to[0].email if mail.to else "",
        mime=raw,
        mime_sha256=digest,
        next_attempt_at=utc(now),
        created_at=utc(now),
        status="pending" if mail.to else "failed",
        last_error="; ".join(problems),
    )
    if problems:
        _note_refused(row, kind, ticket, recipients, problems, bool(mail.to), now)
    return stored


def _message_row(
    mail: OutgoingMail, message_id: str, size: int, ticket: Ticket | None, now: dt.datetime
) -> int:
    """The outgoing mail as a message of its ticket (what ``ticket show`` lists)."""
    return insert_row(
        Message,
        ticket=ticket,
        direction="out",
        message_id=message_id,
        in_reply_to=mail.in_reply_to,
        references=list(mail.references),
        from_addr=mail.sender.email,
        from_name=mail.sender.name,
        to=[a.email for a in mail.to],
        cc=[a.email for a in mail.cc],
        subject=mail.subject,
        text=mail.text,
        html=mail.html,
        created_at=utc(now),
        raw_size=size,
    )


def _note_refused(
    row: int,
    kind: str,
    ticket: Ticket | None,
    recipients: list[str],
    problems: list[str],
    sending: bool,
    now: dt.datetime,
) -> None:
    error = "; ".join(problems)
    if ticket is not None:
        event = "recipients_refused" if sending else "mail_failed"
        add_event(ticket, now, "system", event, outbox=row, mail=kind, to=recipients, error=error)
    log.error("%s mail #%d: %s", kind, row, error)


def envelope_address(address: str) -> str:
    """The SMTP envelope spelling: A-label domain where the local part allows it."""
    return addresses.ascii_form(address) or address


def _unfit(address: str) -> str:
    try:
        addresses.normalize(address)
    except AddressError as exc:
        return f"not sent to {address!r}: {exc}"
    return ""


@dataclass
class FlushResult:
    sent: int = 0
    deferred: int = 0
    failed: int = 0
    # Set when the server could not be reached at all: the caller backs off as a whole.
    unreachable: str = ""


def recent_count(address: str, since: dt.datetime) -> int:
    """Automatic mails queued for ``address`` since ``since`` (the loop limit counts these)."""
    return count_since(Outbox.rcpt, address, Outbox.created_at, since)


def pending_count() -> int:
    """Rows still waiting to be sent."""
    return int(Outbox.select().where(Outbox.status == "pending").count())


def flush(
    db: pw.Database,
    transport: Transport,
    now: dt.datetime,
    policy: RetryPolicy,
    jitter: Callable[[], float],
    limit: int = 500,
    journal: SentJournal | None = None,
    last: bool = True,
    store: BlobStore | None = None,
) -> FlushResult:
    """Deliver due outbox rows; stop at the first sign that the server is unreachable.

    With a ``journal``, sent marks reach the database whenever the write lock is free instead
    of one transaction per mail; rows marked in a journal are never sent again. ``last=False``
    (more calls follow soon) keeps the connection and leaves marks the lock did not let in
    for later; then the caller ends with ``end_delivery``.
    """
    result = FlushResult()
    skip: set[int] = set()
    if journal is not None:
        if last or journal.foreign():
            settle(db, journal)  # marks of other (or dead) processes first
        skip = {mark.outbox_id for mark in journal.own}
    if isinstance(db, pw.PostgresqlDatabase):
        rows: Iterator[Outbox] = claimed(db, now, limit)
    else:
        due_ids = [
            r.id
            for r in Outbox.select(Outbox.id)
            .where(due(now))
            .order_by(Outbox.next_attempt_at, Outbox.id)
            .limit(limit + len(skip))
            if r.id not in skip
        ][:limit]
        rows = pending(due_ids)
    try:
        for row in rows:
            outcome = _deliver(db, transport, row, now, policy, jitter, journal, store)
            if outcome.startswith("unreachable:"):
                result.unreachable = outcome.removeprefix("unreachable:")
                break
            setattr(result, outcome, getattr(result, outcome) + 1)
    finally:
        if last or result.unreachable:
            end_delivery(db, transport, journal)
        elif journal is not None:
            settle(db, journal, wait=False)
    return result


def _deliver(
    db: pw.Database,
    transport: Transport,
    row: Outbox,
    now: dt.datetime,
    policy: RetryPolicy,
    jitter: Callable[[], float],
    journal: SentJournal | None,
    store: BlobStore | None,
) -> str:
    """Send one row: ``sent``, ``deferred``, ``failed`` or ``unreachable:<reason>``."""
    unfit = [why for a in (row.mail_from, *row.recipients) if (why := _unfit(a))]
    if unfit or not row.recipients:
        _fail(db, row, now, "; ".join(unfit) or "no recipient")
        return "failed"
    try:
        refused = transport.send(large.mime_of(row, store), row.mail_from, list(row.recipients))
    except (SmtpAuthError, ServerUnreachable) as exc:
        # Not this mail's fault: it keeps its place and its attempts; the caller backs off
        # from the server as a whole and tries again when that backoff ends.
        with transaction(db):
            Outbox.update(last_error=str(exc)).where(Outbox.id == row.id).execute()
        return f"unreachable:{exc}"
    except PermanentDeliveryError as exc:
        _fail(db, row, now, str(exc))
        return "failed"
    except TransientDeliveryError as exc:
        return "deferred" if _defer(db, row, now, policy, jitter, str(exc)) else "failed"
    except Exception as exc:
        # Whatever else one row raises (a value no library takes, a bug) is that row's
        # failure, said once with its reason; it must never stop the mails behind it.
        log.exception("%s mail #%d could not be sent", row.kind, row.id)
        transport.close()
        _fail(db, row, now, f"cannot be sent: {type(exc).__name__}: {exc}")
        return "failed"
    _note_sent(db, journal, Mark(row.id, now, tuple(refused)))
    log.info("sent %s mail #%d to %s", row.kind, row.id, ", ".join(row.recipients))
    return "sent"


def end_delivery(db: pw.Database, transport: Transport, journal: SentJournal | None) -> None:
    """Hang up on the server and wait to move every sent mark into the database."""
    transport.close()
    if journal is not None:
        settle(db, journal)


# Sent marks are moved from the journal into the database this many at a time (and at the end
# of each pass): one short transaction for many mails, and few turns at the write lock.
SETTLE_EVERY = 50


def _note_sent(db: pw.Database, journal: SentJournal | None, mark: Mark) -> None:
    if journal is None:
        _sent(db, [mark])
        return
    journal.record(mark)
    if len(journal.own) >= SETTLE_EVERY:
        settle(db, journal, wait=False)


def settle(db: pw.Database, journal: SentJournal, wait: bool = True) -> None:
    """Move sent marks from the journal into the database.

    ``wait=False``: only this process's marks, and only if no other writer is at work.
    """
    if wait:
        paths, marks = journal.everyone()
    else:
        paths, marks = [], journal.own
    if marks:
        try:
            _sent(db, marks, wait=wait)
        except LockBusy:
            return
    journal.settled(paths)


def _sent(db: pw.Database, marks: list[Mark], wait: bool = True) -> None:
    """Mark rows sent (those still pending: marking twice is harmless) with an event each."""
    with transaction(db, wait=wait):
        rows = {
            r.id: r
            for r in Outbox.select(Outbox.id, Outbox.ticket, Outbox.kind, Outbox.recipients).where(
                Outbox.id.in_([m.outbox_id for m in marks]) & (Outbox.status == "pending")
            )
        }
        for mark in marks:
            row = rows.pop(mark.outbox_id, None)
            if row is None:
                continue
            Outbox.update(
                status="sent",
                sent_at=utc(mark.at),
                attempts=Outbox.attempts + 1,
                last_error="; ".join(mark.refused),
            ).where(Outbox.id == row.id).execute()
            if row.ticket_id is not None:
                add_event(
                    row.ticket_id,
                    mark.at,
                    "system",
                    "mail_sent",
                    outbox=row.id,
                    mail=row.kind,
                    to=row.recipients,
                    refused=list(mark.refused),
                )


def _defer(
    db: pw.Database,
    row: Outbox,
    now: dt.datetime,
    policy: RetryPolicy,
    jitter: Callable[[], float],
    error: str,
    count_attempt: bool = True,
) -> bool:
    """Schedule a retry; False when the attempts are used up and the row failed instead."""
    attempts = row.attempts + (1 if count_attempt else 0)
    if attempts >= policy.max_attempts:
        _fail(db, row, now, f"gave up after {attempts} attempts: {error}")
        return False
    retry_at = now + policy.delay(attempts, jitter())
    with transaction(db):
        Outbox.update(attempts=attempts, last_error=error, next_attempt_at=utc(retry_at)).where(
            Outbox.id == row.id
        ).execute()
    log.warning(
        "%s mail #%d deferred (attempt %d), retry at %s: %s",
        row.kind,
        row.id,
        attempts,
        retry_at.isoformat(timespec="seconds"),
        error,
    )
    return True


def _fail(db: pw.Database, row: Outbox, now: dt.datetime, error: str) -> None:
    with transaction(db):
        Outbox.update(status="failed", attempts=Outbox.attempts + 1, last_error=error).where(
            Outbox.id == row.id
        ).execute()
        if row.ticket_id is not None:
            add_event(
                row.ticket_id,
                now,
                "system",
                "mail_failed",
                outbox=row.id,
                mail=row.kind,
                to=row.recipients,
                error=error,
            )
    log.error(
        "%s mail #%d to %s failed for good: %s", row.kind, row.id, ", ".join(row.recipients), error
    )
