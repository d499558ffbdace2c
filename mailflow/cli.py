"""The ``mailflow`` command: run the daemon, ingest from an MTA, inspect tickets, check setup.

Logging is configured here and only here. Every ``MailflowError`` becomes one line on stderr and
an exit code; a traceback is never the user interface (``-v`` adds one for debugging).
"""

from __future__ import annotations

import argparse
import datetime as dt
import functools
import json
import logging
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from mailflow import __version__
from mailflow import config as config_mod
from mailflow.config import Config
from mailflow.daemon import Worker, build_mailbox, build_transport, open_services, system_clock
from mailflow.delivery.delivery import Delivery
from mailflow.delivery.mailing import check_templates
from mailflow.delivery.transports import MaildirTransport, SmtpTransport
from mailflow.demo import run_demo
from mailflow.errors import ConfigError, InputError, MailflowError, WorkflowError
from mailflow.pipeline import quarantine
from mailflow.pipeline.handling import handle
from mailflow.process.command_lines import CommandLine
from mailflow.process.engineers import act
from mailflow.sources import RawMail
from mailflow.sources.imap import ImapSource
from mailflow.store.blobs import BlobStore
from mailflow.store.database import open_database, redact, transaction
from mailflow.store.models import Ticket
from mailflow.store.schema import init_schema
from mailflow.views import ticket_detail, ticket_summary, ticket_text

log = logging.getLogger("mailflow")

EX_OK = 0
EX_FAILURE = 1
EX_USAGE = 2
EX_DATAERR = 65
EX_TEMPFAIL = 75  # sysexits.h: the MTA keeps the mail and retries
EX_CONFIG = 78


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


