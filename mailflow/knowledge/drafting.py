"""An article drafted from a solved ticket (spec step 6: file the diagnosis and solution).

The draft takes the symptoms from the request (quoted history and signature left out), the
steps the staff recorded on the ticket (their replies and internal notes, in order), the
resolution text, and the ticket's files. It stays a draft, out of the search index, until a
supervisor publishes it.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter

from mailflow.knowledge.index import reindex
from mailflow.knowledge.library import link
from mailflow.knowledge.terms import CJK_STOP_WORDS, STOP_WORDS, terms
from mailflow.mail.quoting import trim_tail, visible_text
from mailflow.store.articles import Article, ArticleFile
from mailflow.store.models import Attachment, Event, Message, Ticket, utc

SYMPTOMS_MAX = 2000
FILES_MAX = 20 * 1024 * 1024  # bytes of ticket files copied onto a draft
KEYWORDS = 6


def draft(
    ticket: Ticket,
    title: str,
    author: str,
    now: dt.datetime,
    segmenter: str,
    resolution: str = "",
) -> Article:
    """A draft article from ``ticket`` (caller's transaction); ``resolution`` is the text of
    the reply that solves it when that reply is being handled now."""
    messages = list(ticket.messages.order_by(Message.created_at, Message.id))
    events = list(ticket.events.order_by(Event.at, Event.id))
    by_id = {m.id: m for m in messages}
    request = next((m for m in messages if m.direction == "in" and m.kind == "mail"), None)
    symptoms = _symptoms(request) if request else ticket.subject
    recorded = texts(events, by_id, "public_reply")
    if resolution.strip():
        recorded.append(resolution.strip())
    article = Article.create(
        status="draft",
        category=ticket.category or "",
        title=title.strip() or ticket.subject,
        symptoms=symptoms,
        cause="\n\n".join(texts(events, by_id, "internal_note")),  # the diagnosis
        steps=_steps(recorded, ticket.number),
        keywords=_keywords(f"{ticket.subject}\n{title}", segmenter),
        author=author,
        created_at=utc(now),
        updated_at=utc(now),
    )
    _copy_files(article, messages)
    reindex(article, segmenter)
    link(article.id, ticket.number, "source", now)
    return article


def _symptoms(message: Message) -> str:
    text = visible_text(message.full_text or message.text, message.html, message.subject)
    text = trim_tail(text).strip()
    return text[:SYMPTOMS_MAX] or message.subject


def texts(events: list[Event], by_id: dict[int, Message], kind: str) -> list[str]:
    """What staff wrote in the events of ``kind`` (public replies, internal notes), in order:
    the stored message's text, or the event's own for what came from the command line."""
    found = []
    for event in events:
        if event.kind == kind:
            message = by_id.get(event.data.get("message") or 0)
            text = (message.text if message else event.data.get("text", "")).strip()
            if text:
                found.append(text)
    return found


def _steps(recorded: list[str], number: str) -> str:
    if not recorded:
        return f"(Write the solution steps here; nothing was recorded on {number}.)"
    parts = [f"{index}. {_indent(text)}" for index, text in enumerate(recorded, start=1)]
    return "\n".join(parts)


def _indent(text: str) -> str:
    # A reply of several lines stays one list item in Markdown.
    return "\n   ".join(line.rstrip() for line in text.splitlines())


def _keywords(text: str, segmenter: str) -> list[str]:
    found = Counter(
        t
        for t in terms(text, "bigram" if segmenter == "bigram" else "jieba")
        if t not in STOP_WORDS and t not in CJK_STOP_WORDS
    )
    return [t for t, _ in found.most_common(KEYWORDS)]


def _copy_files(article: Article, messages: list[Message]) -> None:
    total = 0
    seen: set[str] = set()
    ids = [m.id for m in messages if m.kind == "mail"]
    for item in Attachment.select().where(Attachment.message.in_(ids) & ~Attachment.inline):
        if item.sha256 in seen or total + item.size > FILES_MAX:
            continue
        seen.add(item.sha256)
        total += item.size
        ArticleFile.create(
            article=article,
            filename=item.filename,
            content_type=item.content_type,
            size=item.size,
            sha256=item.sha256,
        )
