"""Solved tickets filed as knowledge (spec step 6): ``KB: title`` in the reply that resolves a
ticket (or ``mailflow kb from-ticket``) drafts an article and mails it to its author and the
group's supervisor; ``Publish: yes`` from the supervisor (or ``mailflow kb publish``) puts it
in the search index."""

from __future__ import annotations

import datetime as dt

from mailflow.config import Config, Person
from mailflow.delivery.mailing import notify_staff
from mailflow.knowledge.drafting import draft
from mailflow.knowledge.library import set_status
from mailflow.mail.parsing import InboundMail
from mailflow.services import Services
from mailflow.store.articles import Article, ArticleLink
from mailflow.store.models import Ticket
from mailflow.store.rows import add_event


def file_draft(
    ticket: Ticket,
    title: str,
    author: Person,
    resolution: str,
    now: dt.datetime,
    services: Services,
    mail: InboundMail | None = None,
) -> Article:
    """Draft an article from ``ticket`` and mail it for review (caller's transaction)."""
    config = services.config
    article = draft(ticket, title, author.email, now, config.kb.segmenter, resolution)
    add_event(ticket, now, author.email, "kb_drafted", article=article.id, title=article.title)
    shown = article_context(article)
    notify_staff(ticket, "kb_draft", mail, author, now, services, article=shown, reviewer=False)
    supervisor = reviewer_of(ticket, config)
    if supervisor is not None and supervisor.email != author.email:
        notify_staff(
            ticket, "kb_draft", mail, supervisor, now, services, article=shown, reviewer=True
        )
    return article


def reviewer_of(ticket: Ticket, config: Config) -> Person | None:
    """Who publishes drafts from ``ticket``: its group's supervisor."""
    return config.supervisor_of(ticket.group)


def may_publish(person: Person, ticket: Ticket, config: Config) -> bool:
    """The group's supervisor; any supervisor when the group has none."""
    reviewer = reviewer_of(ticket, config)
    if reviewer is not None:
        return reviewer.email == person.email
    return person.role == "supervisor"


def drafts_of(number: str) -> list[Article]:
    """The draft articles made from ticket ``number``."""
    sourced = ArticleLink.select(ArticleLink.article).where(
        (ArticleLink.ticket_number == number) & (ArticleLink.relation == "source")
    )
    return list(Article.select().where(Article.id.in_(sourced) & (Article.status == "draft")))


def publish(
    ticket: Ticket | None, article: Article, actor: str, now: dt.datetime, services: Services
) -> None:
    """Put ``article`` in the search index, recorded on the ticket it came from."""
    set_status(article, "published", actor, now, services.config.kb.segmenter)
    if ticket is not None:
        add_event(ticket, now, actor, "kb_published", article=article.id, title=article.title)


def article_context(article: Article) -> dict[str, object]:
    """What templates see of an article."""
    return {
        "id": article.id,
        "title": article.title,
        "category": article.category,
        "symptoms": article.symptoms,
        "cause": article.cause,
        "steps": article.steps,
        "keywords": list(article.keywords),
        "status": article.status,
    }
