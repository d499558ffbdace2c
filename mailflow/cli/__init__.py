"""The ``mailflow`` command: run the daemon, ingest from an MTA, inspect tickets, check setup.

Logging is configured here and only here. Every ``MailflowError`` becomes one line on stderr and
an exit code (``exit_code``: one per branch of the tree in ``errors``); a traceback is never the
user interface (``-v`` adds one for debugging).
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence

from mailflow.cli.common import EX_CONFIG, EX_DATAERR, EX_FAILURE, EX_TEMPFAIL, log
from mailflow.cli.knowledge import cmd_archive, cmd_kb
from mailflow.cli.operate import cmd_check, cmd_demo, cmd_ingest, cmd_init_db, cmd_run
from mailflow.cli.parser import parser
from mailflow.cli.reporting import cmd_report
from mailflow.cli.tickets import cmd_quarantine, cmd_sla, cmd_ticket, cmd_tickets
from mailflow.errors import ConfigError, InputError, MailflowError


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; the process's exit code."""
    args = parser().parse_args(argv)
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


COMMANDS = {
    "run": cmd_run,
    "init-db": cmd_init_db,
    "ingest": cmd_ingest,
    "tickets": cmd_tickets,
    "ticket": cmd_ticket,
    "sla": cmd_sla,
    "report": cmd_report,
    "quarantine": cmd_quarantine,
    "kb": cmd_kb,
    "archive": cmd_archive,
    "check": cmd_check,
    "demo": cmd_demo,
}
