"""A knowledge base as a folder of Markdown files: import (added, updated, refused) and export.

One file per article, ``0007-vpn-连接失败.md``, its files beside it under
``files/0007/``. A file that cannot be read is refused whole with its name and line, and the
import goes on with the next.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import peewee as pw

from mailflow.knowledge import library
from mailflow.knowledge.markdown import FileError, dump, parse
from mailflow.store.articles import Article, ArticleFile
from mailflow.store.blobs import BlobStore
from mailflow.store.database import transaction


@dataclass
class Imported:
    added: int = 0
    updated: int = 0
    refused: list[str] = field(default_factory=list)  # "file:line: why"


def import_folder(
    folder: Path,
    db: pw.Database,
    now: dt.datetime,
    segmenter: str,
    store: BlobStore,
    progress: Callable[[int, int], None] = lambda done, total: None,
) -> Imported:
    """Every ``*.md`` under ``folder`` as an article, each file in its own transaction."""
    result = Imported()
    paths = sorted(folder.rglob("*.md"))
    for done, path in enumerate(paths, start=1):
        progress(done, len(paths))
        try:
            text = parse(_read(path))
            files = attachments(path, text.attachments)
            with transaction(db):
                _, created = library.save(text, now, segmenter, store, files)
        except FileError as exc:
            result.refused.append(f"{path}:{exc.line}: {exc}")
            continue
        if created:
            result.added += 1
        else:
            result.updated += 1
    return result


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise FileError(0, f"not UTF-8 text (byte {exc.start})") from None
    except OSError as exc:
        raise FileError(0, exc.strerror or str(exc)) from None


def attachments(article_file: Path, names: list[str]) -> dict[str, bytes]:
    """The files an article file lists, read relative to it (name -> bytes)."""
    return {Path(name).name: _attachment(article_file, name) for name in names}


def _attachment(article_file: Path, name: str) -> bytes:
    path = (article_file.parent / name).resolve()
    try:
        return path.read_bytes()
    except OSError as exc:
        raise FileError(0, f"attachment {name}: {exc.strerror or exc}") from None


def export_folder(folder: Path, tz: dt.tzinfo, store: BlobStore, status: str = "") -> int:
    """Write every article (of ``status`` when given) to ``folder``; how many."""
    folder.mkdir(parents=True, exist_ok=True)
    query = Article.select().order_by(Article.id)
    if status:
        query = query.where(Article.status == status)
    count = 0
    for article in query:
        names = []
        for item in article.files.order_by(ArticleFile.filename, ArticleFile.id):
            relative = f"files/{article.id:04d}/{_safe(item.filename)}"
            target = folder / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(store.get(item.sha256))
            names.append(relative)
        text = dump(library.as_text(article, tz, names))
        (folder / file_name(article)).write_text(text, encoding="utf-8")
        count += 1
    return count


def file_name(article: Article) -> str:
    """``0007-vpn-连接失败.md``: the id keeps the order, the title says what it is."""
    slug = re.sub(r"[^\w]+", "-", article.title.lower()).strip("-_")[:48].strip("-_")
    return f"{article.id:04d}-{slug or 'article'}.md"


def _safe(name: str) -> str:
    return re.sub(r"[\\/\x00-\x1f]", "_", name).lstrip(".") or "file"
