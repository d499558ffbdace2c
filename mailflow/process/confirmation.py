"""The end of a ticket (spec steps 5 and 6): confirmation, survey, reopening, closing."""

from __future__ import annotations

import datetime as dt

from mailflow.config import Config
from mailflow.delivery.mailing import notify_staff, send_template
from mailflow.mail.addresses import Address
from mailflow.mail.parsing import InboundMail
from mailflow.mail.quoting import visible_text
from mailflow.process.answers import confirmation, rating
from mailflow.services import Services
from mailflow.spec import RATINGS, RATINGS_EN
from mailflow.store.database import transaction
from mailflow.store.models import Ticket, aware, utc
from mailflow.store.rows import add_event


def closed_beyond_window(number: str, now: dt.datetime, config: Config) -> str:
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


def requester_reply(
    ticket: Ticket, mail: InboundMail, now: dt.datetime, services: Services
) -> None:
    """What a requester's reply does to the ticket's state (spec steps 5 and 6)."""
    assert mail.sender is not None
    text = visible_text(mail.text)
    actor = mail.sender.email
    if ticket.status == "resolved":
        meaning = confirmation(text)
        if meaning == "yes":
            close(ticket, now, services, actor, "confirmed by the requester", mail)
        else:
            why = (
                "the requester says it is not solved"
                if meaning == "no"
                else ("the requester wrote more about the problem")
            )
            reopen(ticket, now, services, actor, why, mail)
    elif ticket.status == "closed":
        answer = rating(text)
        if answer is not None:
            rate(ticket, answer, now, services, actor, mail)
        else:
            reopen(ticket, now, services, actor, "the requester wrote again after closing", mail)
    elif ticket.status == "waiting":
        reopen(ticket, now, services, actor, "the requester answered", mail)


def reopen(
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
        notify_staff(
            ticket,
            "reopened",
            mail,
            handler,
            now,
            services,
            reason=why,
            original=mail.text if mail else "",
        )


def close(
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
    send_template(
        ticket,
        "survey",
        mail,
        requester,
        now,
        services,
        ratings=RATINGS if ticket.language == "zh_CN" else RATINGS_EN,
    )


def rate(
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
        supervisor = services.config.supervisor_of(ticket.group)
        if supervisor is not None:
            notify_staff(
                ticket,
                "rating_alert",
                mail,
                supervisor,
                now,
                services,
                comment=comment,
            )


def close_silent(now: dt.datetime, services: Services) -> list[str]:
    """Close resolved tickets whose requester stayed silent for ``confirm_days`` (with survey)."""
    limit = utc(now - dt.timedelta(days=services.config.confirm_days))
    closed = []
    with transaction(services.db):
        for ticket in Ticket.select().where(
            (Ticket.status == "resolved") & (Ticket.resolved_at <= limit)
        ):
            close(
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
