"""Keeping the search index in step with the articles: only published articles are in it.

Each change of an article runs ``reindex`` in the change's own transaction: its terms are
recomputed, its row in the full-text index replaced, and the per-term article counts (the
weights of ``scoring``) moved by what it added and dropped. ``rebuild`` recomputes everything,
after a change of ``[kb] segmenter`` or a bulk load.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

import peewee as pw

from mailflow.knowledge.terms import terms
from mailflow.store.articles import Article, KbTerm
from mailflow.store.models import database_proxy

TOTAL = ""  # the KbTerm row that counts the indexed articles


def fields_of(article: Article, segmenter: str) -> dict[str, list[str]]:
    """The terms of each searchable field of ``article``."""
    return {
        "title": terms(article.title, segmenter),
        "keywords": terms("\n".join(article.keywords), segmenter),
        "symptoms": terms(article.symptoms, segmenter),
        "body": terms(f"{article.cause}\n{article.steps}", segmenter),
    }


def reindex(article: Article, segmenter: str) -> None:
    """Bring ``article``'s index entries in line with its text and status (caller's
    transaction; the article is saved here)."""
    db = database_proxy.obj
    before = _distinct(article.terms) if article.indexed else set()
    article.terms = fields_of(article, segmenter)
    wanted = article.status == "published"
    after = _distinct(article.terms) if wanted else set()
    if article.indexed:
        _fts_delete(db, article.id)
    if wanted:
        _fts_insert(db, article)
    _count(after - before, 1)
    _count(before - after, -1)
    if article.indexed != wanted:
        _count([TOTAL], 1 if wanted else -1)
    article.indexed = wanted
    article.search_text = _line(article.terms) if wanted else ""
    article.save()


def rebuild(segmenter: str) -> int:
    """Recompute every article's terms and the whole index; the number of indexed articles."""
    db = database_proxy.obj
    if isinstance(db, pw.SqliteDatabase):
        db.execute_sql('DELETE FROM "article_fts"')  # type: ignore[no-untyped-call]
    KbTerm.delete().execute()
    counts: Counter[str] = Counter()
    indexed = 0
    for article in Article.select().iterator():
        article.terms = fields_of(article, segmenter)
        article.indexed = article.status == "published"
        article.search_text = _line(article.terms) if article.indexed else ""
        article.save()
        if article.indexed:
            _fts_insert(db, article)
            counts.update(_distinct(article.terms))
            indexed += 1
    counts[TOTAL] = indexed
    rows = [{"term": term, "docs": docs} for term, docs in counts.items()]
    for start in range(0, len(rows), 500):
        KbTerm.insert_many(rows[start : start + 500]).execute()
    return indexed


def _distinct(fields: dict[str, list[str]]) -> set[str]:
    return {t for found in fields.values() for t in found}


def _line(fields: dict[str, list[str]]) -> str:
    # Title and keywords twice: PostgreSQL's ranking counts occurrences.
    weighted = fields["title"] * 2 + fields["keywords"] * 2 + fields["symptoms"] + fields["body"]
    return " ".join(weighted)


def _count(found: Iterable[str], step: int) -> None:
    rows = [{"term": t, "docs": max(step, 0)} for t in found]
    for start in range(0, len(rows), 500):
        KbTerm.insert_many(rows[start : start + 500]).on_conflict(
            conflict_target=[KbTerm.term], update={KbTerm.docs: KbTerm.docs + step}
        ).execute()


def _fts_insert(db: pw.Database, article: Article) -> None:
    if not isinstance(db, pw.SqliteDatabase):
        return  # PostgreSQL reads search_text through its expression index
    fields = article.terms
    db.execute_sql(  # type: ignore[no-untyped-call]
        'INSERT INTO "article_fts" (rowid, title, keywords, symptoms, body) VALUES (?, ?, ?, ?, ?)',
        (
            article.id,
            *(" ".join(fields[name]) for name in ("title", "keywords", "symptoms", "body")),
        ),
    )


def _fts_delete(db: pw.Database, article_id: int) -> None:
    if isinstance(db, pw.SqliteDatabase):
        db.execute_sql('DELETE FROM "article_fts" WHERE rowid = ?', (article_id,))  # type: ignore[no-untyped-call]
