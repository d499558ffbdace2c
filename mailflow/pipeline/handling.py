"""Apply a routing decision: one transaction per inbound mail.

Message, attachments, ticket change, events, outbox rows and the source receipt are written
together or not at all (DESIGN.md invariants 1-3). Blobs (raw mail, attachment bytes) are written
to the store before the transaction, so the transaction only refers to bytes already on disk.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import peewee as pw

from mailflow.config import Config
from mailflow.delivery import outbox
from mailflow.delivery.mailing import acknowledge, note_refused, send_template
from mailflow.delivery.rendering import pick_language
from mailflow.errors import StorageError
from mailflow.mail import headers
from mailflow.mail.addresses import Address, clean_name
from mailflow.mail.attachments import Limits, ParsedAttachment
from mailflow.mail.loops import authenticated
from mailflow.mail.parsing import InboundMail
from mailflow.mail.quoting import visible_text
from mailflow.pipeline.preparing import Prepared, prepare_all
from mailflow.pipeline.routing import Decision, Lookups, route
from mailflow.process.assignment import mask_phone, pick_engineer, route_group
from mailflow.process.commands import split_intake
from mailflow.process.confirmation import closed_beyond_window, requester_reply
from mailflow.process.engineers import (
    assign,
    last_assignee,
    open_counts,
    refuse_unverified,
    staff_reply,
)
from mailflow.process.grading import DEFAULT_RULES, Rule, grade
from mailflow.services import MB, Services
from mailflow.sources import RawMail
from mailflow.store import ids
from mailflow.store.database import transaction
from mailflow.store.models import (
    Attachment,
    Message,
    Quarantine,
    Receipt,
    Ticket,
    Undeliverable,
    aware,
    utc,
)
from mailflow.store.rows import add_event, create_row, insert_row, value_exists

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Outcome:
    action: str  # created | followup | duplicate | quarantined | already
    ticket_number: str | None
    sender: str
    detail: str = ""


def handle(raw: RawMail, now: dt.datetime, services: Services, any_size: bool = False) -> Outcome:
    """Take one raw mail all the way to the database (and its outbox rows).

    ``any_size``: parse it however big (an operator retrying a mail set aside for its size).
    """
    limits = attachment_limits(services.config)
    if any_size:
        limits = dataclasses.replace(limits, max_mail=len(raw.data))
    return handle_prepared(prepare_all([raw], services.store, limits), now, services)[0]


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
) -> list[Outcome]:
    """Handle several prepared mails in one transaction, each in its own savepoint.

    Group commit: parsing and writing blobs happened before, outside the transaction, and the
    blobs are durable; one short write transaction records everything. One commit (one fsync)
    for the group instead of one per mail; a mail that fails rolls back only its savepoint and
    is quarantined in its place, so it never takes the others with it. Database trouble is not
    a mail's fault: it aborts the group with StorageError and the mails stay in the mailbox for
    the next try. ``should_stop`` is asked after each mail, so a stop request finishes the mail
    in hand and commits what was done. ``also`` adds the caller's own writes to the transaction.
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
                outcomes.append(_handle_in_savepoint(item, now, services))
            if should_stop():
                break
    return outcomes


def _handle_in_savepoint(item: Prepared, now: dt.datetime, services: Services) -> Outcome:
    db = services.db
    raw = item.raw
    try:
        with db.atomic():
            return _apply(item, now, services)
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


