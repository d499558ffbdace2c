"""Spec step 5: the requester confirms (or not) and rates; a reply reopens a ticket that is not
solved. Closing itself is ``closing``."""

from __future__ import annotations

import datetime as dt

from mailflow.delivery.mailing import notify_staff
from mailflow.mail.parsing import InboundMail
from mailflow.mail.quoting import visible_text
from mailflow.process.answers import confirmation, rating
from mailflow.process.closing import close
from mailflow.process.known_issues import answered
from mailflow.services import Services
from mailflow.spec import RATINGS
from mailflow.store.models import Ticket, utc
from mailflow.store.rows import add_event


def requester_reply(
    ticket: Ticket, mail: InboundMail, now: dt.datetime, services: Services
) -> None:
    """What a requester's reply does to the ticket's state (spec steps 5 and 6)."""
    assert mail.sender is not None
    text = visible_text(mail.text, mail.html, mail.subject)
    actor = mail.sender.email
    if ticket.status not in ("resolved", "closed") and answered(ticket, mail, text, now, services):
        return  # the known-issue steps of the acknowledgement solved it
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
    else:
        tell_handler(ticket, mail, text, now, services)


def tell_handler(
    ticket: Ticket, mail: InboundMail, text: str, now: dt.datetime, services: Services
) -> None:
    """More from the requester on an open ticket: its handler (else the group's supervisor)
    gets the whole visible answer, with the names of the files that came with it."""
    config = services.config
    person = config.person(ticket.assignee) if ticket.assignee else None
    person = person or config.supervisor_of(ticket.group)
    if person is None:
        return
    files = [a.filename for a in mail.attachments if not a.inline]
    notify_staff(ticket, "followup", mail, person, now, services, original=text, names=files)


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
            original=visible_text(mail.text, mail.html, mail.subject) if mail else "",
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
