"""The command line's grammar: commands, their options, and the checks argparse can make."""

from __future__ import annotations

import argparse
import datetime as dt
import os
from typing import Any

from mailflow import __version__


def _common(defaults: bool) -> argparse.ArgumentParser:
    # The same options before and after the command name; after it they must not reset what was
    # given before it, hence SUPPRESS as the sub-command default.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "-c",
        "--config",
        metavar="PATH",
        default=None if defaults else argparse.SUPPRESS,
        help="config file (default: $MAILFLOW_CONFIG, else ./config.toml; "
        "without one, embedded defaults under the current folder)",
    )
    common.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        default=False if defaults else argparse.SUPPRESS,
        help="debug logging",
    )
    return common


_NOW_HELP = (
    "act as if it were this moment (ISO 8601 with offset, e.g. 2026-12-01T10:00:00+08:00): "
    "for tests, replaying a backlog, and moving the clock of deadlines"
)


def _moment(text: str) -> dt.datetime:
    """``--now``: an ISO 8601 moment with its UTC offset (a time without one is ambiguous)."""
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 date and time: {text!r}") from None
    if moment.tzinfo is None:
        raise argparse.ArgumentTypeError(
            f"{text!r} has no UTC offset; write e.g. {text}+08:00 or {text}Z"
        )
    return moment.astimezone(dt.UTC)


def _duration(text: str) -> dt.timedelta:
    """``--due-within``: 90s, 30m, 1h, 2d (a bare number is minutes)."""
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    raw = text.strip().lower()
    unit = raw[-1] if raw[-1:] in units else "m"
    number = raw[:-1] if raw[-1:] in units else raw
    try:
        value = float(number)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a duration like 30m, 1h or 2d: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"a duration cannot be negative: {text!r}")
    return dt.timedelta(seconds=value * units[unit])


def parser() -> argparse.ArgumentParser:
    """The whole command line."""
    common = _common(defaults=False)
    top = argparse.ArgumentParser(
        prog="mailflow",
        parents=[_common(defaults=True)],
        description="Email-driven ticket processor.",
    )
    top.add_argument("--version", action="version", version=f"mailflow {__version__}")
    sub = top.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _running(sub, common)
    _tickets(sub, common)
    _report(sub, common)
    _quarantine(sub, common)
    _knowledge(sub, common)
    return top


def _running(sub: Any, common: argparse.ArgumentParser) -> None:
    run = sub.add_parser("run", parents=[common], help="poll the mailbox and send mail")
    run.add_argument(
        "--once", action="store_true", help="handle what is waiting, flush the outbox, exit"
    )
    run.add_argument("--now", type=_moment, metavar="ISO", help=_NOW_HELP)
    init = sub.add_parser("init-db", parents=[common], help="create or upgrade the database schema")
    init.add_argument(
        "--renumber",
        action="store_true",
        help="number new tickets with [support] ticket_prefix from now on (the database "
        "refuses a prefix other than the one it numbers with)",
    )
    ingest = sub.add_parser(
        "ingest", parents=[common], help="store one RFC 822 mail read from stdin (MTA pipe)"
    )
    ingest.add_argument(
        "--no-send", action="store_true", help="only queue the acknowledgement; `run` sends it"
    )
    ingest.add_argument("--now", type=_moment, metavar="ISO", help=_NOW_HELP)
    ingest.add_argument(
        "--mailbox",
        metavar="ADDRESS",
        help="the [[mailbox]] (by its address) the mail was delivered to; default: the first",
    )
    check = sub.add_parser(
        "check", parents=[common], help="validate the config, try the mailbox and the SMTP server"
    )
    check.add_argument("--now", type=_moment, metavar="ISO", help=_NOW_HELP)
    demo = sub.add_parser(
        "demo", parents=[common], help="play the support process on a sample desk, no servers"
    )
    demo.add_argument(
        "--dir", default="mailflow-demo", help="demo folder (default ./mailflow-demo)"
    )


