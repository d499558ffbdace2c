"""Apply a routing decision: one transaction per inbound mail.

Message, attachments, ticket change, events, outbox rows and the source receipt are written
together or not at all (DESIGN.md invariants 1-3). Blobs (raw mail, attachment bytes) are written
to the store before the transaction, so the transaction only refers to bytes already on disk.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import hashlib
import logging
import urllib.parse
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import peewee as pw

from mailflow import ids, outbox
from mailflow.assign import mask_name, on_duty, pick_engineer, route_group
from mailflow.attachments import Limits, ParsedAttachment, within_limits
from mailflow.commands import PRIORITY_VALUES, STATUS_VALUES, YES, Command, split_commands
from mailflow.config import Config, Group, Person
from mailflow.confirm import RATINGS, RATINGS_EN, confirmation, rating
from mailflow.errors import StorageError
from mailflow.models import (
    Attachment,
    Message,
    Quarantine,
    Receipt,
    Ticket,
    Undeliverable,
    add_event,
    aware,
    create_row,
    insert_row,
    transaction,
    utc,
    value_exists,
)
from mailflow.notify import Renderer, pick_language
from mailflow.outgoing import OutgoingMail
from mailflow.parsing import Address, InboundMail, ParseError, parse
from mailflow.quoting import visible_text
from mailflow.routing import Decision, Lookups, route
from mailflow.sources import RawMail
from mailflow.states import can_move, refusal
from mailflow.storage import BlobStore
from mailflow.triage import DEFAULT_RULES, Rule, grade

log = logging.getLogger(__name__)

MB = 1024 * 1024
CLOSED_STATES = ("resolved", "closed")
URGENT = ("urgent", "high")  # these also alert the supervisor on duty (spec step 3)


@dataclass(frozen=True)
class Outcome:
    action: str  # created | followup | duplicate | quarantined | already
    ticket_number: str | None
    sender: str
    detail: str = ""


@dataclass
class Services:
    """What the workflow needs from outside: settings, storage, templates, randomness."""

    config: Config
    db: pw.Database
    store: BlobStore
    renderer: Renderer
    token: Callable[[], str]


def handle(raw: RawMail, now: dt.datetime, services: Services) -> Outcome:
    """Take one raw mail all the way to the database (and its outbox rows)."""
    return handle_group([raw], now, services)[0]


@dataclass(frozen=True)
class Prepared:
    """A raw mail after the work that needs no database: parsed, its bytes in the store."""

    raw: RawMail
    mail: InboundMail | None
    error: str = ""
    accepted: tuple[ParsedAttachment, ...] = ()
    refused: tuple[tuple[ParsedAttachment, str], ...] = ()


def prepare(raw: RawMail, store: BlobStore, limits: Limits) -> Prepared:
    """Parse ``raw`` and write its raw bytes and accepted attachments to the store (unsynced).

    Attachments over the limits are not stored as files of their own: they stay inside the
    raw mail, which is always kept, and the requester is told.
    """
    store.put(raw.data, sync=False)
    try:
        mail = parse(raw.data)
    except ParseError as exc:
        return Prepared(raw, None, str(exc))
    except Exception as exc:
        # A parser bug must cost one mail (quarantined with its bytes), not the daemon.
        log.exception("parsing %s failed", raw.label or raw.source_ref)
        return Prepared(raw, None, f"{type(exc).__name__}: {exc}")
    accepted, refused = within_limits(mail.attachments, limits)
    for attachment in accepted:
        store.put(attachment.data, sync=False)
    return Prepared(raw, mail, accepted=accepted, refused=refused)


def handle_group(
    raws: Sequence[RawMail],
    now: dt.datetime,
    services: Services,
    should_stop: Callable[[], bool] = lambda: False,
) -> list[Outcome]:
    """Handle several mails in one transaction, each in its own savepoint (group commit).

    Parsing and writing blobs happen first, outside the transaction, and the blobs are made
    durable with one sync for the group; then one short write transaction records everything.
    One commit (one fsync) for the group instead of one per mail; a mail that fails rolls back
    only its savepoint and is quarantined in its place, so it never takes the others with it.
    Database trouble is not a mail's fault: it aborts the group with StorageError and the mails
    stay in the mailbox for the next try. ``should_stop`` is asked after each mail, so a stop
    request finishes the mail in hand and commits what was done.
    """
    limits = services.config.limits
    caps = Limits(
        limits.max_attachment_mb * MB, limits.max_attachments_total_mb * MB, limits.max_attachments
    )
    prepared = [prepare(raw, services.store, caps) for raw in raws]
    services.store.sync()
    outcomes: list[Outcome] = []
    with transaction(services.db):
        refs = [raw.source_ref for raw in raws if raw.source_ref]
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
            return _quarantine_in_tx(raw, f"{type(exc).__name__}: {exc}", now, services)


def _apply(item: Prepared, now: dt.datetime, services: Services) -> Outcome:
    raw, mail = item.raw, item.mail
    if mail is None:
        return _quarantine_in_tx(raw, item.error, now, services)
    support = services.config.support
    decision = route(
        mail, support.ticket_prefix, support.address, _lookups(support.domain, services.config)
    )
    if decision.action == "quarantine":
        return _quarantine_in_tx(raw, decision.reason, now, services)
    sender = mail.sender.email if mail.sender else ""
    if decision.action == "duplicate":
        _receipt(raw, "duplicate", None, now)
        return Outcome("duplicate", None, sender, decision.reason)
    if decision.action in ("own", "automatic"):
        return _automatic(mail, raw, decision, now)
    if decision.action == "followup":
        stale = _closed_beyond_window(str(decision.ticket_number), now, services.config)
        if stale:
            return _create(
                item, mail, Decision("new", None, stale, decision.verdict), now, services
            )
        return _follow_up(item, mail, decision, now, services)
    return _create(item, mail, decision, now, services)


def _closed_beyond_window(number: str, now: dt.datetime, config: Config) -> str:
    """Why a reply to ``number`` starts a new ticket (closed too long ago), or ""."""
    ticket = Ticket.get_or_none(Ticket.number == number)
    if ticket is None or ticket.status != "closed" or ticket.closed_at is None:
        return ""
    if aware(ticket.closed_at) + dt.timedelta(days=config.reopen_days) >= now:
        return ""
    return (
        f"reply to {number}, closed {aware(ticket.closed_at):%Y-%m-%d}, after the "
        f"{config.reopen_days}-day reopen window; see {number}"
    )


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
    group, group_why = route_group(config.groups, graded.category, priority)
    engineer, engineer_why = (
        pick_engineer(
            group,
            config.people,
            _open_counts(),
            _last_assignee(group.name),
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
        language=pick_language(f"{mail.subject}\n{mail.text[:2000]}", config.support.language),
        submitted_at=utc(submitted),
        created_at=utc(now),
        updated_at=utc(now),
        respond_by=utc(submitted + dt.timedelta(minutes=target.respond_minutes)),
        resolve_by=utc(submitted + dt.timedelta(minutes=target.resolve_minutes)),
    )
    stored = _store_message(ticket, mail, raw, now, accepted=item.accepted)
    _note_refused(ticket, item, now)
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
    if group is not None:
        _assign(ticket, mail, engineer, engineer_why, item, now, services)
    why_not = _why_no_auto_reply(decision, requester, now, services)
    if why_not:
        add_event(ticket, now, "system", "acknowledgement_suppressed", reason=why_not)
    else:
        _acknowledge(ticket, mail, requester, now, services, item.refused)
    _receipt(raw, "created", stored, now)
    return Outcome("created", number, mail.sender.email, decision.reason)


def _follow_up(
    item: Prepared, mail: InboundMail, decision: Decision, now: dt.datetime, services: Services
) -> Outcome:
    assert mail.sender is not None and decision.ticket_number is not None
    raw = item.raw
    ticket = Ticket.get(Ticket.number == decision.ticket_number)
    stored = _store_message(ticket, mail, raw, now, reply=True, accepted=item.accepted)
    _note_refused(ticket, item, now)
    if item.refused:
        sender = Address(mail.sender.name, mail.sender.email)
        why_not = _why_no_auto_reply(decision, sender, now, services)
        if why_not:
            add_event(ticket, now, "system", "notice_suppressed", reason=why_not)
        else:
            _send_template(ticket, "attachments_refused", mail, sender, now, services, item.refused)
    ticket.updated_at = utc(now)
    add_event(ticket, now, mail.sender.email, "followup", message=stored, reason=decision.reason)
    person = services.config.person(mail.sender.email)
    if person is not None and person.role in ("engineer", "supervisor"):
        _staff_reply(ticket, mail, person, stored, now, services)
    else:
        _requester_reply(ticket, mail, now, services)
    ticket.save()
    _receipt(raw, "followup", stored, now)
    return Outcome("followup", ticket.number, mail.sender.email, decision.reason)


def _requester_reply(
    ticket: Ticket, mail: InboundMail, now: dt.datetime, services: Services
) -> None:
    """What a requester's reply does to the ticket's state (spec steps 5 and 6)."""
    assert mail.sender is not None
    text = visible_text(mail.text)
    actor = mail.sender.email
    if ticket.status == "resolved":
        meaning = confirmation(text)
        if meaning == "yes":
            _close(ticket, now, services, actor, "confirmed by the requester", mail)
        else:
            why = (
                "the requester says it is not solved"
                if meaning == "no"
                else ("the requester wrote more about the problem")
            )
            _reopen(ticket, now, services, actor, why, mail)
    elif ticket.status == "closed":
        answer = rating(text)
        if answer is not None:
            _rate(ticket, answer, now, services, actor, mail)
        else:
            _reopen(ticket, now, services, actor, "the requester wrote again after closing", mail)
    elif ticket.status == "waiting":
        _reopen(ticket, now, services, actor, "the requester answered", mail)


def _reopen(
    ticket: Ticket,
    now: dt.datetime,
    services: Services,
    actor: str,
    why: str,
    mail: InboundMail | None,
) -> None:
    before = ticket.status
    ticket.status = "in_progress"
    if before in ("resolved", "closed"):
        ticket.resolved_at = None
        ticket.closed_at = None
    add_event(
        ticket,
        now,
        actor,
        "reopened" if before != "waiting" else "status_changed",
        before=before,
        after="in_progress",
        reason=why,
    )
    handler = services.config.person(ticket.assignee) if ticket.assignee else None
    if handler is not None:
        _send_template(
            ticket,
            "reopened",
            mail,
            Address(handler.name, handler.email),
            now,
            services,
            language=services.config.support.language,
            reason=why,
            original=mail.text if mail else "",
            auto_submitted="auto-generated",
        )


def _survey_links(config: Config, number: str) -> dict[int, str]:
    """mailto: links that prepare a survey answer (subject with the tag, body the level)."""
    return {
        level: f"mailto:{config.support.address}?"
        + urllib.parse.urlencode(
            {"subject": f"{ids.tag(number)} {word}", "body": str(level)},
            quote_via=urllib.parse.quote,
        )
        for level, word in RATINGS.items()
    }


def _close(
    ticket: Ticket,
    now: dt.datetime,
    services: Services,
    actor: str,
    why: str,
    mail: InboundMail | None,
) -> None:
    before = ticket.status
    ticket.status = "closed"
    ticket.closed_at = utc(now)
    add_event(ticket, now, actor, "closed", before=before, reason=why)
    requester = Address(ticket.requester_name, ticket.requester_email)
    support = services.config.support
    links = {
        level: "mailto:"
        + support.address
        + "?"
        + urllib.parse.urlencode(
            {"subject": f"{ids.tag(ticket.number)} {RATINGS[level]}", "body": str(level)},
            quote_via=urllib.parse.quote,
        )
        for level in RATINGS
    }
    _send_template(
        ticket,
        "survey",
        mail,
        requester,
        now,
        services,
        links=links,
        ratings=RATINGS if ticket.language == "zh_CN" else RATINGS_EN,
    )


def _rate(
    ticket: Ticket,
    answer: tuple[int, str],
    now: dt.datetime,
    services: Services,
    actor: str,
    mail: InboundMail,
) -> None:
    level, comment = answer
    previous = ticket.rating
    ticket.rating, ticket.rating_comment, ticket.rated_at = level, comment, utc(now)
    add_event(
        ticket,
        now,
        actor,
        "rated",
        rating=level,
        label=RATINGS[level],
        comment=comment,
        replaces=previous,
    )
    if level == min(RATINGS):
        group = next((g for g in services.config.groups if g.name == ticket.group), None)
        supervisor = (
            services.config.person(group.supervisor) if group and group.supervisor else None
        )
        if supervisor is not None:
            _send_template(
                ticket,
                "rating_alert",
                mail,
                Address(supervisor.name, supervisor.email),
                now,
                services,
                language=services.config.support.language,
                comment=comment,
                auto_submitted="auto-generated",
            )


def close_silent(now: dt.datetime, services: Services) -> list[str]:
    """Close resolved tickets whose requester stayed silent for ``confirm_days`` (with survey)."""
    limit = utc(now - dt.timedelta(days=services.config.confirm_days))
    closed = []
    with transaction(services.db):
        for ticket in Ticket.select().where(
            (Ticket.status == "resolved") & (Ticket.resolved_at <= limit)
        ):
            _close(
                ticket,
                now,
                services,
                "system",
                f"no answer {services.config.confirm_days} days after resolution",
                None,
            )
            ticket.updated_at = utc(now)
            ticket.save()
            closed.append(ticket.number)
    return closed


def _staff_reply(
    ticket: Ticket,
    mail: InboundMail,
    person: Person,
    stored: int,
    now: dt.datetime,
    services: Services,
) -> None:
    """An engineer's or supervisor's reply: run its commands, pass the rest to the requester.

    All commands are checked before any is applied: one that cannot apply changes nothing and
    the writer is told why, and then nothing goes to the requester either.
    """
    config = services.config
    commands, text = split_commands(visible_text(mail.text))
    Message.update(text=text).where(Message.id == stored).execute()
    changes, errors = _plan(commands, ticket, config)
    staff = Address(person.name, person.email)
    if errors:
        add_event(
            ticket,
            now,
            person.email,
            "commands_refused",
            errors=errors,
            lines=[c.line for c in commands],
        )
        _send_template(
            ticket,
            "command_error",
            mail,
            staff,
            now,
            services,
            language=config.support.language,
            errors=errors,
            auto_submitted="auto-replied",
        )
        return
    internal = False
    for key, value in changes:
        if key == "internal":
            internal = True
        else:
            _apply_change(ticket, key, value, person, mail, now, services)
    if internal or not text:
        add_event(
            ticket,
            now,
            person.email,
            "internal_note" if internal else "commands_only",
            message=stored,
            commands=[c.line for c in commands],
        )
        return
    if ticket.status in ("new", "assigned") and not any(k == "status" for k, _ in changes):
        _apply_change(ticket, "status", "in_progress", person, mail, now, services)
    if ticket.first_response_at is None:
        ticket.first_response_at = utc(now)
        add_event(ticket, now, person.email, "first_response")
    requester = Address(ticket.requester_name, ticket.requester_email)
    _send_template(
        ticket,
        "progress",
        mail,
        requester,
        now,
        services,
        reply=text,
        cc=tuple(Address("", a) for a in ticket.cc),
        auto_submitted="no",
    )
    add_event(
        ticket,
        now,
        person.email,
        "public_reply",
        message=stored,
        commands=[c.line for c in commands],
    )


def _plan(  # noqa: PLR0912 - one branch per command reads as the command table
    commands: list[Command], ticket: Ticket, config: Config
) -> tuple[list[tuple[str, Any]], list[str]]:
    """Each command checked and resolved to a change, or an error a person can act on."""
    changes: list[tuple[str, Any]] = []
    errors: list[str] = []
    for command in commands:
        key, value = command.key, command.value.strip()
        if not key:
            errors.append(
                f"unknown command {command.written!r} (known: Status, Priority, "
                "Assign, Group, Category, Escalate, Internal, Cc)"
            )
        elif key == "status":
            target = STATUS_VALUES.get(value.lower())
            if target is None:
                errors.append(f"unknown status {value!r} (in-progress, waiting, resolved)")
            elif target != ticket.status and not can_move(ticket.status, target):
                errors.append(refusal(ticket.status, target))
            else:
                changes.append((key, target))
        elif key == "priority":
            priority = PRIORITY_VALUES.get(value.lower())
            if priority is None:
                errors.append(f"unknown priority {value!r} (urgent, high, medium, low)")
            else:
                changes.append((key, priority))
        elif key == "assign":
            engineer = _find_engineer(value, config)
            if engineer is None:
                errors.append(f"no engineer {value!r} (give a configured name or address)")
            else:
                changes.append((key, engineer))
        elif key == "group":
            group = next((g for g in config.groups if g.name == value), None)
            if group is None:
                errors.append(
                    f"no group {value!r} (known: "
                    f"{', '.join(g.name for g in config.groups) or 'none'})"
                )
            else:
                changes.append((key, group))
        elif key == "category":
            changes.append((key, value))
        elif key == "escalate":
            target_group = next((g for g in config.groups if value.startswith(g.name)), None)
            reason = value[len(target_group.name) :].strip() if target_group else value
            changes.append((key, (target_group, reason)))
        elif key == "internal":
            if value.lower() in YES:
                changes.append((key, True))
        elif key == "cc":
            addresses = [a for _, a in email.utils.getaddresses([value]) if "@" in a]
            if not addresses:
                errors.append(f"no address in Cc: {value!r}")
            else:
                changes.append((key, [a.lower() for a in addresses]))
    return changes, errors


def _find_engineer(value: str, config: Config) -> Person | None:
    wanted = value.strip().lower()
    return next(
        (
            p
            for p in config.people
            if p.role in ("engineer", "supervisor") and wanted in (p.email, p.name.lower())
        ),
        None,
    )


def _apply_change(  # noqa: PLR0912 - one branch per command reads as the command table
    ticket: Ticket,
    key: str,
    value: Any,
    person: Person,
    mail: InboundMail,
    now: dt.datetime,
    services: Services,
) -> None:
    config = services.config
    actor = person.email
    if key == "status":
        before = ticket.status
        if value == before:
            return
        ticket.status = value
        if value == "resolved":
            ticket.resolved_at = utc(now)
        if value == "closed":
            ticket.closed_at = utc(now)
        add_event(ticket, now, actor, "status_changed", before=before, after=value)
    elif key == "priority":
        add_event(ticket, now, actor, "priority_changed", before=ticket.priority, after=value)
        ticket.priority = value
        target = config.sla[value]
        submitted = aware(ticket.submitted_at)
        ticket.respond_by = utc(submitted + dt.timedelta(minutes=target.respond_minutes))
        ticket.resolve_by = utc(submitted + dt.timedelta(minutes=target.resolve_minutes))
    elif key == "category":
        add_event(ticket, now, actor, "category_changed", before=ticket.category, after=value)
        ticket.category = value
    elif key == "group":
        add_event(ticket, now, actor, "group_changed", before=ticket.group, after=value.name)
        ticket.group = value.name
    elif key == "cc":
        ticket.cc = sorted(set(ticket.cc) | set(value))
        add_event(ticket, now, actor, "cc_added", addresses=value)
    elif key in ("assign", "escalate"):
        if key == "assign":
            engineer, reason = value, "assigned by " + actor
        else:
            group, reason = value
            engineer = _escalation_target(ticket, group, config)
            if group is not None:
                ticket.group = group.name
            if engineer is None:
                add_event(
                    ticket, now, actor, "escalated", group=ticket.group, reason=reason, to=None
                )
                return
            add_event(
                ticket,
                now,
                actor,
                "escalated",
                group=ticket.group,
                reason=reason,
                to=engineer.email,
            )
        previous = ticket.assignee
        ticket.assignee = engineer.email
        if ticket.status == "new":
            ticket.status = "assigned"
        add_event(
            ticket,
            now,
            actor,
            "assigned",
            before=previous,
            to=engineer.email,
            name=engineer.name,
            reason=reason,
        )
        _send_template(
            ticket,
            "assignment",
            mail,
            Address(engineer.name, engineer.email),
            now,
            services,
            language=config.support.language,
            original=mail.text,
            auto_submitted="auto-generated",
        )
        if key == "escalate":
            group_row = next((g for g in config.groups if g.name == ticket.group), None)
            supervisor = (
                config.person(group_row.supervisor) if group_row and group_row.supervisor else None
            )
            if supervisor is not None and supervisor.email != engineer.email:
                _send_template(
                    ticket,
                    "escalation",
                    mail,
                    Address(supervisor.name, supervisor.email),
                    now,
                    services,
                    language=config.support.language,
                    reason=reason,
                    auto_submitted="auto-generated",
                )


def _escalation_target(ticket: Ticket, group: Group | None, config: Config) -> Person | None:
    """A named group: an engineer there (fewest open); otherwise the group's supervisor."""
    if group is not None:
        engineer, _ = pick_engineer(group, config.people, _open_counts(), None, "fewest_open")
        return engineer
    current = next((g for g in config.groups if g.name == ticket.group), None)
    if current is not None and current.supervisor:
        return config.person(current.supervisor)
    return None


