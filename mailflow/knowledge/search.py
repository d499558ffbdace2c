"""Finding the published articles that answer a request, best first, with the reason.

Two steps. The database's full-text index (SQLite FTS5 over the article's terms; on
PostgreSQL a GIN index over the same terms) picks a few candidates by BM25 among all articles,
using the request's rarest terms only, so a 10,000-character mail costs what a short one does.
``scoring`` then gives each candidate a score from 0 to 1 that means the same whatever the size
of the knowledge base; ``match`` is that score against ``[kb] match_score``, the one rule both
intake and ``mailflow kb search`` use.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import peewee as pw

from mailflow.config.model import KbConfig
from mailflow.knowledge import scoring
from mailflow.knowledge.index import GENERATION, TOTAL
from mailflow.knowledge.terms import terms
from mailflow.store.models import database_proxy

QUERY_TERMS = 10  # the rarest terms of a request that pick candidates
RARE_DOCS, RARE_SHARE = 50, 0.01  # a term in more articles than both is too common to pick
CANDIDATES = 8
KEYED = ("title", "keywords", "symptoms")  # the fields whose every term's weight scoring needs


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
    total = _CACHE.refresh()
    if not total:
        return []  # before cutting the text: a desk without articles never loads jieba
    asked = set(terms(text, kb.segmenter))
    docs = _CACHE.docs(asked)
    known = sorted((t for t in asked if docs.get(t)), key=lambda t: (docs[t], t))
    if not known:
        return []
    # Rare terms pick the candidates: a term in every tenth article says little about which
    # one is meant and makes the index rank thousands of rows.
    common = max(RARE_DOCS, total * RARE_SHARE)
    rare = [t for t in known if docs[t] <= common][:QUERY_TERMS] or known[:3]
    candidates = _candidates(rare, max(limit, CANDIDATES))
    if not candidates:
        return []
    articles = _CACHE.articles(candidates)
    needed = {t for *_, fields in articles for name in KEYED for t in fields[name]}
    docs.update(_CACHE.docs(needed))
    weights = _CACHE.weights(docs, total)
    hits = []
    for article_id, title, category, steps, fields in articles:
        scored = scoring.score(asked, weights, fields)
        hits.append(
            Hit(
                article_id,
                title,
                category,
                steps,
                scored.score,
                scored.score >= kb.match_score,
                scored.matched,
                scored.parts,
            )
        )
    hits.sort(key=lambda h: (-h.score, h.id))
    return [h for h in hits if h.score > 0][:limit]


ArticleRow = tuple[int, str, str, str, dict[str, Any]]


class _Cache:
    """This process's copy of term counts and candidate articles' terms.

    Dropped whenever the index changes anywhere (``index.GENERATION`` moves with every
    publish, edit and retire, in that change's transaction), so several daemons never score
    with stale weights; one small read per search checks it.
    """

    LIMIT = 500_000  # entries; a knowledge base larger than this still works, only uncached

    def __init__(self) -> None:
        self.key: tuple[int, int] | None = None
        self.counts: dict[str, int] = {}
        self.rows: dict[int, ArticleRow] = {}
        self.idf: dict[str, float] = {}

    def refresh(self) -> int:
        """Check the generation; the number of indexed articles."""
        state = _docs({TOTAL, GENERATION})
        key = (state.get(TOTAL, 0), state.get(GENERATION, 0))
        if key != self.key or len(self.counts) + len(self.rows) > self.LIMIT:
            self.key, self.counts, self.rows, self.idf = key, {}, {}, {}
        return key[0]

    def docs(self, found: set[str]) -> dict[str, int]:
        missing = {t for t in found if t not in self.counts}  # not a set minus keys(): O(cache)
        if missing:
            fetched = _docs(missing)
            self.counts.update((t, fetched.get(t, 0)) for t in missing)
        return {t: self.counts[t] for t in found}

    def weights(self, docs: dict[str, int], total: int) -> dict[str, float]:
        """The idf of each term of ``docs`` that some article has."""
        known = self.idf
        for term, count in docs.items():
            if count and term not in known:
                known[term] = scoring.idf(count, total)
        return {t: known[t] for t, count in docs.items() if count}

    def articles(self, ids: list[int]) -> list[ArticleRow]:
        missing = [i for i in ids if i not in self.rows]
        if missing:
            self.rows.update((row[0], row) for row in _articles(missing))
        return [self.rows[i] for i in ids if i in self.rows]


_CACHE = _Cache()


def _docs(found: set[str]) -> dict[str, int]:
    # Raw SQL: peewee's query building cost ten times the lookup itself here.
    db = database_proxy.obj
    result: dict[str, int] = {}
    listed = sorted(found)
    for start in range(0, len(listed), 900):  # under every SQLite's bound-parameter limit
        part = listed[start : start + 900]
        marks = ", ".join([db.param] * len(part))
        cursor = db.execute_sql(
            f'SELECT "term", "docs" FROM "kb_term" WHERE "term" IN ({marks})', part
        )
        result.update(cursor.fetchall())
    return result


def _articles(ids: list[int]) -> list[ArticleRow]:
    db = database_proxy.obj
    marks = ", ".join([db.param] * len(ids))
    cursor = db.execute_sql(
        'SELECT "id", "title", "category", "steps", "terms" FROM "article" '
        f'WHERE "indexed" AND "id" IN ({marks})',
        ids,
    )
    return [
        (i, title, category, steps, json.loads(terms))
        for i, title, category, steps, terms in cursor.fetchall()
    ]


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