# Ticket actions from a shell: summary, value name and value help.
ACTIONS = {
    "assign": ("assign to an engineer", "ENGINEER", "name or address"),
    "status": ("change the status", "STATUS", "in-progress, waiting, resolved"),
    "priority": ("change the priority", "PRIORITY", "urgent, high, medium, low"),
    "note": ("add an internal note", "TEXT", "seen by staff only"),
    "reply": ("reply to the requester", "TEXT", "sent from the support address"),
    "escalate": ("escalate", "REASON", "why"),
}


def _report(sub: Any, common: argparse.ArgumentParser) -> None:
    report = sub.add_parser(
        "report", parents=[common], help="the weekly or monthly analysis report of a period"
    )
    report.add_argument("--period", help="an ISO week (2026-W49) or a month (2026-12)")
    report.add_argument("--from", dest="date_from", metavar="DATE", help="first day, 2026-12-01")
    report.add_argument("--to", dest="date_to", metavar="DATE", help="last day, 2026-12-31")
    report.add_argument(
        "--format",
        choices=("md", "json", "csv", "html", "eml"),
        default="md",
        help="md (default), json, csv, html (charts inline, for a browser) or eml (the mail "
        "the scheduler sends, charts as cid: parts)",
    )
    report.add_argument("--out", metavar="FILE", help="write there instead of stdout")
    report.add_argument(
        "--for-requesters",
        action="store_true",
        help="handlers' names masked as in every requester-facing mail",
    )
    report.add_argument("--now", type=_moment, metavar="ISO", help=_NOW_HELP)


def _tickets(sub: Any, common: argparse.ArgumentParser) -> None:
    tickets = sub.add_parser("tickets", parents=[common], help="list tickets")
    tickets.add_argument("--status", help="only tickets with this status")
    tickets.add_argument(
        "--overdue", action="store_true", help="open tickets past a running deadline"
    )
    tickets.add_argument(
        "--due-within",
        type=_duration,
        metavar="DURATION",
        help="open tickets with a running deadline within this time (30m, 1h, 2d)",
    )
    tickets.add_argument(
        "--breached",
        action="store_true",
        help="tickets that missed a response or resolution deadline, open or not",
    )
    tickets.add_argument("--now", type=_moment, help=_NOW_HELP)
    tickets.add_argument("--json", action="store_true", help="JSON output")
    board = sub.add_parser(
        "sla", parents=[common], help="open tickets by time left to their next deadline"
    )
    board.add_argument("--now", type=_moment, help=_NOW_HELP)
    board.add_argument("--json", action="store_true", help="JSON output")
    ticket = sub.add_parser("ticket", parents=[common], help="one ticket")
    ticket_sub = ticket.add_subparsers(dest="ticket_command", required=True, metavar="ACTION")
    show = ticket_sub.add_parser("show", parents=[common], help="show a ticket")
    show.add_argument("number")
    show.add_argument("--json", action="store_true", help="JSON output")
    show.add_argument("--now", type=_moment, help=_NOW_HELP)
    for action, (summary, metavar, value_help) in ACTIONS.items():
        one = ticket_sub.add_parser(action, parents=[common], help=summary)
        one.add_argument("number")
        one.add_argument("value", metavar=metavar, nargs="+", help=value_help)
        one.add_argument(
            "--as",
            dest="actor",
            metavar="EMAIL",
            default=os.environ.get("MAILFLOW_ACTOR"),
            help="the configured engineer or supervisor acting (default $MAILFLOW_ACTOR)",
        )
        if action == "escalate":
            one.add_argument("--group", help="escalate to this group")


