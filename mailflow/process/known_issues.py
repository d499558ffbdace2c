"""Spec step 2's known issues: a new request searched against the published articles, the
matches linked to the ticket and listed for its handler, the best one offered to the requester
([kb] offer_to_requester), and the requester's answer to it.

"已解决 / solved" in answer to offered steps resolves and closes the ticket through the normal
confirmation path (survey included) and counts as a help for the article; "没解决 / did not
help" is recorded and the ticket goes on to its handler as any follow-up does.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from mailflow.knowledge.library import link
from mailflow.knowledge.search import Hit, search
from mailflow.mail.parsing import InboundMail
from mailflow.process.answers import confirmation
from mailflow.process.closing import close
from mailflow.services import Services
from mailflow.store.articles import Article, ArticleLink
from mailflow.store.models import Ticket, utc
from mailflow.store.rows import add_event


def match_new(ticket: Ticket, text: str, now: dt.datetime, services: Services) -> list[Hit]:
    """The articles that answer a new ticket's request, linked to it (with an event)."""
    kb = services.config.kb
    if not kb.match_new_tickets or kb.max_linked == 0:
        return []
    hits = [h for h in search(f"{ticket.subject}\n{text}", kb, limit=kb.max_linked) if h.match]
    for hit in hits:
        link(hit.id, ticket.number, "linked", now, hit.score)
    if hits:
        add_event(
            ticket,
            now,
            "system",
            "kb_linked",
            articles=[{"id": h.id, "title": h.title, "score": h.score} for h in hits],
        )
    return hits


def offer(ticket: Ticket, hits: list[Hit], now: dt.datetime, services: Services) -> Hit | None:
    """The article whose steps the acknowledgement offers the requester, if any."""
    if not hits or not services.config.kb.offer_to_requester:
        return None
    best = hits[0]
    link(best.id, ticket.number, "offered", now, best.score)
    add_event(ticket, now, "system", "kb_offered", article=best.id, title=best.title)
    return best


def as_context(hits: list[Hit]) -> list[dict[str, Any]]:
    """What templates see of matched articles."""
    return [
        {"id": h.id, "title": h.title, "steps": h.steps, "score": h.score, "category": h.category}
        for h in hits
    ]


def answered(
    ticket: Ticket, mail: InboundMail, text: str, now: dt.datetime, services: Services
) -> bool:
    """A requester's answer to offered steps; True when it settled the ticket."""
    offered = _open_offer(ticket.number)
    if offered is None:
        return False
    assert mail.sender is not None
    meaning = confirmation(text, strict=True)
    if meaning == "other":
        return False
    article_id = offered.article_id
    actor = mail.sender.email
    if meaning == "no":
        link(article_id, ticket.number, "not_helped", now)
        add_event(ticket, now, actor, "kb_not_helped", article=article_id)
        return False
    link(article_id, ticket.number, "helped", now)
    add_event(ticket, now, actor, "kb_helped", article=article_id)
    before = ticket.status
    ticket.status = "resolved"
    ticket.resolved_at = utc(now)
    add_event(
        ticket,
        now,
        actor,
        "status_changed",
        before=before,
        after="resolved",
        reason=f"the requester says the steps of article {article_id} solved it",
    )
    title = Article.get_by_id(article_id).title
    close(
        ticket, now, services, actor, f"solved by known-issue article {article_id}: {title}", mail
    )
    return True


def _open_offer(number: str) -> ArticleLink | None:
    """The offer a requester has not answered yet."""
    offer_row: ArticleLink | None = (
        ArticleLink.select()
        .where((ArticleLink.ticket_number == number) & (ArticleLink.relation == "offered"))
        .order_by(ArticleLink.at.desc())
        .first()
    )
    if offer_row is None:
        return None
    answered_before = ArticleLink.select().where(
        (ArticleLink.ticket_number == number) & (ArticleLink.relation.in_(("helped", "not_helped")))
    )
    return None if answered_before.exists() else offer_row