def _parser() -> argparse.ArgumentParser:
    common = _common(defaults=False)
    parser = argparse.ArgumentParser(
        prog="mailflow",
        parents=[_common(defaults=True)],
        description="Email-driven ticket processor.",
    )
    parser.add_argument("--version", action="version", version=f"mailflow {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser("run", parents=[common], help="poll the mailbox and send mail")
    run.add_argument(
        "--once", action="store_true", help="handle what is waiting, flush the outbox, exit"
    )
    run.add_argument("--now", type=_moment, metavar="ISO", help=_NOW_HELP)
    sub.add_parser("init-db", parents=[common], help="create or upgrade the database schema")
    ingest = sub.add_parser(
        "ingest", parents=[common], help="store one RFC 822 mail read from stdin (MTA pipe)"
    )
    ingest.add_argument(
        "--no-send", action="store_true", help="only queue the acknowledgement; `run` sends it"
    )
    ingest.add_argument("--now", type=_moment, metavar="ISO", help=_NOW_HELP)
    tickets = sub.add_parser("tickets", parents=[common], help="list tickets")
    tickets.add_argument("--status", help="only tickets with this status")
    tickets.add_argument("--json", action="store_true", help="JSON output")
    ticket = sub.add_parser("ticket", parents=[common], help="one ticket")
    ticket_sub = ticket.add_subparsers(dest="ticket_command", required=True, metavar="ACTION")
    show = ticket_sub.add_parser("show", parents=[common], help="show a ticket")
    show.add_argument("number")
    show.add_argument("--json", action="store_true", help="JSON output")
    actions = {
        "assign": ("assign to an engineer", "ENGINEER", "name or address"),
        "status": ("change the status", "STATUS", "in-progress, waiting, resolved"),
        "priority": ("change the priority", "PRIORITY", "urgent, high, medium, low"),
        "note": ("add an internal note", "TEXT", "seen by staff only"),
        "reply": ("reply to the requester", "TEXT", "sent from the support address"),
        "escalate": ("escalate", "REASON", "why"),
    }
    for action, (summary, metavar, value_help) in actions.items():
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
    sub.add_parser(
        "check", parents=[common], help="validate the config, try the mailbox and the SMTP server"
    )
    demo = sub.add_parser(
        "demo", parents=[common], help="seed sample mails into a local Maildir and run one pass"
    )
    demo.add_argument(
        "--dir", default="mailflow-demo", help="demo folder (default ./mailflow-demo)"
    )
    return parser


def load_config(explicit: str | None) -> Config:
    """The config from -c / $MAILFLOW_CONFIG / ./config.toml, else the embedded defaults."""
    path = config_mod.locate(explicit, os.environ, Path.cwd())
    if path is None:
        log.info("no config file; using embedded defaults (SQLite + Maildir under %s)", Path.cwd())
        return config_mod.defaults(Path.cwd())
    return config_mod.load(path)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    if not args.verbose:
        for noisy in ("mailparser", "imapclient", "peewee"):
            logging.getLogger(noisy).setLevel(logging.ERROR)
    handler = COMMANDS[args.command]
    try:
        return handler(args)
    except MailflowError as exc:
        if args.verbose:
            log.exception("failed")
        print(f"mailflow: {exc}", file=sys.stderr)
        return exit_code(exc, args.command)
    except KeyboardInterrupt:
        return 130


def exit_code(exc: MailflowError, command: str) -> int:
    """The exit code of an error's branch of the tree in ``errors`` (drawn there)."""
    if isinstance(exc, InputError):
        return EX_DATAERR
    if command == "ingest":
        return EX_TEMPFAIL  # the MTA keeps the mail and retries; nothing is bounced
    if isinstance(exc, ConfigError):
        return EX_CONFIG
    return EX_FAILURE


def cmd_run(args: argparse.Namespace) -> int:

    if args.now is not None and not args.once:
        print("mailflow: run: --now needs --once (a daemon keeps real time)", file=sys.stderr)
        return EX_USAGE
    config = load_config(args.config)
    services = open_services(config)
    worker = Worker(
        services,
        build_mailbox(config, os.environ),
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
    print(f"database ready (schema version {version})")
    return EX_OK


def cmd_ingest(args: argparse.Namespace) -> int:

    data = sys.stdin.buffer.read()
    if not data.strip():
        print("mailflow: ingest: nothing on stdin (no mail to keep)", file=sys.stderr)
        return EX_DATAERR
    config = load_config(args.config)
    services = open_services(config)
    now = args.now or system_clock()
    # Unexpected failures inside are quarantined by the workflow itself; what escapes is
    # database or storage trouble, which main() turns into EX_TEMPFAIL so the MTA retries.
    outcome = handle(RawMail(data, None, now, "stdin"), now, services)
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


def _open_read(args: argparse.Namespace) -> Config:
    config = load_config(args.config)
    db = open_database(config.database_url, config.database_busy_seconds)
    init_schema(db)
    return config


def cmd_tickets(args: argparse.Namespace) -> int:

    config = _open_read(args)
    query = Ticket.select().order_by(Ticket.created_at, Ticket.id)
    if args.status:
        query = query.where(Ticket.status == args.status)
    rows = [ticket_summary(t, config.support.tz) for t in query]
    if args.json:
        print(json.dumps(rows, ensure_ascii=False, indent=2))
        return EX_OK
    if not rows:
        print("no tickets")
        return EX_OK
    for r in rows:
        when = (r["created_at"] or "").replace("T", " ")[:16]
        print(
            f"{r['number']:<16} {r['status']:<11} {r['priority']:<7} {when}  "
            f"{r['requester']:<28} {r['subject']}"
        )
    return EX_OK


def cmd_ticket(args: argparse.Namespace) -> int:
    if args.ticket_command != "show":
        return _ticket_action(args)

    config = _open_read(args)
    number = args.number.strip().strip("[]").upper()
    ticket = Ticket.get_or_none(Ticket.number == number)
    if ticket is None:
        raise WorkflowError(f"no ticket {number}")
    if args.json:
        print(json.dumps(ticket_detail(ticket, config.support.tz), ensure_ascii=False, indent=2))
    else:
        print(ticket_text(ticket, config.support.tz, config.support.language), end="")
    return EX_OK


def _ticket_action(args: argparse.Namespace) -> int:
    """The same actions engineers take by mail, with the same rules and the same events."""
    config = load_config(args.config)
    services = open_services(config)
    person = config.person(args.actor or "")
    if person is None or person.role not in ("engineer", "supervisor"):
        raise WorkflowError(
            f"--as {args.actor or '(missing)'}: give a configured engineer or supervisor "
            "(or set MAILFLOW_ACTOR)"
        )
    number = args.number.strip().strip("[]").upper()
    ticket = Ticket.get_or_none(Ticket.number == number)
    if ticket is None:
        raise WorkflowError(f"no ticket {number}")
    value = " ".join(args.value)
    action = args.ticket_command
    text = value if action in ("note", "reply") else ""
    command = {
        "assign": ("assign", value),
        "status": ("status", value),
        "priority": ("priority", value),
        "note": ("internal", "yes"),
        "escalate": (
            "escalate",
            f"{args.group} {value}" if getattr(args, "group", None) else value,
        ),
    }.get(action)
    commands = (
        [CommandLine(command[0], command[0], command[1], f"{command[0]}: {command[1]}")]
        if command
        else []
    )
    now = system_clock()
    with transaction(services.db):
        errors = act(ticket, person, commands, text, now, services)
    if errors:
        for error in errors:
            print(f"mailflow: {number}: {error}", file=sys.stderr)
        return EX_FAILURE
    delivery = Delivery(services, build_transport(config, os.environ))
    try:
        result = delivery.flush(now)
    finally:
        delivery.close()
    fresh = Ticket.get(Ticket.number == number)
    print(
        f"{number}: {action} done; status {fresh.status}, priority {fresh.priority}, "
        f"handler {fresh.assignee or '-'}; {result.sent} mails sent"
    )
    return EX_OK


def cmd_quarantine(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    services = open_services(config)
    tz = config.support.tz
    action = args.quarantine_command
    if action == "list":
        rows = [quarantine.describe(e, tz) for e in quarantine.entries(args.all)]
        if args.json:
            print(json.dumps(rows, ensure_ascii=False, indent=2))
        elif not rows:
            print("quarantine is empty")
        for r in [] if args.json else rows:
            when = (r["at"] or "").replace("T", " ")[:19]
            print(f"#{r['id']:<5} {when}  {r['status']:<8} {r['size']:>9} B  {r['error']}")
        return EX_OK
    entry = quarantine.get(args.id)
    if action == "show":
        if args.raw:
            sys.stdout.buffer.write(services.store.get(entry.raw_sha256))
            return EX_OK
        for key, value in quarantine.describe(entry, tz).items():
            print(f"{key:>8}: {value}")
        head = services.store.get(entry.raw_sha256)[:2000].split(b"\n\n", 1)[0]
        print("\n" + head.decode("utf-8", "replace"))
        return EX_OK
    if action == "retry":
        result = quarantine.retry(entry, system_clock(), services)
        if isinstance(result, str):
            print(f"#{entry.id} still cannot be read: {result}")
            return EX_FAILURE
        print(f"#{entry.id} {result.action} {result.ticket_number or ''}".rstrip())
        return EX_OK
    quarantine.drop(entry, services)
    print(f"#{entry.id} dropped (its raw bytes stay in {config.storage_path})")
    return EX_OK


def cmd_check(args: argparse.Namespace) -> int:

    config = load_config(args.config)
    print(f"config ok{f' ({config.source})' if config.source else ' (embedded defaults)'}")
    failed = False
    steps: list[tuple[str, Callable[[], str]]] = [
        ("database", lambda: _check_database(config)),
        ("templates", lambda: _templates_ok(config)),
    ]
    mailbox = build_mailbox(config, os.environ)
    if isinstance(mailbox, ImapSource):
        steps.append(("mailbox", mailbox.check))
    else:
        steps.append(("mailbox", lambda: f"Maildir {config.mailbox.path}"))
    transport = build_transport(config, os.environ)
    if isinstance(transport, SmtpTransport | MaildirTransport):
        steps.append(("smtp", transport.check))
    for name, step in steps:
        try:
            print(f"{name}: {step()}")
        except MailflowError as exc:
            print(f"{name}: FAILED: {exc}")
            failed = True
    return EX_FAILURE if failed else EX_OK


def _templates_ok(config: Config) -> str:
    check_templates(config, system_clock())
    return "templates ok (every subject keeps the ticket tag)"


def _check_database(config: Config) -> str:

    db = open_database(config.database_url, config.database_busy_seconds)
    version = init_schema(db)
    BlobStore(config.storage_path).check_writable()
    return (
        f"{redact(config.database_url)} ok (schema {version}); "
        f"storage {config.storage_path} writable"
    )


def cmd_demo(args: argparse.Namespace) -> int:

    return run_demo(Path(args.dir))


COMMANDS = {
    "run": cmd_run,
    "init-db": cmd_init_db,
    "ingest": cmd_ingest,
    "tickets": cmd_tickets,
    "ticket": cmd_ticket,
    "quarantine": cmd_quarantine,
    "check": cmd_check,
    "demo": cmd_demo,
}

__all__ = ["main"]
