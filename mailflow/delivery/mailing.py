"""Mail about a ticket: what templates see, and rendering a template into the outbox."""

from __future__ import annotations

import datetime as dt
import urllib.parse
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from mailflow.config import Config, Person
from mailflow.delivery import outbox
from mailflow.delivery.masking import mask_name, mask_phone
from mailflow.delivery.mime import OutgoingMail
from mailflow.delivery.rendering import Renderer
from mailflow.mail.addresses import Address
from mailflow.mail.attachments import ParsedAttachment
from mailflow.mail.parsing import InboundMail
from mailflow.services import MB, Services
from mailflow.spec import RATINGS
from mailflow.store import ids
from mailflow.store.models import Ticket
from mailflow.store.rows import add_event


def ticket_context(ticket: Ticket, config: Config) -> dict[str, Any]:
    """What templates see of a ticket (the handler's name masked, as requesters see it)."""
    targets = (ticket.sla or {}).get("targets") or {}
    fallback = config.sla.target(ticket.priority, ticket.group, ticket.category)
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
        "respond_minutes": targets.get("respond", {}).get("minutes", fallback.respond_minutes),
        "resolve_minutes": targets.get("resolve", {}).get("minutes", fallback.resolve_minutes),
        "business_hours": targets.get("respond", {}).get("clock", fallback.clock) == "business",
        "handler": mask_name(handler.name) if handler else None,
        # Shown to requesters only where the desk chose to ([support] show_handler_address).
        "handler_address": handler.email
        if handler and config.support.show_handler_address
        else None,
        "handler_name": handler.name if handler else None,
        "category": ticket.category,
        "group": ticket.group,
        "phone": mask_phone(ticket.phone),
        "department": ticket.department,
        "channel": ticket.channel,
        "mailbox": ticket.mailbox,
    }


def base_context(config: Config, ticket: dict[str, Any]) -> dict[str, Any]:
    """What every template sees: the ticket, its tag, the support desk, the limits."""
    limits = config.limits
    return {
        "ticket": ticket,
        "tag": ids.tag(ticket["number"]),
        "support": dict(zip(("name", "address"), config.desk(ticket.get("mailbox")), strict=True)),
        "refused": [],
        "original": "",
        "files": [],
        "errors": [],
        "reply": "",
        "reason": "",
        "comment": "",
        "sla": {
            "clock": "respond",
            "level": "warning",
            "deadline": None,
            "target_minutes": 0,
            "business": False,
            "percent": 0,
            "overrun_minutes": 0,
            "escalated_to": "",
        },
        "alarm": {"years": [], "detail": ""},
        "names": [],
        "known": [],  # knowledge-base articles matched to the ticket (assignment mail)
        "offered": [],  # the one offered to the requester (acknowledgement)
        "article": {
            "id": 0,
            "title": "",
            "category": "",
            "keywords": [],
            "symptoms": "",
            "cause": "",
            "steps": "",
            "status": "draft",
        },
        "reviewer": False,
        # Only the survey mail shows them; most mails never look, so they are made on first use.
        "links": _Lazy(lambda: survey_links(config, ticket["number"])),
        "ratings": RATINGS,
        "process": {"confirm_days": config.confirm_days, "reopen_days": config.reopen_days},
        "limits": {
            "each_mb": limits.max_attachment_mb,
            "total_mb": limits.max_attachments_total_mb,
            "count": limits.max_attachments,
        },
    }


class _Lazy(Mapping[int, str]):
    """A mapping built on first use."""

    def __init__(self, make: Callable[[], dict[int, str]]) -> None:
        self._make = make
        self._data: dict[int, str] | None = None

    def _get(self) -> dict[int, str]:
        if self._data is None:
            self._data = self._make()
        return self._data

    def __getitem__(self, key: int) -> str:
        return self._get()[key]

    def __iter__(self) -> Iterator[int]:
        return iter(self._get())

    def __len__(self) -> int:
        return len(self._get())


def check_templates(config: Config, now: dt.datetime) -> None:
    """Render every kind of mail in every language for a sample ticket; TemplateError if one fails.

    Run before any mail is handled, so that a broken operator template stops mailflow at start
    instead of quarantining mail later. A function of the config alone, so the sending process
    can run it while the main process logs in to the mailbox.
    """
    sample = sample_ticket(f"{config.support.ticket_prefix}20000101001", now)
    Renderer(config.templates_path, config.support.tz).check_templates(base_context(config, sample))


def sample_ticket(number: str, now: dt.datetime) -> dict[str, Any]:
    """What templates see of a ticket, for a made-up new one (checks, previews, tests)."""
    return {
        "number": number,
        "subject": "sample",
        "priority": "medium",
        "status": "new",
        "requester_name": "",
        "requester_email": "someone@example.com",
        "submitted_at": now,
        "respond_by": now,
        "resolve_by": now,
        "respond_minutes": 15,
        "resolve_minutes": 120,
        "business_hours": True,
        "handler": None,
        "handler_address": None,
        "handler_name": None,
        "category": None,
        "group": None,
        "phone": "",
        "department": "",
        "channel": "email",
    }


def survey_links(config: Config, number: str) -> dict[int, str]:
    """mailto: links that prepare a survey answer (subject with the tag, body the level)."""
    return {
        level: f"mailto:{config.support.address}?"
        + urllib.parse.urlencode(
            {"subject": f"{ids.tag(number)} {word}", "body": str(level)},
            quote_via=urllib.parse.quote,
        )
        for level, word in RATINGS.items()
    }


def note_refused(
    ticket: Ticket, refused: tuple[tuple[ParsedAttachment, str], ...], now: dt.datetime
) -> None:
    """Record the attachments that were over the limits."""
    if refused:
        add_event(
            ticket,
            now,
            "system",
            "attachments_refused",
            files=[{"filename": a.filename, "size": a.size, "reason": why} for a, why in refused],
        )


def acknowledge(
    ticket: Ticket,
    mail: InboundMail,
    requester: Address,
    now: dt.datetime,
    services: Services,
    refused: tuple[tuple[ParsedAttachment, str], ...] = (),
    offered: list[dict[str, Any]] | None = None,
) -> None:
    send_template(
        ticket, "acknowledgement", mail, requester, now, services, refused, offered=offered or []
    )


def notify_staff(
    ticket: Ticket,
    kind: str,
    mail: InboundMail | None,
    person: Person,
    now: dt.datetime,
    services: Services,
    auto_submitted: str = "auto-generated",
    **extra: Any,
) -> None:
    """Mail ``kind`` to an engineer or supervisor, in the support desk's own language."""
    send_template(
        ticket,
        kind,
        mail,
        Address(person.name, person.email),
        now,
        services,
        language=services.config.support.language,
        auto_submitted=auto_submitted,
        **extra,
    )


def send_template(
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
        {"filename": a.filename, "size_mb": round(a.size / MB, 1), "reason": why}
        for a, why in refused
    ]
    rendered = services.renderer.render(kind, language or ticket.language, context)
    outgoing = OutgoingMail(
        sender=Address(*config.desk(ticket.mailbox)),
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
    message = outbox.queue(outgoing, kind, ticket, now, services.token(), services.store)
    add_event(ticket, now, "system", f"{kind}_queued", message=message, to=to.email)