def _store_message(
    ticket: Ticket | None,
    mail: InboundMail,
    raw: RawMail,
    now: dt.datetime,
    kind: str = "mail",
    reply: bool = False,
    accepted: tuple[ParsedAttachment, ...] = (),
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
    for item in accepted:
        insert_row(
            Attachment,
            message=message_id,
            filename=item.filename,
            content_type=item.content_type,
            size=len(item.data),
            sha256=hashlib.sha256(item.data).hexdigest(),
            content_id=item.content_id,
            inline=item.inline,
        )
    return message_id


def _open_counts() -> dict[str, int]:
    """Open tickets per engineer (for the fewest-open strategy)."""
    query = (
        Ticket.select(Ticket.assignee, pw.fn.COUNT(Ticket.id).alias("n"))
        .where(Ticket.assignee.is_null(False) & Ticket.status.not_in(CLOSED_STATES))
        .group_by(Ticket.assignee)
    )
    rows: Any = query.dicts()
    return {str(row["assignee"]): int(row["n"]) for row in rows}


def _last_assignee(group: str) -> str | None:
    row = (
        Ticket.select(Ticket.assignee)
        .where((Ticket.group == group) & Ticket.assignee.is_null(False))
        .order_by(Ticket.id.desc())
        .first()
    )
    return str(row.assignee) if row else None


def _assign(
    ticket: Ticket,
    mail: InboundMail,
    engineer: Person | None,
    why: str,
    item: Prepared,
    now: dt.datetime,
    services: Services,
) -> None:
    """Record the assignment, mail the engineer the whole ticket, alert the supervisor."""
    config = services.config
    if engineer is None:
        add_event(ticket, now, "system", "unassigned", group=ticket.group, reason=why)
    else:
        add_event(
            ticket,
            now,
            "system",
            "assigned",
            to=engineer.email,
            name=engineer.name,
            group=ticket.group,
            reason=why,
        )
        files = tuple((a.filename, a.content_type, a.data) for a in item.accepted if not a.inline)
        _send_template(
            ticket,
            "assignment",
            mail,
            Address(engineer.name, engineer.email),
            now,
            services,
            language=config.support.language,
            files=files,
            original=mail.text,
            auto_submitted="auto-generated",
        )
    if ticket.priority in URGENT:
        group = next((g for g in config.groups if g.name == ticket.group), None)
        supervisor_email = on_duty(config.duty, now.astimezone(config.support.tz)) or (
            group.supervisor if group else None
        )
        supervisor = config.person(supervisor_email) if supervisor_email else None
        if supervisor is None:
            add_event(
                ticket,
                now,
                "system",
                "supervisor_not_notified",
                reason="no supervisor on duty and none for the group",
            )
            return
        _send_template(
            ticket,
            "supervisor_alert",
            mail,
            Address(supervisor.name, supervisor.email),
            now,
            services,
            language=config.support.language,
            original=mail.text,
            auto_submitted="auto-generated",
        )


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


def ticket_context(ticket: Ticket, config: Config) -> dict[str, Any]:
    """What templates see of a ticket (the handler's name masked, as requesters see it)."""
    target = config.sla[ticket.priority]
    handler = config.person(ticket.assignee) if ticket.assignee else None
    return {
        "number": ticket.number,
        "subject": ticket.subject,
        "priority": ticket.priority,
        "status": ticket.status,
        "requester_name": ticket.requester_name,
        "requester_email": ticket.requester_email,
        "submitted_at": ticket.submitted_at,
        "respond_by": ticket.respond_by,
        "resolve_by": ticket.resolve_by,
        "respond_minutes": target.respond_minutes,
        "resolve_minutes": target.resolve_minutes,
        "handler": mask_name(handler.name) if handler else None,
        "handler_name": handler.name if handler else None,
        "category": ticket.category,
        "group": ticket.group,
    }


def base_context(config: Config, ticket: dict[str, Any]) -> dict[str, Any]:
    """What every template sees: the ticket, its tag, the support desk, the limits."""
    limits = config.limits
    return {
        "ticket": ticket,
        "tag": ids.tag(ticket["number"]),
        "support": {"name": config.support.name, "address": config.support.address},
        "refused": [],
        "original": "",
        "files": [],
        "errors": [],
        "reply": "",
        "reason": "",
        "comment": "",
        "links": _survey_links(config, ticket["number"]),
        "ratings": RATINGS,
        "process": {"confirm_days": config.confirm_days, "reopen_days": config.reopen_days},
        "limits": {
            "each_mb": limits.max_attachment_mb,
            "total_mb": limits.max_attachments_total_mb,
            "count": limits.max_attachments,
        },
    }


def _note_refused(ticket: Ticket, item: Prepared, now: dt.datetime) -> None:
    if item.refused:
        add_event(
            ticket,
            now,
            "system",
            "attachments_refused",
            files=[
                {"filename": a.filename, "size": len(a.data), "reason": why}
                for a, why in item.refused
            ],
        )


def _acknowledge(
    ticket: Ticket,
    mail: InboundMail,
    requester: Address,
    now: dt.datetime,
    services: Services,
    refused: tuple[tuple[ParsedAttachment, str], ...] = (),
) -> None:
    _send_template(ticket, "acknowledgement", mail, requester, now, services, refused)


def _send_template(
    ticket: Ticket,
    kind: str,
    mail: InboundMail | None,
    to: Address,
    now: dt.datetime,
    services: Services,
    refused: tuple[tuple[ParsedAttachment, str], ...] = (),
    language: str | None = None,
    files: tuple[tuple[str, str, bytes], ...] = (),
    original: str = "",
    auto_submitted: str = "auto-replied",
    cc: tuple[Address, ...] = (),
    **extra: Any,
) -> None:
    """Render ``kind`` for ``ticket`` and queue it, threaded to ``mail``, in the outbox."""
    config = services.config
    context = base_context(config, ticket_context(ticket, config))
    context["original"] = original
    context["files"] = [name for name, _, _ in files]
    context.update(extra)
    context["refused"] = [
        {"filename": a.filename, "size_mb": round(len(a.data) / MB, 1), "reason": why}
        for a, why in refused
    ]
    rendered = services.renderer.render(kind, language or ticket.language, context)
    outgoing = OutgoingMail(
        sender=Address(config.support.name, config.support.address),
        to=(to,),
        subject=rendered.subject,
        text=rendered.text,
        html=rendered.html,
        ticket_number=ticket.number,
        in_reply_to=mail.message_id if mail else "",
        references=mail.references if mail else (),
        auto_submitted=auto_submitted,
        attachments=files,
        cc=cc,
    )
    message = outbox.queue(outgoing, kind, ticket, now, services.token())
    add_event(ticket, now, "system", f"{kind}_queued", message=message, to=to.email)


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


def _quarantine_in_tx(raw: RawMail, error: str, now: dt.datetime, services: Services) -> Outcome:
    """Set a mail aside with its raw bytes (already in the store) and the reason."""
    digest = hashlib.sha256(raw.data).hexdigest()
    Quarantine.create(
        at=utc(now), source_ref=raw.source_ref, raw_sha256=digest, size=len(raw.data), error=error
    )
    _receipt(raw, "quarantined", None, now)
    return Outcome("quarantined", None, "", error)
