"""Engineers and supervisors (spec steps 3 and 4): assignment on intake, and the replies by
which they work a ticket, commands included."""

from __future__ import annotations

import datetime as dt
from typing import Any

import peewee as pw

from mailflow.config import Config, Group, Person
from mailflow.delivery.mailing import notify_staff, send_template
from mailflow.mail import headers
from mailflow.mail.addresses import Address
from mailflow.mail.attachments import ParsedAttachment
from mailflow.mail.parsing import InboundMail
from mailflow.mail.quoting import visible_text
from mailflow.process.assignment import on_duty, pick_engineer
from mailflow.process.commands import PRIORITY_VALUES, STATUS_VALUES, YES, Command, split_commands
from mailflow.process.states import can_move, refusal
from mailflow.services import Services
from mailflow.store.models import Message, Ticket, aware, utc
from mailflow.store.rows import add_event

CLOSED_STATES = ("resolved", "closed")
URGENT = ("urgent", "high")  # these also alert the supervisor on duty (spec step 3)


def staff_reply(
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
    commands, text = split_commands(visible_text(mail.text))
    Message.update(text=text).where(Message.id == stored).execute()
    errors = act(ticket, person, commands, text, now, services, mail, stored)
    if errors:
        _explain(ticket, mail, person, errors, now, services)


def _explain(
    ticket: Ticket,
    mail: InboundMail,
    person: Person,
    errors: list[str],
    now: dt.datetime,
    services: Services,
) -> None:
    """Tell the writer why nothing of their mail was applied."""
    notify_staff(
        ticket,
        "command_error",
        mail,
        person,
        now,
        services,
        errors=errors,
        auto_submitted="auto-replied",
    )


def refuse_unverified(
    ticket: Ticket,
    mail: InboundMail,
    person: Person,
    why: str,
    now: dt.datetime,
    services: Services,
) -> None:
    """A staff address without an aligned pass: keep the mail, apply nothing, say why."""
    reason = (
        f"your mail was {why}: it was filed on the ticket, but no command was applied and "
        "nothing was sent to the requester"
    )
    add_event(ticket, now, person.email, "commands_not_trusted", reason=reason)
    _explain(ticket, mail, person, [reason], now, services)


def act(
    ticket: Ticket,
    person: Person,
    commands: list[Command],
    text: str,
    now: dt.datetime,
    services: Services,
    mail: InboundMail | None = None,
    stored: int | None = None,
) -> list[str]:
    """Apply ``commands`` and pass ``text`` to the requester, as ``person``; by mail or CLI.

    Returns the reasons when a command cannot apply (and then nothing at all is done).
    """
    changes, errors = plan(commands, ticket, services.config)
    if errors:
        add_event(
            ticket,
            now,
            person.email,
            "commands_refused",
            errors=errors,
            lines=[c.line for c in commands],
        )
        return errors
    internal = False
    for key, value in changes:
        if key == "internal":
            internal = True
        else:
            apply_change(ticket, key, value, person, mail, now, services)
    if internal or not text:
        add_event(
            ticket,
            now,
            person.email,
            "internal_note" if internal else "commands_only",
            message=stored,
            commands=[c.line for c in commands],
            **({"text": text} if internal and stored is None else {}),
        )
        ticket.updated_at = utc(now)
        ticket.save()
        return []
    if ticket.status in ("new", "assigned") and not any(k == "status" for k, _ in changes):
        apply_change(ticket, "status", "in_progress", person, mail, now, services)
    if ticket.first_response_at is None:
        ticket.first_response_at = utc(now)
        add_event(ticket, now, person.email, "first_response")
    requester = Address(ticket.requester_name, ticket.requester_email)
    send_template(
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
        **({"text": text} if stored is None else {}),
    )
    ticket.updated_at = utc(now)
    ticket.save()
    return []


def cc_addresses(value: str) -> tuple[list[str], str]:
    """The addresses of a ``Cc:`` command, or why it cannot apply (every one must be fit)."""
    refused: list[str] = []
    found = [a for _, a in headers.address_list(value, refused) if "@" in a]
    if refused:
        return [], f"Cc: {'; '.join(refused)}"
    if not found:
        return [], f"no address in Cc: {value!r}"
    return found, ""


def plan(  # noqa: PLR0912 - one branch per command reads as the command table
    commands: list[Command], ticket: Ticket, config: Config
) -> tuple[list[tuple[str, Any]], list[str]]:
    """Each command checked and resolved to a change, or an error a person can act on."""
    changes: list[tuple[str, Any]] = []
    errors: list[str] = []
    if ticket.status == "closed":
        # Closed tickets are the archive: read-only, except for reopening them.
        reopening = any(
            c.key == "status" and STATUS_VALUES.get(c.value.strip().lower()) == "in_progress"
            for c in commands
        )
        if not reopening:
            return [], [
                f"{ticket.number} is closed and read-only; reopen it first with "
                '"Status: in-progress"'
            ]
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
            engineer = find_engineer(value, config)
            if engineer is None:
                errors.append(f"no engineer {value!r} (give a configured name or address)")
            else:
                changes.append((key, engineer))
        elif key == "group":
            group = config.group(value)
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
            found, error = cc_addresses(value)
            if error:
                errors.append(error)
            else:
                changes.append((key, found))
    return changes, errors


def find_engineer(value: str, config: Config) -> Person | None:
    wanted = value.strip().lower()
    return next(
        (
            p
            for p in config.people
            if p.role in ("engineer", "supervisor") and wanted in (p.email, p.name.lower())
        ),
        None,
    )


def apply_change(  # noqa: PLR0912 - one branch per command reads as the command table
    ticket: Ticket,
    key: str,
    value: Any,
    person: Person,
    mail: InboundMail | None,
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
            engineer = escalation_target(ticket, group, config)
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
        notify_staff(
            ticket,
            "assignment",
            mail,
            engineer,
            now,
            services,
            original=mail.text if mail else "",
        )
        if key == "escalate":
            supervisor = config.supervisor_of(ticket.group)
            if supervisor is not None and supervisor.email != engineer.email:
                notify_staff(
                    ticket,
                    "escalation",
                    mail,
                    supervisor,
                    now,
                    services,
                    reason=reason,
                )


def escalation_target(ticket: Ticket, group: Group | None, config: Config) -> Person | None:
    """A named group: an engineer there (fewest open); otherwise the group's supervisor."""
    if group is not None:
        engineer, _ = pick_engineer(group, config.people, open_counts(), None, "fewest_open")
        return engineer
    return config.supervisor_of(ticket.group)


def open_counts() -> dict[str, int]:
    """Open tickets per engineer (for the fewest-open strategy)."""
    query = (
        Ticket.select(Ticket.assignee, pw.fn.COUNT(Ticket.id).alias("n"))
        .where(Ticket.assignee.is_null(False) & Ticket.status.not_in(CLOSED_STATES))
        .group_by(Ticket.assignee)
    )
    rows: Any = query.dicts()
    return {str(row["assignee"]): int(row["n"]) for row in rows}


def last_assignee(group: str) -> str | None:
    row = (
        Ticket.select(Ticket.assignee)
        .where((Ticket.group == group) & Ticket.assignee.is_null(False))
        .order_by(Ticket.id.desc())
        .first()
    )
    return str(row.assignee) if row else None


def assign(
    ticket: Ticket,
    mail: InboundMail,
    engineer: Person | None,
    why: str,
    accepted: tuple[ParsedAttachment, ...],
    now: dt.datetime,
    services: Services,
    problem: str,
) -> None:
    """Record the assignment, mail the engineer the whole ticket, alert the supervisor.

    ``problem`` is the request's text as staff may see it (without a caller's whole phone
    number from a service-desk registration).
    """
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
        files = tuple((a.filename, a.content_type, a.data) for a in accepted if not a.inline)
        notify_staff(
            ticket,
            "assignment",
            mail,
            engineer,
            now,
            services,
            files=files,
            original=problem,
        )
    if ticket.priority in URGENT:
        on_call = on_duty(config.duty, now.astimezone(config.support.tz))
        supervisor = config.person(on_call) if on_call else config.supervisor_of(ticket.group)
        if supervisor is None:
            add_event(
                ticket,
                now,
                "system",
                "supervisor_not_notified",
                reason="no supervisor on duty and none for the group",
            )
            return
        notify_staff(
            ticket,
            "supervisor_alert",
            mail,
            supervisor,
            now,
            services,
            original=problem,
        )
