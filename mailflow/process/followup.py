"""A mail added to an existing ticket: an engineer's reply (step 4, when it carries authority) or a
requester's answer (step 5: more detail, confirmation, survey), recorded either way."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from mailflow.delivery.mailing import note_refused, send_template
from mailflow.mail.addresses import Address
from mailflow.mail.loops import Verdict
from mailflow.mail.parsing import InboundMail
from mailflow.mail.trust import why_untrusted
from mailflow.process.confirmation import requester_reply
from mailflow.process.engineers import refuse_unverified, staff_reply
from mailflow.process.intake import why_no_auto_reply
from mailflow.process.records import store_inbound
from mailflow.process.service_levels import keep
from mailflow.services import Services
from mailflow.store.models import Ticket, utc
from mailflow.store.rows import add_event

if TYPE_CHECKING:  # the pipeline hands its prepared mail down; nothing here imports it
    from mailflow.pipeline.preparing import Prepared


def add(
    item: Prepared,
    mail: InboundMail,
    number: str,
    reason: str,
    verdict: Verdict,
    now: dt.datetime,
    services: Services,
) -> tuple[Ticket, int]:
    """File ``mail`` on ticket ``number`` and act on it; the ticket and the message's id."""
    assert mail.sender is not None
    ticket = Ticket.get(Ticket.number == number)
    stored = store_inbound(
        ticket,
        mail,
        item.raw.source_ref,
        now,
        reply=True,
        accepted=item.accepted,
        digests=item.digests,
    )
    note_refused(ticket, item.refused, now)
    if item.refused:
        sender = Address(mail.sender.name, mail.sender.email)
        why_not = why_no_auto_reply(verdict, sender, now, services.config)
        if why_not:
            add_event(ticket, now, "system", "notice_suppressed", reason=why_not)
        else:
            send_template(ticket, "attachments_refused", mail, sender, now, services, item.refused)
    ticket.updated_at = utc(now)
    add_event(ticket, now, mail.sender.email, "followup", message=stored, reason=reason)
    person = services.config.person(mail.sender.email)
    if person is not None and person.role in ("engineer", "supervisor"):
        why_not = why_untrusted(mail, services.config.authserv_id)
        if why_not:
            refuse_unverified(ticket, mail, person, why_not, now, services)
        else:
            staff_reply(ticket, mail, person, stored, now, services)
    else:
        requester_reply(ticket, mail, now, services)
    keep(ticket, now, services)
    ticket.save()
    return ticket, stored
