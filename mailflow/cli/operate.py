"""Running mailflow: the daemon and its single pass, MTA ingest, the schema, the set-up check,
the demo."""

from __future__ import annotations

import argparse
import datetime as dt
import functools
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import peewee as pw

from mailflow.cli.common import (
    EX_DATAERR,
    EX_FAILURE,
    EX_OK,
    EX_USAGE,
    load_config,
    log,
)
from mailflow.config import PRIORITIES, Config, MailboxConfig
from mailflow.daemon import Worker, build_mailboxes, build_transport, open_services, system_clock
from mailflow.delivery.delivery import Delivery
from mailflow.delivery.mailing import check_templates
from mailflow.delivery.transports import MaildirTransport, SmtpTransport
from mailflow.demo import run_demo
from mailflow.errors import ConfigError, MailflowError
from mailflow.knowledge.index import built_with
from mailflow.pipeline.handling import handle
from mailflow.process import intake
from mailflow.process.choice import unrouted
from mailflow.reports.charts import cjk_font
from mailflow.sla.days import CalendarGap
from mailflow.sla.timers import calendar_horizon
from mailflow.sources import RawMail
from mailflow.sources.imap import ImapSource
from mailflow.store import ids
from mailflow.store.articles import Article
from mailflow.store.blobs import BlobStore
from mailflow.store.database import open_database, redact
from mailflow.store.schema import init_schema


def cmd_run(args: argparse.Namespace) -> int:

    if args.now is not None and not args.once:
        print("mailflow: run: --now needs --once (a daemon keeps real time)", file=sys.stderr)
        return EX_USAGE
    config = load_config(args.config)
    services = open_services(config)
    ids.own_prefix(config.support.ticket_prefix)
    worker = Worker(
        services,
        build_mailboxes(config, os.environ),
        build_transport(config, os.environ),
        startup_check=functools.partial(check_templates, config, args.now or system_clock()),
    )
    try:
        if not args.once:
            worker.install_signal_handlers()
            why = worker.run()
            log.info("mailflow stopped: %s", why)
            return EX_OK
        report = worker.run_once(args.now)
    finally:
        worker.close()
    created = sum(1 for o in report.handled if o.action == "created")
    log.info(
        "pass done: %d mails handled (%d new tickets) in %.2f s, %d mails sent in %.2f s",
        len(report.handled),
        created,
        report.poll_seconds,
        report.sent,
        report.seconds - report.poll_seconds,
    )
    for error in report.errors:
        print(f"mailflow: {error}", file=sys.stderr)
    return EX_FAILURE if report.errors else EX_OK


