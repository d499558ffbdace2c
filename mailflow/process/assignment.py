"""Spec step 3 applied: a new ticket's engineer told with the whole ticket, the supervisor on duty
alerted for urgent and high tickets, and reassignment and escalation by command.

The choices themselves (which group, which engineer, who is on duty) are pure and live in
``choice``; this module records them and writes the mails.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

import peewee as pw

from mailflow.config import Config, Group, Person
from mailflow.delivery.mailing import notify_staff
from mailflow.mail.attachments import ParsedAttachment
from mailflow.mail.parsing import InboundMail
from mailflow.process.choice import on_duty, pick_engineer
from mailflow.services import Services
from mailflow.store.models import Ticket
from mailflow.store.rows import add_event

if TYPE_CHECKING:
    from mailflow.process.commands import Acting

CLOSED_STATES = ("resolved", "closed")
URGENT = ("urgent", "high")  # these also alert the supervisor on duty (spec step 3)


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


def reassign(ticket: Ticket, engineer: Person, reason: str, acting: Acting) -> None:
    """Give ``ticket`` to ``engineer`` and mail them the whole ticket."""
    previous = ticket.assignee
    ticket.assignee = engineer.email
    if ticket.status == "new":
        ticket.status = "assigned"
    add_event(
        ticket,
        acting.now,
        acting.actor,
        "assigned",
        before=previous,
        to=engineer.email,
        name=engineer.name,
        reason=reason,
    )
    mail = acting.mail
    notify_staff(
        ticket,
        "assignment",
        mail,
        engineer,
        acting.now,
        acting.services,
        original=mail.text if mail else "",
    )


def escalate(ticket: Ticket, group_name: str | None, reason: str, acting: Acting) -> None:
    """Hand ``ticket`` on: to an engineer of the named group, else to its group's supervisor,
    who is told either way."""
    config = acting.services.config
    group = config.group(group_name) if group_name else None
    engineer = escalation_target(ticket, group, config)
    if group is not None:
        ticket.group = group.name
    add_event(
        ticket,
        acting.now,
        acting.actor,
        "escalated",
        group=ticket.group,
        reason=reason,
        to=engineer.email if engineer else None,
    )
    if engineer is None:
        return
    reassign(ticket, engineer, reason, acting)
    supervisor = config.supervisor_of(ticket.group)
    if supervisor is not None and supervisor.email != engineer.email:
        notify_staff(
            ticket,
            "escalation",
            acting.mail,
            supervisor,
            acting.now,
            acting.services,
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
    known: list[dict[str, Any]] | None = None,
) -> None:
    """Record the assignment, mail the engineer the whole ticket (with the knowledge-base
    articles that match it), alert the supervisor.

    ``problem`` is the request's text as staff may see it (without a caller's whole phone
    number from a service-desk registration).
    """
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
        files, kept = _forwarded(accepted, services)
        notify_staff(
            ticket,
            "assignment",
            mail,
            engineer,
            now,
            services,
            files=files,
            kept_files=kept,
            original=problem,
            known=known or [],
        )
    if ticket.priority in URGENT:
        _alert_supervisor(ticket, mail, now, services, problem)


def _forwarded(
    accepted: tuple[ParsedAttachment, ...], services: Services
) -> tuple[tuple[tuple[str, str, bytes], ...], list[str]]:
    """The request's files attached to the handler's mail, within ``[limits] forward_mb`` in
    all (read back from the store: a parse worker hands back no bytes), and the names of those
    left with the ticket."""
    room = services.config.limits.forward_mb * 1024 * 1024
    files: list[tuple[str, str, bytes]] = []
    kept: list[str] = []
    for a in (a for a in accepted if not a.inline):
        if a.size > room:
            kept.append(a.filename)
            continue
        room -= a.size
        data = a.data or (services.store.get(a.digest) if a.digest else b"")
        files.append((a.filename, a.content_type, data))
    return tuple(files), kept


def _alert_supervisor(
    ticket: Ticket, mail: InboundMail, now: dt.datetime, services: Services, problem: str
) -> None:
    """Urgent and high tickets: the supervisor on duty (else the group's) is told at once."""
    config = services.config
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
    notify_staff(ticket, "supervisor_alert", mail, supervisor, now, services, original=problem)


def supervisors(ticket: Ticket, now: dt.datetime, config: Config) -> list[Person]:
    """On duty for urgent and high, else the group's; with neither, every supervisor."""
    found = None
    if ticket.priority in URGENT:
        on_call = on_duty(config.duty, now.astimezone(config.support.tz))
        found = config.person(on_call) if on_call else None
    found = found or config.supervisor_of(ticket.group)
    if found is not None:
        return [found]
    return [p for p in config.people if p.role == "supervisor"]


def unowned(
    ticket: Ticket, mail: InboundMail, why: str, now: dt.datetime, services: Services, problem: str
) -> None:
    """No group takes the ticket. Nobody owns it, the surest way to miss its deadline: an
    urgent or high one alerts the supervisor on duty, else every supervisor."""
    config = services.config
    if config.groups:  # a desk without groups does not route; nothing went wrong
        add_event(ticket, now, "system", "unassigned", group=None, reason=why)
    if ticket.priority not in URGENT:
        return
    told = supervisors(ticket, now, config)  # no group: on duty, else every supervisor
    if not told and config.groups:
        add_event(ticket, now, "system", "supervisor_not_notified", reason="no supervisor")
    for supervisor in told:
        notify_staff(ticket, "supervisor_alert", mail, supervisor, now, services, original=problem)
