"""Keeping the search index in step with the articles: only published articles are in it.

Each change of an article runs ``reindex`` in the change's own transaction: its terms are
recomputed, its row in the full-text index replaced, and the per-term article counts (the
weights of ``scoring``) moved by what it added and dropped. ``rebuild`` recomputes everything,
after a change of ``[kb] segmenter`` or a bulk load.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from typing import Any

import peewee as pw

from mailflow.knowledge.terms import terms
from mailflow.store.articles import Article, KbTerm
from mailflow.store.models import Meta, database_proxy

TOTAL = ""  # the KbTerm row that counts the indexed articles
GENERATION = "#generation"  # moves with every change of the index (search's caches follow)
FIELDS = ("title", "keywords", "symptoms", "body")
SEGMENTER = "kb_segmenter"  # the Meta row naming the segmenter the index was built with


def built_with() -> str:
    """The segmenter the index was built with ("" before the first article)."""
    row = Meta.get_or_none(Meta.key == SEGMENTER)
    return str(row.value) if row else ""


def fields_of(article: Article, segmenter: str) -> dict[str, Any]:
    """The terms of each searchable field of ``article`` (and of each keyword: "phrases")."""
    phrases = [terms(keyword, segmenter) for keyword in article.keywords]
    return {
        "title": terms(article.title, segmenter),
        "keywords": [t for phrase in phrases for t in phrase],
        "phrases": phrases,
        "symptoms": terms(article.symptoms, segmenter),
        "body": terms(f"{article.cause}\n{article.steps}", segmenter),
    }


def reindex(article: Article, segmenter: str) -> None:
    """Bring ``article``'s index entries in line with its text and status (caller's
    transaction; the article is saved here)."""
    db = database_proxy.obj
    Meta.insert(key=SEGMENTER, value=segmenter).on_conflict_ignore().execute()
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
    if article.indexed or wanted:
        _count([GENERATION], 1)
    article.indexed = wanted
    # Only PostgreSQL reads it (its GIN index); SQLite has the same terms in article_fts.
    postgres = not isinstance(db, pw.SqliteDatabase)
    article.search_text = _line(article.terms) if wanted and postgres else ""
    article.save()


def rebuild(segmenter: str) -> int:
    """Recompute every article's terms and the whole index; the number of indexed articles.

    Written with ``executemany`` in batches: a knowledge base of 50,000 articles is rebuilt
    in the time its text takes to cut into terms.
    """
    db = database_proxy.obj
    sqlite = isinstance(db, pw.SqliteDatabase)
    if sqlite:
        db.execute_sql('DELETE FROM "article_fts"')
    generation = KbTerm.get_or_none(KbTerm.term == GENERATION)
    KbTerm.delete().execute()
    counts: Counter[str] = Counter()
    indexed = 0
    query = Article.select(
        Article.id,
        Article.status,
        Article.title,
        Article.keywords,
        Article.symptoms,
        Article.cause,
        Article.steps,
    ).order_by(Article.id)
    batch: list[tuple[Article, dict[str, Any]]] = []
    for article in query.iterator():
        fields = fields_of(article, segmenter)
        batch.append((article, fields))
        if article.status == "published":
            counts.update(_distinct(fields))
            indexed += 1
        if len(batch) >= 500:
            _write_batch(db, batch)
            batch = []
    _write_batch(db, batch)
    Meta.insert(key=SEGMENTER, value=segmenter).on_conflict(
        conflict_target=[Meta.key], update={Meta.value: segmenter}
    ).execute()
    counts[TOTAL] = indexed
    counts[GENERATION] = (generation.docs if generation else 0) + 1
    cursor = db.cursor()
    cursor.executemany(
        f'INSERT INTO "kb_term" ("term", "docs") VALUES ({db.param}, {db.param})',
        list(counts.items()),
    )
    return indexed


def _write_batch(db: pw.Database, batch: list[tuple[Article, dict[str, Any]]]) -> None:
    mark = db.param
    published = [(a, f) for a, f in batch if a.status == "published"]
    db.cursor().executemany(  # type: ignore[no-untyped-call]
        f'UPDATE "article" SET "terms" = {mark}, "indexed" = {mark}, "search_text" = {mark} '
        f'WHERE "id" = {mark}',
        [
            (
                json.dumps(f, ensure_ascii=False, sort_keys=True),
                a.status == "published",
                _line(f)
                if a.status == "published" and not isinstance(db, pw.SqliteDatabase)
                else "",
                a.id,
            )
            for a, f in batch
        ],
    )
    if isinstance(db, pw.SqliteDatabase):
        db.cursor().executemany(  # type: ignore[no-untyped-call]
            'INSERT INTO "article_fts" (rowid, title, keywords, symptoms, body) '
            "VALUES (?, ?, ?, ?, ?)",
            [(a.id, *(" ".join(f[name]) for name in FIELDS)) for a, f in published],
        )


def _distinct(fields: dict[str, Any]) -> set[str]:
    return {t for name in FIELDS for t in fields[name]}


def _line(fields: dict[str, Any]) -> str:
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
