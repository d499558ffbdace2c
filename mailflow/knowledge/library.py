"""Articles written, changed, published and retired, and linked to tickets.

Every function works inside the caller's transaction and keeps the search index in step
(``index.reindex``). Articles are matched on import by ``id``, else by exact title, so a
folder exported from here and edited in git comes back as updates, not duplicates.
"""

from __future__ import annotations

import datetime as dt
import mimetypes
from collections.abc import Mapping

import peewee as pw

from mailflow.errors import InputError
from mailflow.knowledge.index import reindex
from mailflow.knowledge.markdown import ArticleText
from mailflow.store.articles import Article, ArticleFile, ArticleLink
from mailflow.store.blobs import BlobStore
from mailflow.store.models import database_proxy, iso, utc

RELATIONS = ("source", "linked", "offered", "helped", "not_helped")


def find(text: ArticleText) -> Article | None:
    """The stored article a file describes: by id, else by exact title."""
    if text.id is not None:
        found: Article | None = Article.get_or_none(Article.id == text.id)
        return found
    return Article.get_or_none(Article.title == text.title)


def save(
    text: ArticleText,
    now: dt.datetime,
    segmenter: str,
    store: BlobStore,
    files: Mapping[str, bytes] | None = None,
) -> tuple[Article, bool]:
    """Create or update the article ``text`` describes; the row and whether it is new.

    ``files`` (name -> bytes) replaces the article's files when given.
    """
    article = find(text)
    created = article is None
    if article is None:
        article = Article(created_at=_moment(text.created, now))
        if text.id is not None:
            article.id = text.id
    article.title = text.title
    article.category = text.category
    article.keywords = list(text.keywords)
    article.symptoms = text.symptoms
    article.cause = text.cause
    article.steps = text.steps
    article.author = text.author
    article.published_by = text.published_by
    was = article.status if not created else "draft"
    article.status = text.status
    if text.status == "published" and (was != "published" or article.published_at is None):
        article.published_at = utc(now)
    if text.status == "retired" and was != "retired":
        article.retired_at = utc(now)
    article.updated_at = _moment(text.updated, now)
    article.save(force_insert=created)
    if created and text.id is not None:
        _advance_ids()
    reindex(article, segmenter)
    _relink(article, "source", text.from_tickets, now)
    _relink(article, "helped", text.helped_tickets, now)
    if files is not None:
        _refile(article, files, store)
    return article, created


def _advance_ids() -> None:
    """After an insert with an id of its own, PostgreSQL's sequence must move past it, or the
    next article without one collides (SQLite takes the largest id + 1 by itself)."""
    db = database_proxy.obj
    if not isinstance(db, pw.SqliteDatabase):
        db.execute_sql(
            "SELECT setval(pg_get_serial_sequence('article', 'id'), (SELECT MAX(id) FROM article))"
        )


def _moment(written: str, now: dt.datetime) -> dt.datetime:
    if not written:
        return utc(now)
    try:
        moment = dt.datetime.fromisoformat(written)
    except ValueError:
        raise InputError(f"not an ISO 8601 date and time: {written!r}") from None
    return utc(moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC))


def _relink(article: Article, relation: str, numbers: list[str], now: dt.datetime) -> None:
    wanted = {n.strip().upper() for n in numbers if n.strip()}
    have = {
        row.ticket_number: row
        for row in ArticleLink.select().where(
            (ArticleLink.article == article) & (ArticleLink.relation == relation)
        )
    }
    for number, row in have.items():
        if number not in wanted:
            row.delete_instance()
    for number in sorted(wanted - have.keys()):
        link(article.id, number, relation, now)


def _refile(article: Article, files: Mapping[str, bytes], store: BlobStore) -> None:
    ArticleFile.delete().where(ArticleFile.article == article).execute()
    for name, data in files.items():
        kind = mimetypes.guess_type(name)[0] or "application/octet-stream"
        ArticleFile.create(
            article=article,
            filename=name,
            content_type=kind,
            size=len(data),
            sha256=store.put(data),
        )


def link(
    article_id: int, number: str, relation: str, now: dt.datetime, score: float | None = None
) -> bool:
    """Record that ``article_id`` relates to ticket ``number``; False when it already did."""
    assert relation in RELATIONS
    inserted = (
        ArticleLink.insert(
            article=article_id, ticket_number=number, relation=relation, at=utc(now), score=score
        )
        .on_conflict_ignore()
        .execute()
    )
    return bool(inserted)


def tickets(article: Article, relation: str) -> list[str]:
    """The numbers of the tickets linked to ``article`` as ``relation``, oldest link first."""
    rows = (
        ArticleLink.select(ArticleLink.ticket_number)
        .where((ArticleLink.article == article) & (ArticleLink.relation == relation))
        .order_by(ArticleLink.ticket_number)
    )
    return [row.ticket_number for row in rows]


def set_status(article: Article, status: str, actor: str, now: dt.datetime, segmenter: str) -> None:
    """Publish, retire or return ``article`` to draft, and update the index."""
    article.status = status
    article.updated_at = utc(now)
    if status == "published":
        article.published_at = utc(now)
        article.published_by = actor
    if status == "retired":
        article.retired_at = utc(now)
    reindex(article, segmenter)


def as_text(article: Article, tz: dt.tzinfo, file_names: list[str] | None = None) -> ArticleText:
    """What ``article`` looks like as a file (``markdown.dump``)."""
    return ArticleText(
        id=article.id,
        title=article.title,
        category=article.category,
        status=article.status,
        keywords=list(article.keywords),
        symptoms=article.symptoms,
        cause=article.cause,
        steps=article.steps,
        author=article.author,
        created=iso(article.created_at, tz) or "",
        updated=iso(article.updated_at, tz) or "",
        published_by=article.published_by,
        from_tickets=tickets(article, "source"),
        helped_tickets=tickets(article, "helped"),
        attachments=file_names or [],
    )


def helped_count(article: Article) -> int:
    return (
        ArticleLink.select()
        .where((ArticleLink.article == article) & (ArticleLink.relation == "helped"))
        .count()
    )