def cmd_init_db(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    db = open_database(config.database_url, config.database_busy_seconds)
    version = init_schema(db)
    ids.own_prefix(config.support.ticket_prefix, renumber=args.renumber)
    prefix = config.support.ticket_prefix
    print(f"database ready (schema version {version}, tickets numbered {prefix})")
    return EX_OK


def cmd_ingest(args: argparse.Namespace) -> int:

    data = sys.stdin.buffer.read()
    if not data.strip():
        print("mailflow: ingest: nothing on stdin (no mail to keep)", file=sys.stderr)
        return EX_DATAERR
    config = load_config(args.config)
    services = open_services(config)
    ids.own_prefix(config.support.ticket_prefix)
    now = args.now or system_clock()
    # Unexpected failures inside are quarantined by the workflow itself; what escapes is
    # database or storage trouble, which main() turns into EX_TEMPFAIL so the MTA retries.
    desk = _desk(config, args.mailbox)
    outcome = handle(RawMail(data, None, now, "stdin"), now, services, desk=desk)
    print(f"{outcome.action} {outcome.ticket_number or ''}".strip())
    if not args.no_send:
        delivery = Delivery(services, build_transport(config, os.environ))
        try:
            delivery.flush(now)
        except MailflowError as exc:  # the mail is stored; sending is retried by `run`
            log.warning("acknowledgement queued, not sent yet: %s", exc)
        finally:
            delivery.close()
    return EX_OK


def _desk(config: Config, address: str | None) -> MailboxConfig:
    """The mailbox ``ingest --mailbox`` names (its address), else the first."""
    if not address:
        return config.mailbox
    desk = config.mailbox_at(address)
    if desk is not None:
        return desk
    known = ", ".join(d.address for d in config.desks)
    raise ConfigError("mailbox", f"no mailbox has the address {address} (there are: {known})")


def cmd_check(args: argparse.Namespace) -> int:

    config = load_config(args.config)
    print(f"config ok{f' ({config.source})' if config.source else ' (embedded defaults)'}")
    failed = False
    steps: list[tuple[str, Callable[[], str]]] = [
        ("database", lambda: _check_database(config)),
        ("templates", lambda: _templates_ok(config)),
        ("calendar", lambda: _calendar_ok(config, args.now or system_clock())),
        ("reports", lambda: _reports_ok(config)),
        ("knowledge base", lambda: _knowledge_ok(config)),
    ]
    for desk, mailbox in zip(config.desks, build_mailboxes(config, os.environ), strict=True):
        name = f"mailbox {desk.address}" if len(config.desks) > 1 else "mailbox"
        if isinstance(mailbox, ImapSource):
            steps.append((name, mailbox.check))
        else:
            steps.append((name, functools.partial(str, f"Maildir {desk.path}")))
    transport = build_transport(config, os.environ)
    if isinstance(transport, SmtpTransport | MaildirTransport):
        steps.append(("smtp", transport.check))
    for name, step in steps:
        try:
            print(f"{name}: {step()}")
        except MailflowError as exc:
            print(f"{name}: FAILED: {exc}")
            failed = True
    for gap in _routing_gaps(config):
        print(f"routing: warning: no group takes {gap}, and no group is the default")
    return EX_FAILURE if failed else EX_OK


def _knowledge_ok(config: Config) -> str:
    """How many articles intake matches against, and whether the index fits the config."""
    built = built_with()
    if built and built != config.kb.segmenter:
        raise ConfigError(
            "kb.segmenter",
            f"is {config.kb.segmenter!r} but the search index was built with {built!r}: "
            "run mailflow kb reindex",
        )
    published = Article.select().where(Article.status == "published").count()
    drafts = Article.select().where(Article.status == "draft").count()
    offer = "offered" if config.kb.offer_to_requester else "not offered"
    return (
        f"{published} published articles ({drafts} drafts), matched at "
        f"{config.kb.match_score}, {offer} to requesters"
    )


def _routing_gaps(config: Config) -> list[str]:
    """Categories (of the grading rules in force, or none) and priorities that reach no group."""
    rules = intake.rules(config)
    categories = list(dict.fromkeys([None, *(r.category for r in rules if r.category)]))
    return unrouted(config.groups, categories, PRIORITIES)


def _calendar_ok(config: Config, now: dt.datetime) -> str:
    try:
        return calendar_horizon(config, now)
    except CalendarGap as gap:
        raise ConfigError(
            "calendar.complete_years",
            f"no public-holiday data for {gap.year}, which service-level deadlines set now "
            f"reach: list its holidays and workdays under [calendar] and add {gap.year} here, "
            "or upgrade chinese-calendar",
        ) from None


def _reports_ok(config: Config) -> str:
    wanted = config.reports
    if not (wanted.weekly_to or wanted.monthly_to):
        return "none scheduled ([reports] weekly_to, monthly_to)"
    font = cjk_font(wanted.font)
    counts = f"weekly to {len(wanted.weekly_to)}, monthly to {len(wanted.monthly_to)}"
    return f"{counts}; chart font {font}"


def _templates_ok(config: Config) -> str:
    check_templates(config, system_clock())
    return "templates ok (every subject keeps the ticket tag)"


def _check_database(config: Config) -> str:

    db = open_database(config.database_url, config.database_busy_seconds)
    version = init_schema(db)
    BlobStore(config.storage_path).check_writable()
    return (
        f"{redact(config.database_url)} ok (schema {version}{_encoding(db)}); "
        f"storage {config.storage_path} writable"
    )


def _encoding(db: Any) -> str:
    """PostgreSQL must store any script: a database not in UTF8 is refused. Its locale does
    not matter (mailflow cuts search terms itself and sorts nothing by the server's collation),
    so a C-locale database is fine and said to be."""
    if not isinstance(db, pw.PostgresqlDatabase):
        return ""
    encoding, ctype = db.execute_sql(  # type: ignore[no-untyped-call]
        "SELECT pg_encoding_to_char(encoding), datctype FROM pg_database "
        "WHERE datname = current_database()"
    ).fetchone()
    if encoding != "UTF8":
        raise ConfigError(
            "database.url",
            f"the database's encoding is {encoding}, which cannot store every mail's text: "
            "create it with ENCODING 'UTF8'",
        )
    return f", UTF8, LC_CTYPE {ctype}"


def cmd_demo(args: argparse.Namespace) -> int:

    return run_demo(Path(args.dir))
