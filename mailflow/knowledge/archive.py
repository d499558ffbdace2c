"""Spec step 6's archive: a ticket's correspondence, files, diagnosis and solution, filed under
its category and linked to the articles it produced.

``export`` writes ``<out>/<category>/<number>/``: ``<number>.mbox`` (every mail exactly as
received or sent, readable by any mbox reader), ``attachments/`` and ``summary.md`` (the
record, the diagnosis from the internal notes, the solution from the reply that resolved it,
the correspondence, the history and the articles).
"""

from __future__ import annotations

import datetime as dt
import email.message
import email.utils
import mailbox
import re
from pathlib import Path

from mailflow.knowledge.drafting import texts
from mailflow.store.articles import Article, ArticleLink
from mailflow.store.blobs import BlobStore
from mailflow.store.models import Attachment, Event, Message, Outbox, Ticket, aware, iso

UNFILED = "uncategorised"


def folder_of(ticket: Ticket) -> str:
    """The category folder a ticket is filed under."""
    return _safe(ticket.category or UNFILED)


def export(ticket: Ticket, out: Path, store: BlobStore, tz: dt.tzinfo) -> Path:
    """Write ``ticket``'s archive under ``out``; its folder."""
    target = out / folder_of(ticket) / ticket.number
    (target / "attachments").mkdir(parents=True, exist_ok=True)
    messages = list(ticket.messages.order_by(Message.created_at, Message.id))
    box_path = target / f"{ticket.number}.mbox"
    box_path.unlink(missing_ok=True)  # written whole each time, never appended twice
    box = mailbox.mbox(str(box_path), create=True)
    try:
        box.lock()
        for message in messages:
            box.add(_mbox_message(message, store))
        box.flush()
    finally:
        box.unlock()
        box.close()
    files = _write_attachments(messages, target / "attachments", store)
    (target / "summary.md").write_text(summary(ticket, messages, files, tz), encoding="utf-8")
    return target


def _mbox_message(message: Message, store: BlobStore) -> mailbox.mboxMessage:
    raw = _raw(message, store)
    entry = mailbox.mboxMessage(raw) if raw else mailbox.mboxMessage(_rebuilt(message))
    sender = message.from_addr or "MAILER-DAEMON"
    entry.set_from(sender, aware(message.created_at).timetuple())
    return entry


def _raw(message: Message, store: BlobStore) -> bytes | None:
    if message.direction == "in" and message.raw_sha256:
        try:
            return store.get(message.raw_sha256)
        except Exception:
            return None
    row = Outbox.get_or_none(Outbox.message == message.id)
    if row is None:
        return None
    return store.get(row.mime_sha256) if row.mime_sha256 else bytes(row.mime)


def _rebuilt(message: Message) -> email.message.EmailMessage:
    """A mail rebuilt from what was stored of it (its raw bytes are gone)."""
    built = email.message.EmailMessage()
    built["From"] = message.from_addr or "unknown@invalid"
    if message.to:
        built["To"] = ", ".join(message.to)
    built["Subject"] = message.subject
    built["Date"] = email.utils.format_datetime(aware(message.created_at))
    if message.message_id:
        built["Message-ID"] = message.message_id
    built["X-Mailflow-Rebuilt"] = "raw bytes not kept; rebuilt from the ticket record"
    built.set_content(message.full_text or message.text)
    return built


def _write_attachments(
    messages: list[Message], folder: Path, store: BlobStore
) -> list[tuple[str, int]]:
    written: list[tuple[str, int]] = []
    taken: set[str] = set()
    ids = [m.id for m in messages]
    for item in Attachment.select().where(Attachment.message.in_(ids)).order_by(Attachment.id):
        name = _unique(_safe(item.filename) or "attachment", taken)
        try:
            (folder / name).write_bytes(store.get(item.sha256))
        except Exception:
            name += " (missing from the store)"
        written.append((name, item.size))
    return written


def _unique(name: str, taken: set[str]) -> str:
    stem, dot, ext = name.rpartition(".")
    candidate, n = name, 1
    while candidate in taken:
        n += 1
        candidate = f"{stem} ({n}).{ext}" if dot else f"{name} ({n})"
    taken.add(candidate)
    return candidate


def _safe(name: str) -> str:
    return re.sub(r"[\\/\x00-\x1f]", "_", name).strip().lstrip(".")


def summary(
    ticket: Ticket, messages: list[Message], files: list[tuple[str, int]], tz: dt.tzinfo
) -> str:
    """The archive's Markdown summary."""
    events = list(ticket.events.order_by(Event.at, Event.id))
    by_id = {m.id: m for m in messages}
    lines = [
        f"# {ticket.number} {ticket.subject}",
        "",
        f"- Category: {ticket.category or UNFILED}",
        f"- Priority: {ticket.priority}",
        f"- Status: {ticket.status}",
        f"- Requester: {ticket.requester_name} <{ticket.requester_email}>".replace(" <", " <", 1),
        f"- Group: {ticket.group or '-'}; handler: {ticket.assignee or '-'}",
        f"- Submitted: {iso(ticket.submitted_at, tz)}",
        f"- First response: {iso(ticket.first_response_at, tz) or '-'}",
        f"- Resolved: {iso(ticket.resolved_at, tz) or '-'}",
        f"- Closed: {iso(ticket.closed_at, tz) or '-'}",
        f"- Rating: {ticket.rating or '-'} {ticket.rating_comment}".rstrip(),
        "",
        "## Diagnosis",
        "",
        "\n\n".join(texts(events, by_id, "internal_note")) or "(no internal notes)",
        "",
        "## Solution",
        "",
        _solution(events, by_id) or "(no reply recorded the solution)",
        "",
        "## Knowledge base",
        "",
        *_articles(ticket.number),
        "",
        "## Correspondence",
        "",
        *[
            f"- {iso(m.created_at, tz)} {'→' if m.direction == 'out' else '←'} "
            f"{m.from_addr}: {m.subject}"
            for m in messages
        ],
        "",
        "## Attachments",
        "",
        *([f"- attachments/{name} ({size} bytes)" for name, size in files] or ["(none)"]),
        "",
        "## History",
        "",
        *[f"- {iso(e.at, tz)} {e.actor}: {e.kind}" for e in events],
        "",
    ]
    return "\n".join(lines)


def _solution(events: list[Event], by_id: dict[int, Message]) -> str:
    """The last public reply up to the moment the ticket was resolved (the reply that resolves
    it is recorded just after its status change, at the same moment)."""
    resolved = next(
        (
            e
            for e in reversed(events)
            if e.kind == "status_changed" and e.data.get("after") == "resolved"
        ),
        None,
    )
    until = [e for e in events if resolved is None or e.at <= resolved.at]
    replies = texts(until, by_id, "public_reply")
    last = replies[-1] if replies else ""
    if not last and resolved is not None:
        return str(resolved.data.get("reason", ""))
    return last


def _articles(number: str) -> list[str]:
    rows = (
        ArticleLink.select(ArticleLink, Article)
        .join(Article)
        .where(ArticleLink.ticket_number == number)
        .order_by(ArticleLink.relation, Article.id)
    )
    lines = [f"- KB-{r.article.id} {r.article.title} ({r.relation})" for r in rows]
    return lines or ["(none)"]
