"""Finding the published articles that answer a request, best first, with the reason.

Two steps. The database's full-text index (SQLite FTS5 over the article's terms; on
PostgreSQL a GIN index over the same terms) picks a few candidates by BM25 among all articles,
using the request's rarest terms only, so a 10,000-character mail costs what a short one does.
``scoring`` then gives each candidate a score from 0 to 1 that means the same whatever the size
of the knowledge base; ``match`` is that score against ``[kb] match_score``, the one rule both
intake and ``mailflow kb search`` use.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import peewee as pw

from mailflow.config.model import KbConfig
from mailflow.knowledge import scoring
from mailflow.knowledge.index import TOTAL
from mailflow.knowledge.terms import terms
from mailflow.store.articles import Article, KbTerm
from mailflow.store.models import database_proxy

QUERY_TERMS = 24  # the rarest terms of a request that pick candidates
CANDIDATES = 12


@dataclass(frozen=True)
class Hit:
    """An article found for a request."""

    id: int
    title: str
    category: str
    steps: str
    score: float
    match: bool
    why: dict[str, list[str]] = field(default_factory=dict)  # field -> terms found there
    parts: dict[str, float] = field(default_factory=dict)

    def as_json(self) -> dict[str, object]:
        return {
            "id": self.id,
            "title": self.title,
            "category": self.category,
            "score": self.score,
            "match": self.match,
            "why": self.why,
            "parts": self.parts,
        }


def search(text: str, kb: KbConfig, limit: int = 5) -> list[Hit]:
    """The published articles for ``text``, best first (never raises on odd text)."""
    asked = set(terms(text, kb.segmenter))
    if not asked:
        return []
    docs = _docs(asked | {TOTAL})
    total = docs.pop(TOTAL, 0)
    known = sorted((t for t in asked if docs.get(t)), key=lambda t: (docs[t], t))
    if not total or not known:
        return []
    candidates = _candidates(known[:QUERY_TERMS], max(limit, CANDIDATES))
    if not candidates:
        return []
    articles = list(
        Article.select(
            Article.id, Article.title, Article.category, Article.steps, Article.terms
        ).where(Article.id.in_(candidates) & Article.indexed)
    )
    needed = {
        t for a in articles for name in ("title", "keywords", "symptoms") for t in a.terms[name]
    }
    docs.update(_docs(needed - docs.keys()))
    weights = {t: scoring.idf(n, total) for t, n in docs.items() if n}
    hits = []
    for article in articles:
        scored = scoring.score(asked, weights, article.terms)
        hits.append(
            Hit(
                article.id,
                article.title,
                article.category,
                article.steps,
                scored.score,
                scored.score >= kb.match_score,
                scored.matched,
                scored.parts,
            )
        )
    hits.sort(key=lambda h: (-h.score, h.id))
    return [h for h in hits if h.score > 0][:limit]


def _docs(found: set[str]) -> dict[str, int]:
    result: dict[str, int] = {}
    listed = sorted(found)
    for start in range(0, len(listed), 900):  # under every SQLite's bound-parameter limit
        part = listed[start : start + 900]
        for row in KbTerm.select(KbTerm.term, KbTerm.docs).where(KbTerm.term.in_(part)):
            result[row.term] = row.docs
    return result


def _candidates(rare: list[str], limit: int) -> list[int]:
    db = database_proxy.obj
    if isinstance(db, pw.SqliteDatabase):
        expression = " OR ".join(f'"{t}"' for t in rare)
        cursor = db.execute_sql(  # type: ignore[no-untyped-call]
            'SELECT rowid FROM "article_fts" WHERE "article_fts" MATCH ? '
            'ORDER BY bm25("article_fts", 8.0, 6.0, 3.0, 1.0) LIMIT ?',
            (expression, limit),
        )
        return [row[0] for row in cursor.fetchall()]
    query = " | ".join(f"'{t}'" for t in rare)
    cursor = db.execute_sql(
        "SELECT id FROM article, to_tsquery('simple', %s) AS q "
        "WHERE indexed AND to_tsvector('simple', search_text) @@ q "
        "ORDER BY ts_rank(to_tsvector('simple', search_text), q) DESC, id LIMIT %s",
        (query, limit),
    )
    return [row[0] for row in cursor.fetchall()]
