"""Printing what the demo did: each ticket's timeline from its events, and the mails it wrote."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mailflow.config import Config
from mailflow.mail.parsing import parse
from mailflow.store.models import Event, Ticket, aware

# The event data worth a glance, in this order; the rest is in `ticket show --json`.
SHOWN = (
    "to", "requester", "department", "phone", "priority", "category", "group", "before",
    "after", "rating", "label", "reason",
)  # fmt: skip


def print_timelines(config: Config) -> None:
    """Every ticket: what it is now, then its events in order, then the mails it wrote."""
    sent = _sent_mails(config.smtp.path / "new")
    for ticket in Ticket.select().order_by(Ticket.id):
        print(
            f"\n{ticket.number}  {ticket.subject}\n"
            f"  {ticket.priority} · {ticket.category or '-'} · {ticket.group or '-'} · "
            f"handler {ticket.assignee or '-'} · {ticket.status} · "
            f"requester {ticket.requester_email}"
        )
        for event in Event.select().where(Event.ticket == ticket).order_by(Event.id):
            if event.kind == "mail_sent" or event.kind.endswith("_queued"):
                continue  # shown below, with the mail itself
            when = aware(event.at).astimezone(config.support.tz).strftime("%m-%d %H:%M")
            print(f"    {when}  {event.kind:<24} {_details(event.data)}  ({event.actor})")
        for path, to, subject in sent.get(str(ticket.number), []):
            print(f"    mail → {to}: {subject}\n           {path}")


def _details(data: dict[str, Any]) -> str:
    parts = []
    for key in SHOWN:
        value = data.get(key)
        if value not in (None, "", []):
            parts.append(f"{key}={value}")
    return " ".join(parts)[:110]


def _sent_mails(folder: Path) -> dict[str, list[tuple[Path, str, str]]]:
    """The outgoing Maildir's mails by the ticket they belong to (X-Mailflow-Ticket)."""
    found: dict[str, list[tuple[Path, str, str]]] = {}
    if not folder.is_dir():
        return found
    for path in sorted(folder.iterdir()):
        mail = parse(path.read_bytes())
        number = mail.headers.get("x-mailflow-ticket", "").upper()
        to = ", ".join(a.email for a in mail.to)
        found.setdefault(number, []).append((path, to, mail.subject))
    return found
