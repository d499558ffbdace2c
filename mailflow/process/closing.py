"""Spec step 6: a ticket closed (confirmed by its requester, or silent for ``confirm_days``
after resolution) with the satisfaction survey; a closed ticket is the archive, and a reply long
after closing starts a new ticket instead of reopening it."""

from __future__ import annotations

import datetime as dt

from mailflow.config import Config
from mailflow.delivery.mailing import send_template
from mailflow.mail.addresses import Address
from mailflow.mail.parsing import InboundMail
from mailflow.process.service_levels import keep
from mailflow.services import Services
from mailflow.spec import RATINGS, RATINGS_EN
from mailflow.store.database import claim, transaction
from mailflow.store.models import Ticket, aware, utc
from mailflow.store.rows import add_event


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


def close_silent(now: dt.datetime, services: Services) -> list[str]:
    """Close resolved tickets whose requester stayed silent for ``confirm_days`` (with survey)."""
    limit = utc(now - dt.timedelta(days=services.config.confirm_days))
    closed = []
    with transaction(services.db):
        # Every daemon runs this job: on PostgreSQL a ticket one is closing is skipped by
        # the others, so the requester gets one survey.
        for ticket in claim(
            Ticket.select().where((Ticket.status == "resolved") & (Ticket.resolved_at <= limit))
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
            keep(ticket, now, services)
            ticket.save()
            closed.append(ticket.number)
    return closed