def _apply(item: Prepared, now: dt.datetime, services: Services) -> Outcome:
    raw, mail = item.raw, item.mail
    if mail is None:
        return _quarantine_in_tx(item, item.error, now, services)
    support = services.config.support
    decision = route(
        mail, support.ticket_prefix, support.address, _lookups(support.domain, services.config)
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
        stale = closed_beyond_window(str(decision.ticket_number), now, services.config)
        if stale:
            return _create(
                item, mail, Decision("new", None, stale, decision.verdict), now, services
            )
        return _follow_up(item, mail, decision, now, services)
    return _create(item, mail, decision, now, services)


def _create(
    item: Prepared, mail: InboundMail, decision: Decision, now: dt.datetime, services: Services
) -> Outcome:
    config = services.config
    raw = item.raw
    assert mail.sender is not None  # routing quarantines sender-less mail
    number = ids.allocate(config.support.ticket_prefix, ids.ticket_day(now, config.support.tz))
    submitted = min(aware(raw.received_at) if raw.received_at else now, now)
    graded = grade(mail, _rules(config))
    priority = graded.priority
    target = config.sla[priority]
    subject = ids.strip_reply_prefixes(mail.subject) or mail.subject or "(no subject)"
    requester = mail.reply_address or mail.sender
    intake: dict[str, str] = {}
    problem = mail.text
    desk_refused = ""
    registrar = config.person(mail.sender.email)
    if registrar is not None and registrar.role == "service_desk":
        desk_refused = _untrusted(mail, config.authserv_id)
        if not desk_refused:
            intake, problem = split_intake(mail.text)
            requester = _caller(intake.get("requester", ""), requester)
    group, group_why = route_group(config.groups, graded.category, priority)
    engineer, engineer_why = (
        pick_engineer(
            group,
            config.people,
            open_counts(),
            last_assignee(group.name),
            config.assignment_strategy,
        )
        if group is not None
        else (None, "")
    )
    ticket = create_row(
        Ticket,
        number=number,
        subject=subject,
        status="assigned" if engineer else "new",
        priority=priority,
        category=graded.category,
        group=group.name if group else None,
        assignee=engineer.email if engineer else None,
        requester_email=requester.email,
        requester_name=requester.name,
        phone=intake.get("phone", ""),
        department=intake.get("department", ""),
        channel=intake.get("channel", "phone" if intake else "email"),
        language=pick_language(f"{mail.subject}\n{mail.text[:2000]}", config.support.language),
        submitted_at=utc(submitted),
        created_at=utc(now),
        updated_at=utc(now),
        respond_by=utc(submitted + dt.timedelta(minutes=target.respond_minutes)),
        resolve_by=utc(submitted + dt.timedelta(minutes=target.resolve_minutes)),
    )
    stored = _store_message(ticket, mail, raw, now, accepted=item.accepted, digests=item.digests)
    if intake:
        add_event(
            ticket,
            now,
            mail.sender.email,
            "registered_for_caller",
            requester=requester.email,
            channel=ticket.channel,
            department=ticket.department,
            phone=mask_phone(ticket.phone),
        )
    if desk_refused:
        add_event(ticket, now, mail.sender.email, "intake_not_trusted", reason=desk_refused)
    note_refused(ticket, item.refused, now)
    add_event(
        ticket,
        now,
        requester.email,
        "created",
        reason=decision.reason,
        message=stored,
        source=raw.source_ref or "stdin",
    )
    add_event(ticket, now, "system", "priority_set", priority=priority, rule=graded.priority_rule)
    if graded.category:
        add_event(
            ticket,
            now,
            "system",
            "category_set",
            category=graded.category,
            rule=graded.category_rule,
        )
    if config.groups:
        add_event(ticket, now, "system", "group_set", group=ticket.group, reason=group_why)
    # The requester's acknowledgement is queued first, so it is the first mail to leave.
    why_not = _why_no_auto_reply(decision, requester, now, services)
    if why_not:
        add_event(ticket, now, "system", "acknowledgement_suppressed", reason=why_not)
    else:
        acknowledge(ticket, mail, requester, now, services, item.refused)
    if group is not None:
        assign(ticket, mail, engineer, engineer_why, item.accepted, now, services, problem)
    _receipt(raw, "created", stored, now)
    return Outcome("created", number, mail.sender.email, decision.reason)


def _untrusted(mail: InboundMail, authserv_id: str) -> str:
    """Why a mail from a staff or desk address carries no authority; empty when it does.

    Without ``authserv_id`` every mail from a configured address is believed (the README's
    threat model says what that leaves open).
    """
    if not authserv_id or authenticated(mail, authserv_id):
        return ""
    return (
        f"not verified by {authserv_id} (no aligned DKIM, SPF or DMARC pass for the From "
        "domain in our border's Authentication-Results)"
    )


def _caller(line: str, desk: Address) -> Address:
    """The requester a service desk names in a ``Requester:`` line.

    Its address passes the same check as any From (``headers.addresses``); a line with no
    usable address is a name only, and replies go to the desk.
    """
    if not line:
        return desk
    found = headers.address_list(line)
    if found:
        return Address(found[0][0], found[0][1])
    return Address(clean_name(line), desk.email)


def _follow_up(
    item: Prepared, mail: InboundMail, decision: Decision, now: dt.datetime, services: Services
) -> Outcome:
    assert mail.sender is not None and decision.ticket_number is not None
    raw = item.raw
    ticket = Ticket.get(Ticket.number == decision.ticket_number)
    stored = _store_message(
        ticket, mail, raw, now, reply=True, accepted=item.accepted, digests=item.digests
    )
    note_refused(ticket, item.refused, now)
    if item.refused:
        sender = Address(mail.sender.name, mail.sender.email)
        why_not = _why_no_auto_reply(decision, sender, now, services)
        if why_not:
            add_event(ticket, now, "system", "notice_suppressed", reason=why_not)
        else:
            send_template(ticket, "attachments_refused", mail, sender, now, services, item.refused)
    ticket.updated_at = utc(now)
    add_event(ticket, now, mail.sender.email, "followup", message=stored, reason=decision.reason)
    person = services.config.person(mail.sender.email)
    if person is not None and person.role in ("engineer", "supervisor"):
        why_not = _untrusted(mail, services.config.authserv_id)
        if why_not:
            refuse_unverified(ticket, mail, person, why_not, now, services)
        else:
            staff_reply(ticket, mail, person, stored, now, services)
    else:
        requester_reply(ticket, mail, now, services)
    ticket.save()
    _receipt(raw, "followup", stored, now)
    return Outcome("followup", ticket.number, mail.sender.email, decision.reason)


def _store_message(
    ticket: Ticket | None,
    mail: InboundMail,
    raw: RawMail,
    now: dt.datetime,
    kind: str = "mail",
    reply: bool = False,
    accepted: tuple[ParsedAttachment, ...] = (),
    digests: tuple[str, ...] = (),
) -> int:
    """Record an inbound mail and its attachments; the message's id.

    For a ``reply`` the shown text leaves out quoted history and signature; a new request is
    shown whole (a forwarded problem report *is* its quoted part). ``full_text`` keeps all.
    """
    message_id = insert_row(
        Message,
        ticket=ticket,
        direction="in",
        kind=kind,
        dedupe_key=mail.dedupe_key,
        message_id=mail.message_id,
        in_reply_to=" ".join(mail.in_reply_to),
        references=list(mail.references),
        from_addr=mail.sender.email if mail.sender else "",
        from_name=mail.sender.name if mail.sender else "",
        to=[a.email for a in mail.to],
        cc=[a.email for a in mail.cc],
        subject=mail.subject,
        text=visible_text(mail.text) if reply else mail.text,
        full_text=mail.text,
        html=mail.html,
        date_header=utc(mail.date) if mail.date else None,
        created_at=utc(now),
        raw_sha256=mail.raw_sha256,
        raw_size=mail.raw_size,
        source_ref=raw.source_ref,
        defects=list(mail.defects),
    )
    for item, digest in zip(accepted, digests, strict=True):
        insert_row(
            Attachment,
            message=message_id,
            filename=item.filename,
            content_type=item.content_type,
            size=len(item.data),
            sha256=digest,
            content_id=item.content_id,
            inline=item.inline,
        )
    return message_id


def _rules(config: Config) -> tuple[Rule, ...]:
    if config.rules is None:
        return DEFAULT_RULES
    return tuple(
        Rule(r.name, r.keywords, r.subject, r.senders, r.recipients, r.priority, r.category)
        for r in config.rules
    )


def _why_no_auto_reply(
    decision: Decision, requester: Address, now: dt.datetime, services: Services
) -> str:
    """Why no automatic mail may go to ``requester`` now; empty when one may."""
    config = services.config
    if decision.verdict.automatic:
        return f"the mail is automatic: {decision.verdict.reason}"
    if requester.email == config.support.address:
        return "the requester is our own support address"
    limit = config.loops.max_per_address_per_hour
    sent = outbox.recent_count(requester.email, now - dt.timedelta(hours=1))
    if sent >= limit:
        return f"loop limit: {sent} automatic mails to {requester.email} in the last hour"
    return ""


def _automatic(mail: InboundMail, raw: RawMail, decision: Decision, now: dt.datetime) -> Outcome:
    """Keep an automatic mail for the record; note it on its ticket; never answer it."""
    sender = mail.sender.email if mail.sender else ""
    kind = decision.verdict.kind
    ticket = (
        Ticket.get_or_none(Ticket.number == decision.ticket_number)
        if decision.ticket_number
        else None
    )
    stored = _store_message(ticket, mail, raw, now, kind=kind)
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


def _lookups(support_domain: str, config: Config) -> Lookups:
    return Lookups(
        ticket_exists=lambda n: value_exists(Ticket.number, n),
        already_stored=lambda key: value_exists(Message.dedupe_key, key),
        ticket_for_ids=lambda ids: _ticket_for_ids(list(ids), support_domain),
        may_follow_up=lambda number, address: _may_follow_up(number, address, config),
    )


def _ticket_for_ids(message_ids: list[str], support_domain: str) -> str | None:
    """The ticket one of these Message-IDs belongs to: a mail we stored, or one we sent."""
    if not message_ids:
        return None
    row = (
        Ticket.select(Ticket.number)
        .join(Message, on=(Message.ticket == Ticket.id))
        .where(Message.message_id.in_(message_ids))
        .order_by(Message.id.desc())
        .first()
    )
    if row is not None:
        return str(row.number)
    # Our own Message-IDs carry the ticket number (<TS20231025001.token@domain>), so a reply
    # to a mail whose row is gone still finds its ticket.
    for message_id in message_ids:
        left, _, domain = message_id.strip("<>").rpartition("@")
        number = left.split(".", 1)[0]
        if domain == support_domain and value_exists(Ticket.number, number):
            return number
    return None


def _may_follow_up(number: str, address: str, config: Config) -> bool:
    """Configured staff, the requester and everyone who was on the ticket's mails may add."""
    person = config.person(address)
    if person is not None and person.role in ("engineer", "supervisor"):
        return value_exists(Ticket.number, number)
    ticket = Ticket.get_or_none(Ticket.number == number)
    if ticket is None:
        return False
    if ticket.requester_email == address or address in ticket.cc:
        return True
    for message in Message.select(Message.from_addr, Message.to, Message.cc).where(
        (Message.ticket == ticket) & (Message.kind == "mail")
    ):
        if address == message.from_addr or address in message.to or address in message.cc:
            return True
    return False


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
