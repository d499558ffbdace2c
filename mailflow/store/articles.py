"""The knowledge base's tables: articles, their files, the tickets they came from and helped,
and how many articles use each search term.

Links name tickets by number rather than by key, so an exported knowledge base keeps them when
imported where those tickets do not exist (numbers are stable; row ids are not).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import peewee as pw

from mailflow.store.models import BaseModel, JSONField


class Article(BaseModel):
    if TYPE_CHECKING:
        links: pw.ModelSelect[ArticleLink]
        files: pw.ModelSelect[ArticleFile]

    status = pw.CharField(max_length=16, default="draft", index=True)  # draft|published|retired
    category = pw.CharField(max_length=128, default="", index=True)
    title = pw.TextField()
    symptoms = pw.TextField(default="")
    cause = pw.TextField(default="")
    steps = pw.TextField(default="")  # Markdown, the file's body
    keywords = JSONField(default=list)
    author = pw.CharField(max_length=320, default="")
    created_at = pw.DateTimeField()
    updated_at = pw.DateTimeField()
    published_at = pw.DateTimeField(null=True)
    published_by = pw.CharField(max_length=320, default="")
    retired_at = pw.DateTimeField(null=True)
    # Search: the terms of each field (what scoring reads), whether they are in the index
    # (only published articles are), and every term in one line (PostgreSQL's text index).
    terms = JSONField(default=dict)
    indexed = pw.BooleanField(default=False)
    search_text = pw.TextField(default="")


class ArticleLink(BaseModel):
    """An article and a ticket: ``source`` (drafted from it), ``linked`` (matched on intake),
    ``offered`` (its steps went to the requester), ``helped`` / ``not_helped`` (their answer)."""

    if TYPE_CHECKING:
        article_id: int

    article = pw.ForeignKeyField(Article, backref="links", on_delete="CASCADE")
    ticket_number = pw.CharField(max_length=32, index=True)
    relation = pw.CharField(max_length=16)
    at = pw.DateTimeField()
    score = pw.FloatField(null=True)

    class Meta:
        indexes = (
            (("article", "relation", "ticket_number"), True),
            (("at",), False),  # reports: what happened with articles in a period
        )


class ArticleFile(BaseModel):
    """A file of an article (a screenshot of the fix, a script); bytes in the blob store."""

    article = pw.ForeignKeyField(Article, backref="files", on_delete="CASCADE")
    filename = pw.TextField()
    content_type = pw.CharField(max_length=255, default="application/octet-stream")
    size = pw.BigIntegerField()
    sha256 = pw.CharField(max_length=64)


class KbTerm(BaseModel):
    """How many indexed articles contain a term (for its weight); the row with term "" counts
    the indexed articles themselves."""

    term = pw.CharField(max_length=191, unique=True)
    docs = pw.IntegerField(default=0)


KB_MODELS: list[type[BaseModel]] = [Article, ArticleLink, ArticleFile, KbTerm]

# SQLite's full-text index of the published articles (rowid = article id), one column per
# field so ranking can weigh a title word above a word of the steps. PostgreSQL indexes
# ``article.search_text`` with a GIN expression index instead.
SQLITE_FTS = (
    'CREATE VIRTUAL TABLE IF NOT EXISTS "article_fts" USING fts5('
    "title, keywords, symptoms, body, tokenize = 'unicode61 remove_diacritics 2')"
)
POSTGRES_FTS = (
    'CREATE INDEX IF NOT EXISTS "article_search" ON "article" '
    "USING gin (to_tsvector('simple', \"search_text\"))"
)