def _quarantine(sub: Any, common: argparse.ArgumentParser) -> None:
    q_parser = sub.add_parser("quarantine", parents=[common], help="mail that could not be handled")
    q_sub = q_parser.add_subparsers(dest="quarantine_command", required=True, metavar="ACTION")
    q_list = q_sub.add_parser("list", parents=[common], help="held entries")
    q_list.add_argument("--all", action="store_true", help="also retried and dropped ones")
    q_list.add_argument("--json", action="store_true", help="JSON output")
    q_show = q_sub.add_parser("show", parents=[common], help="one entry")
    q_show.add_argument("id", type=int)
    q_show.add_argument("--raw", action="store_true", help="write the raw mail to stdout")
    q_retry = q_sub.add_parser("retry", parents=[common], help="handle the mail again")
    q_retry.add_argument("id", type=int)
    q_drop = q_sub.add_parser("drop", parents=[common], help="mark dealt with (bytes are kept)")
    q_drop.add_argument("id", type=int)


def _actor(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--as",
        dest="actor",
        metavar="EMAIL",
        default=os.environ.get("MAILFLOW_ACTOR"),
        help="who acts (default $MAILFLOW_ACTOR)",
    )


def _article_fields(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--file", metavar="FILE.md", help="the article as a Markdown file")
    parser.add_argument("--title")
    parser.add_argument("--category")
    parser.add_argument("--keywords", help="comma-separated")
    parser.add_argument("--symptoms")
    parser.add_argument("--cause")
    parser.add_argument("--steps", help="the solution steps (Markdown)")
    parser.add_argument("--status", choices=("draft", "published", "retired"))
    _actor(parser)


def _knowledge(sub: Any, common: argparse.ArgumentParser) -> None:
    kb = sub.add_parser("kb", parents=[common], help="the knowledge base")
    kb_sub = kb.add_subparsers(dest="kb_command", required=True, metavar="ACTION")
    _article_fields(kb_sub.add_parser("add", parents=[common], help="add an article"))
    edit = kb_sub.add_parser(
        "edit", parents=[common], help="change an article (no options: in $EDITOR)"
    )
    edit.add_argument("id", type=int)
    _article_fields(edit)
    show = kb_sub.add_parser("show", parents=[common], help="one article and its tickets")
    show.add_argument("id", type=int)
    show.add_argument("--json", action="store_true", help="JSON output")
    listing = kb_sub.add_parser("list", parents=[common], help="the articles")
    listing.add_argument("--status", choices=("draft", "published", "retired"))
    listing.add_argument("--category")
    listing.add_argument("--json", action="store_true", help="JSON output")
    find = kb_sub.add_parser(
        "search", parents=[common], help="the published articles for a text, and why"
    )
    find.add_argument("text", nargs="+", help="the text (- reads it from stdin)")
    find.add_argument("--limit", type=int, default=5)
    find.add_argument("--json", action="store_true", help="JSON output")
    bring = kb_sub.add_parser("import", parents=[common], help="a folder of Markdown articles")
    bring.add_argument("dir")
    out = kb_sub.add_parser("export", parents=[common], help="every article as Markdown files")
    out.add_argument("dir")
    out.add_argument("--status", choices=("draft", "published", "retired"))
    for action, summary in (
        ("retire", "stop matching and offering an article"),
        ("publish", "publish a draft"),
    ):
        one = kb_sub.add_parser(action, parents=[common], help=summary)
        one.add_argument("id", type=int)
        _actor(one)
    drafted = kb_sub.add_parser(
        "from-ticket", parents=[common], help="draft an article from a solved ticket"
    )
    drafted.add_argument("number")
    drafted.add_argument("--title", help="default: the ticket's subject")
    _actor(drafted)
    kb_sub.add_parser(
        "reindex", parents=[common], help="rebuild the search index (after changing segmenter)"
    )
    archive = sub.add_parser("archive", parents=[common], help="closed tickets, filed")
    archive_sub = archive.add_subparsers(dest="archive_command", required=True, metavar="ACTION")
    export = archive_sub.add_parser(
        "export", parents=[common], help="mbox, attachments and summary of tickets"
    )
    export.add_argument("numbers", nargs="*", metavar="NUMBER")
    export.add_argument("--closed-since", metavar="DATE", help="every ticket closed since then")
    export.add_argument("--out", default="archive", help="folder (default ./archive)")
