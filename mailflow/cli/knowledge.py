"""``mailflow kb`` and ``mailflow archive``: the knowledge base and the ticket archive from a
shell. Article text is edited as the same Markdown file import and export use."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from mailflow.cli.common import EX_DATAERR, EX_OK, deliver, find_ticket, load_config, staff
from mailflow.cli.reporting import Progress
from mailflow.config import Config
from mailflow.daemon import open_services, system_clock
from mailflow.errors import InputError
from mailflow.knowledge import folder, library
from mailflow.knowledge.archive import export as export_ticket
from mailflow.knowledge.index import rebuild
from mailflow.knowledge.markdown import ArticleText, FileError, dump, parse
from mailflow.knowledge.search import search
from mailflow.process.articles import drafts_of, file_draft, publish
from mailflow.services import Services
from mailflow.store.articles import Article, ArticleLink
from mailflow.store.database import transaction
from mailflow.store.models import Ticket, iso, utc


def cmd_kb(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    services = open_services(config)
    action = args.kb_command.replace("-", "_")
    handler = globals()[f"_kb_{action}"]
    return int(handler(args, services))


def _article(services: Services, article_id: int) -> Article:
    article: Article | None = Article.get_or_none(Article.id == article_id)
    if article is None:
        raise InputError(f"no article {article_id} (mailflow kb list shows them)")
    return article


def _kb_add(args: argparse.Namespace, services: Services) -> int:
    text = _from_file(args.file) if args.file else _from_options(args, None)
    if text.id is not None and Article.get_or_none(Article.id == text.id):
        raise InputError(f"article {text.id} exists already; change it with mailflow kb edit")
    text.author = text.author or (args.actor or "")
    files = _files(args.file, text)
    with transaction(services.db):
        article, _ = library.save(
            text, system_clock(), services.config.kb.segmenter, services.store, files
        )
    print(f"KB-{article.id} added ({article.status}): {article.title}")
    return EX_OK


def _kb_edit(args: argparse.Namespace, services: Services) -> int:
    article = _article(services, args.id)
    tz = services.config.support.tz
    current = library.as_text(article, tz)
    if args.file:
        text = _from_file(args.file)
    elif _has_options(args):
        text = _from_options(args, current)
    else:
        text = _in_editor(dump(current))
    text.id = article.id
    text.updated = ""  # now
    files = _files(args.file, text)
    with transaction(services.db):
        library.save(text, system_clock(), services.config.kb.segmenter, services.store, files)
    print(f"KB-{article.id} updated: {text.title}")
    return EX_OK


def _kb_show(args: argparse.Namespace, services: Services) -> int:
    article = _article(services, args.id)
    view = _view(article, services.config)
    if args.json:
        print(json.dumps(view, ensure_ascii=False, indent=2))
        return EX_OK
    print(dump(library.as_text(article, services.config.support.tz, view["files"])), end="")
    counts = view["tickets"]
    print(
        f"\n# {article.status}; linked to {len(counts['linked'])} tickets, offered "
        f"{len(counts['offered'])} times, helped {len(counts['helped'])}, "
        f"did not help {len(counts['not_helped'])}"
    )
    return EX_OK


def _view(article: Article, config: Config) -> dict[str, Any]:
    tz = config.support.tz
    tickets: dict[str, list[str]] = {r: [] for r in library.RELATIONS}
    for link in ArticleLink.select().where(ArticleLink.article == article).order_by(ArticleLink.at):
        tickets[link.relation].append(link.ticket_number)
    return {
        "id": article.id,
        "status": article.status,
        "title": article.title,
        "category": article.category,
        "keywords": article.keywords,
        "symptoms": article.symptoms,
        "cause": article.cause,
        "steps": article.steps,
        "author": article.author,
        "created": iso(article.created_at, tz),
        "updated": iso(article.updated_at, tz),
        "published": iso(article.published_at, tz),
        "published_by": article.published_by,
        "files": [f.filename for f in article.files],
        "tickets": tickets,
    }


def _kb_list(args: argparse.Namespace, services: Services) -> int:
    query = Article.select().order_by(Article.category, Article.id)
    if args.status:
        query = query.where(Article.status == args.status)
    if args.category:
        query = query.where(Article.category == args.category)
    rows = [
        {
            "id": a.id,
            "status": a.status,
            "category": a.category,
            "title": a.title,
            "helped": library.helped_count(a),
        }
        for a in query
    ]
    if args.json:
        print(json.dumps(rows, ensure_ascii=False, indent=2))
    elif not rows:
        print("no articles")
    for r in [] if args.json else rows:
        print(
            f"KB-{r['id']:<6} {r['status']:<9} {r['category']:<12} "
            f"helped {r['helped']:<4} {r['title']}"
        )
    return EX_OK


def _kb_search(args: argparse.Namespace, services: Services) -> int:
    text = sys.stdin.read() if args.text == ["-"] else " ".join(args.text)
    hits = search(text, services.config.kb, limit=args.limit)
    if args.json:
        print(json.dumps([h.as_json() for h in hits], ensure_ascii=False, indent=2))
        return EX_OK
    if not hits:
        print("no article matches")
    threshold = services.config.kb.match_score
    for hit in hits:
        mark = "match" if hit.match else f"below {threshold}"
        print(f"KB-{hit.id:<6} {hit.score:.2f} ({mark})  {hit.title}")
        for field, words in hit.why.items():
            print(f"         {field}: {', '.join(words[:12])}")
    return EX_OK


def _kb_import(args: argparse.Namespace, services: Services) -> int:
    path = Path(args.dir)
    if not path.is_dir():
        raise InputError(f"{path}: not a folder")
    progress = Progress(sys.stderr)
    result = folder.import_folder(
        path,
        services.db,
        system_clock(),
        services.config.kb.segmenter,
        services.store,
        lambda done, total: progress.step(f"import {done}/{total}"),
    )
    progress.done()
    for line in result.refused:
        print(f"mailflow: refused {line}", file=sys.stderr)
    print(f"added {result.added}, updated {result.updated}, refused {len(result.refused)}")
    return EX_DATAERR if result.refused else EX_OK


def _kb_export(args: argparse.Namespace, services: Services) -> int:
    count = folder.export_folder(
        Path(args.dir), services.config.support.tz, services.store, args.status or ""
    )
    print(f"exported {count} articles to {args.dir}")
    return EX_OK


def _kb_retire(args: argparse.Namespace, services: Services) -> int:
    article = _article(services, args.id)
    with transaction(services.db):
        library.set_status(
            article, "retired", args.actor or "", system_clock(), services.config.kb.segmenter
        )
    print(f"KB-{article.id} retired: no longer matched or offered")
    return EX_OK


def _kb_publish(args: argparse.Namespace, services: Services) -> int:
    article = _article(services, args.id)
    if article.status == "published":
        print(f"KB-{article.id} is published already")
        return EX_OK
    source = (
        ArticleLink.select()
        .where((ArticleLink.article == article) & (ArticleLink.relation == "source"))
        .first()
    )
    ticket = Ticket.get_or_none(Ticket.number == source.ticket_number) if source else None
    with transaction(services.db):
        publish(ticket, article, args.actor or "cli", system_clock(), services)
    print(f"KB-{article.id} published: {article.title}")
    return EX_OK


def _kb_from_ticket(args: argparse.Namespace, services: Services) -> int:
    ticket = find_ticket(args.number)
    number = ticket.number
    author = staff(services.config, args.actor or ticket.assignee or "")
    now = system_clock()
    with transaction(services.db):
        article = file_draft(ticket, args.title or ticket.subject, author, "", now, services)
    deliver(services, now)
    others = len(drafts_of(number)) - 1
    more = f" ({others} other drafts from {number})" if others > 0 else ""
    print(f"KB-{article.id} drafted from {number}: {article.title}{more}; mailed for review")
    return EX_OK


def _kb_reindex(args: argparse.Namespace, services: Services) -> int:
    with transaction(services.db):
        count = rebuild(services.config.kb.segmenter)
    print(f"reindexed: {count} published articles searchable")
    return EX_OK


def _files(name: str | None, text: ArticleText) -> dict[str, bytes] | None:
    """The files a ``--file`` lists (None: keep the article's files as they are)."""
    if not name or not text.attachments:
        return None
    try:
        return folder.attachments(Path(name), text.attachments)
    except FileError as exc:
        raise InputError(f"{name}: {exc}") from None


def _from_file(name: str) -> ArticleText:
    try:
        return parse(Path(name).read_text(encoding="utf-8"))
    except FileError as exc:
        raise InputError(f"{name}:{exc.line}: {exc}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{name}: {exc}") from None


OPTIONS = ("title", "category", "keywords", "symptoms", "cause", "steps", "status")


def _has_options(args: argparse.Namespace) -> bool:
    return any(getattr(args, name, None) is not None for name in OPTIONS)


def _from_options(args: argparse.Namespace, current: ArticleText | None) -> ArticleText:
    base = current or ArticleText("", "", [], "", "", status="published")
    keywords = (
        [k.strip() for k in args.keywords.replace("，", ",").split(",") if k.strip()]
        if args.keywords is not None
        else base.keywords
    )
    text = ArticleText(
        id=base.id,
        title=args.title if args.title is not None else base.title,
        category=args.category if args.category is not None else base.category,
        keywords=keywords,
        symptoms=args.symptoms if args.symptoms is not None else base.symptoms,
        cause=args.cause if args.cause is not None else base.cause,
        steps=args.steps if args.steps is not None else base.steps,
        status=args.status if args.status is not None else base.status,
        author=base.author,
        created=base.created,
        published_by=base.published_by,
        from_tickets=base.from_tickets,
        helped_tickets=base.helped_tickets,
    )
    missing = [n for n in ("title", "category", "symptoms", "steps") if not getattr(text, n)]
    if not text.keywords:
        missing.append("keywords")
    if missing:
        raise InputError(f"an article needs {', '.join('--' + m for m in missing)} (or --file)")
    return text


def _in_editor(text: str) -> ArticleText:
    if not sys.stdin.isatty():
        raise InputError("give --file FILE.md or the fields to change (no terminal for an editor)")
    editor = os.environ.get("VISUAL") or os.environ.get("EDITOR") or "vi"
    with tempfile.NamedTemporaryFile("w", suffix=".md", delete=False, encoding="utf-8") as f:
        f.write(text)
    try:
        subprocess.run([*shlex.split(editor), f.name], check=True)
        return _from_file(f.name)
    finally:
        Path(f.name).unlink(missing_ok=True)


def cmd_archive(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    services = open_services(config)
    out = Path(args.out)
    if args.closed_since:
        try:
            day = dt.date.fromisoformat(args.closed_since)
        except ValueError:
            raise InputError(
                f"--closed-since {args.closed_since!r}: give a date, 2026-12-01"
            ) from None
        since = utc(dt.datetime.combine(day, dt.time(0), tzinfo=config.support.tz))
        query = Ticket.select().where((Ticket.status == "closed") & (Ticket.closed_at >= since))
        tickets = list(query.order_by(Ticket.closed_at, Ticket.id))
    else:
        if not args.numbers:
            raise InputError("give ticket numbers or --closed-since DATE")
        tickets = [find_ticket(raw) for raw in args.numbers]
    progress = Progress(sys.stderr)
    for done, ticket in enumerate(tickets, start=1):
        progress.step(f"archive {done}/{len(tickets)} {ticket.number}")
        target = export_ticket(ticket, out, services.store, config.support.tz)
        if not progress.active:
            print(target)
    progress.done()
    print(f"archived {len(tickets)} tickets under {out}")
    return EX_OK
