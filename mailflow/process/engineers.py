"""Engineers and supervisors working a ticket by mail (spec step 4): their replies relayed to the
requester, their commands applied (all or nothing), their notes kept internal."""

from __future__ import annotations

import datetime as dt

from mailflow.config import Person
from mailflow.delivery.mailing import notify_staff, send_template
from mailflow.mail.addresses import Address
from mailflow.mail.parsing import InboundMail
from mailflow.mail.quoting import visible_text
from mailflow.process.articles import file_draft
from mailflow.process.command_lines import CommandLine, split_commands
from mailflow.process.commands import TABLE, Acting, plan
from mailflow.process.service_levels import keep
from mailflow.services import Services
from mailflow.store.models import Message, Ticket, utc
from mailflow.store.rows import add_event


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
    commands, text = split_commands(visible_text(mail.text, mail.html, mail.subject))
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
    lines: list[CommandLine],
    text: str,
    now: dt.datetime,
    services: Services,
    mail: InboundMail | None = None,
    stored: int | None = None,
) -> list[str]:
    """Apply the commands of ``lines`` and pass ``text`` to the requester, as ``person``; by
    mail or from the CLI.

    Returns the reasons when a command cannot apply (and then nothing at all is done).
    """
    changes, errors = plan(lines, ticket, services.config, person)
    written = [line.line for line in lines]
    if errors:
        add_event(ticket, now, person.email, "commands_refused", errors=errors, lines=written)
        return errors
    acting = Acting(person, mail, now, services)
    for change in changes:
        change.apply(ticket, acting)
    internal = any(c.command.key == "internal" and c.value for c in changes)
    if internal or not text:
        kind = "internal_note" if internal else "commands_only"
        extra = {"text": text} if internal and stored is None else {}
        add_event(ticket, now, person.email, kind, message=stored, commands=written, **extra)
    else:
        moved = any(c.command.key == "status" for c in changes)
        _reply_to_requester(ticket, acting, text, moved)
        extra = {"text": text} if stored is None else {}
        add_event(
            ticket, now, person.email, "public_reply", message=stored, commands=written, **extra
        )
    for change in changes:
        if change.command.key == "kb":
            file_draft(ticket, change.value, person, text, now, services, mail)
    ticket.updated_at = utc(now)
    keep(ticket, now, services)
    ticket.save()
    return []


def _reply_to_requester(ticket: Ticket, acting: Acting, text: str, status_set: bool) -> None:
    """A public reply: the ticket is being worked, the first one is the response time, and the
    text goes to the requester and the Cc participants from the support address."""
    if ticket.status in ("new", "assigned") and not status_set:
        TABLE["status"].apply(ticket, "in_progress", acting)
    if ticket.first_response_at is None:
        ticket.first_response_at = utc(acting.now)
        add_event(ticket, acting.now, acting.actor, "first_response")
    send_template(
        ticket,
        "progress",
        acting.mail,
        Address(ticket.requester_name, ticket.requester_email),
        acting.now,
        acting.services,
        reply=text,
        cc=tuple(Address("", a) for a in ticket.cc),
        auto_submitted="no",
    )
