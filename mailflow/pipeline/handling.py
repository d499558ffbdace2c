"""Apply routing decisions: one transaction per group of mails, one savepoint per mail.

A mail's message, attachments, ticket change, events, outbox rows and source receipt are written
together or not at all (DESIGN.md invariants 1-3): a mail that fails rolls back only its
savepoint and is quarantined in its place. Blobs (raw mail, attachment bytes) are written to the
store before the transaction, so the transaction only refers to bytes already on disk. What a
new ticket or a follow-up means for the support process is ``process.intake`` and
``process.followup``; this module routes, records receipts and sets aside what cannot be read.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import peewee as pw

from mailflow.config import Config, MailboxConfig
from mailflow.errors import StorageError
from mailflow.mail.attachments import Limits
from mailflow.mail.parsing import InboundMail
from mailflow.pipeline.lookups import lookups
from mailflow.pipeline.preparing import Prepared, prepare_all
from mailflow.pipeline.routing import Decision, route
from mailflow.process import followup, intake
from mailflow.process.closing import closed_beyond_window
from mailflow.process.records import store_inbound
from mailflow.services import MB, Services
from mailflow.sources import RawMail
from mailflow.store.database import transaction
from mailflow.store.models import Message, Quarantine, Receipt, Ticket, Undeliverable, utc
from mailflow.store.rows import add_event, insert_row

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Outcome:
    action: str  # created | followup | duplicate | quarantined | already
    ticket_number: str | None
    sender: str
    detail: str = ""


def handle(
    raw: RawMail,
    now: dt.datetime,
    services: Services,
    any_size: bool = False,
    desk: MailboxConfig | None = None,
) -> Outcome:
    """Take one raw mail all the way to the database (and its outbox rows).

    ``any_size``: parse it however big (an operator retrying a mail set aside for its size).
    """
    limits = attachment_limits(services.config)
    if any_size:
        limits = dataclasses.replace(limits, max_mail=len(raw.data))
    prepared = prepare_all([raw], services.store, limits)
    return handle_prepared(prepared, now, services, desk=desk)[0]


def attachment_limits(config: Config) -> Limits:
    """The configured size limits, in bytes."""
    limits = config.limits
    return Limits(
        limits.max_attachment_mb * MB,
        limits.max_attachments_total_mb * MB,
        limits.max_attachments,
        limits.max_mail_mb * MB,
    )


def handle_prepared(
    prepared: Sequence[Prepared],
    now: dt.datetime,
    services: Services,
    should_stop: Callable[[], bool] = lambda: False,
    also: Callable[[], None] = lambda: None,
    desk: MailboxConfig | None = None,
) -> list[Outcome]:
    """Handle several prepared mails in one transaction, each in its own savepoint.

    Group commit: parsing and writing blobs happened before, outside the transaction, and the
    blobs are durable; one short write transaction records everything. One commit (one fsync)
    for the group instead of one per mail; a mail that fails rolls back only its savepoint and
    is quarantined in its place, so it never takes the others with it. Database trouble is not
    a mail's fault: it aborts the group with StorageError and the mails stay in the mailbox for
    the next try. ``should_stop`` is asked after each mail, so a stop request finishes the mail
    in hand and commits what was done. ``also`` adds the caller's own writes to the transaction.
    ``desk``: the mailbox they came from (its address and group go on new tickets).
    """
    outcomes: list[Outcome] = []
    with transaction(services.db):
        also()
        refs = [item.raw.source_ref for item in prepared if item.raw.source_ref]
        handled = (
            {
                r.source_ref
                for r in Receipt.select(Receipt.source_ref).where(Receipt.source_ref.in_(refs))
            }
            if refs
            else set()
        )
        for item in prepared:
            if item.raw.source_ref in handled:
                outcomes.append(
                    Outcome(
                        "already", None, "", "handled before; only the mailbox flag was missing"
                    )
                )
            else:
                outcomes.append(_handle_in_savepoint(item, now, services, desk))
            if should_stop():
                break
    return outcomes


def _handle_in_savepoint(
    item: Prepared, now: dt.datetime, services: Services, desk: MailboxConfig | None
) -> Outcome:
    db = services.db
    raw = item.raw
    try:
        with db.atomic():
            return _apply(item, now, services, desk)
    except (StorageError, pw.OperationalError, pw.InterfaceError):
        raise
    except pw.IntegrityError:
        # A concurrent delivery of the same message won the race for its dedupe key.
        mail = item.mail
        if mail is not None:
            with db.atomic():
                if Message.select().where(Message.dedupe_key == mail.dedupe_key).exists():
                    _receipt(raw, "duplicate", None, now)
                    sender = mail.sender.email if mail.sender else ""
                    return Outcome("duplicate", None, sender, "stored concurrently")
        raise
    except Exception as exc:
        log.exception("handling %s failed; quarantining it", raw.label or raw.source_ref)
        with db.atomic():
            return _quarantine_in_tx(item, f"{type(exc).__name__}: {exc}", now, services)


def _apply(
    item: Prepared, now: dt.datetime, services: Services, desk: MailboxConfig | None
) -> Outcome:
    raw, mail = item.raw, item.mail
    if mail is None:
        return _quarantine_in_tx(item, item.error, now, services)
    support = services.config.support
    decision = route(
        mail,
        support.ticket_prefix,
        services.config.own_addresses,
        lookups(support.domain, services.config),
    )
    if decision.action == "quarantine":
        return _quarantine_in_tx(item, decision.reason, now, services)
    sender = mail.sender.email if mail.sender else ""
    if decision.action == "duplicate":
        _receipt(raw, "duplicate", None, now)
        return Outcome("duplicate", None, sender, decision.reason)
    if decision.action in ("own", "automatic"):
        return _automatic(mail, raw, decision, now)
    if decision.action == "followup":
        number = str(decision.ticket_number)
        stale = closed_beyond_window(number, now, services.config)
        if not stale:
            ticket, stored = followup.add(
                item, mail, number, decision.reason, decision.verdict, now, services
            )
            return _done(item, "followup", ticket, stored, mail, decision.reason, now)
        decision = Decision("new", None, stale, decision.verdict)
    ticket, stored = intake.create(
        item, mail, decision.reason, decision.verdict, now, services, desk
    )
    return _done(item, "created", ticket, stored, mail, decision.reason, now)


def _done(
    item: Prepared,
    action: str,
    ticket: Ticket,
    stored: int,
    mail: InboundMail,
    reason: str,
    now: dt.datetime,
) -> Outcome:
    _receipt(item.raw, action, stored, now)
    return Outcome(action, ticket.number, mail.sender.email if mail.sender else "", reason)


def _automatic(mail: InboundMail, raw: RawMail, decision: Decision, now: dt.datetime) -> Outcome:
    """Keep an automatic mail for the record; note it on its ticket; never answer it."""
    sender = mail.sender.email if mail.sender else ""
    kind = decision.verdict.kind
    ticket = (
        Ticket.get_or_none(Ticket.number == decision.ticket_number)
        if decision.ticket_number
        else None
    )
    stored = store_inbound(ticket, mail, raw.source_ref, now, kind=kind)
    for address in mail.bounced:
        _mark_undeliverable(address, ticket, now, mail.subject)
    if ticket is not None:
        add_event(
            ticket,
            now,
            sender or "unknown",
            kind,
            message=stored,
            subject=mail.subject,
            reason=decision.verdict.reason,
            undeliverable=list(mail.bounced),
        )
    _receipt(raw, kind, stored, now)
    where = f" on {ticket.number}" if ticket else f" ({decision.reason})"
    return Outcome(
        kind,
        ticket.number if ticket else None,
        sender,
        f"{decision.verdict.reason}; recorded{where}",
    )


def _mark_undeliverable(address: str, ticket: Ticket | None, now: dt.datetime, reason: str) -> None:
    row = Undeliverable.get_or_none(Undeliverable.address == address)
    if row is None:
        insert_row(
            Undeliverable,
            address=address,
            first_at=utc(now),
            last_at=utc(now),
            count=1,
            ticket=ticket,
            reason=reason,
        )
    else:
        row.last_at = utc(now)
        row.count += 1
        row.ticket = ticket or row.ticket
        row.reason = reason
        row.save()


def _receipt(raw: RawMail, outcome: str, message: int | None, now: dt.datetime) -> None:
    if raw.source_ref:
        insert_row(
            Receipt,
            source_ref=raw.source_ref,
            outcome=outcome,
            message=message,
            acked=False,
            at=utc(now),
        )


def _quarantine_in_tx(item: Prepared, error: str, now: dt.datetime, services: Services) -> Outcome:
    """Set a mail aside with its raw bytes (already in the store) and the reason."""
    raw = item.raw
    Quarantine.create(
        at=utc(now),
        source_ref=raw.source_ref,
        raw_sha256=item.raw_sha256,
        size=item.raw_size,
        error=error,
    )
    _receipt(raw, "quarantined", None, now)
    return Outcome("quarantined", None, "", error)
