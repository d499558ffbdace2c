"""``mailflow report``: a period's analysis report to stdout or a file."""

from __future__ import annotations

import argparse
import datetime as dt
import secrets
import sys
from pathlib import Path
from typing import Any, TextIO

from mailflow.cli.common import EX_OK, EX_USAGE, open_read
from mailflow.config import Config
from mailflow.daemon import system_clock
from mailflow.errors import InputError
from mailflow.reports import formats, html, report, sending
from mailflow.reports.periods import parse_period
from mailflow.store.models import database_proxy

WRITERS = {"json": formats.as_json, "csv": formats.as_csv, "md": formats.as_markdown}


def cmd_report(args: argparse.Namespace) -> int:
    config = open_read(args)
    now = args.now or system_clock()
    try:
        period = parse_period(args.period, args.date_from, args.date_to, now, config.support.tz)
    except InputError as exc:
        print(f"mailflow: report: {exc}", file=sys.stderr)
        return EX_USAGE
    progress = Progress(sys.stderr)
    progress.step(f"report {period.name}: figures")
    data = report.build(database_proxy.obj, config, period, now, args.for_requesters)
    if args.format in ("html", "eml"):
        progress.step(f"report {period.name}: charts")
    output = _render(args.format, data, config, now)
    progress.done()
    if args.out:
        Path(args.out).write_bytes(output)
        print(f"report {period.name} written to {args.out}")
    else:
        sys.stdout.buffer.write(output)
    return EX_OK


def _render(kind: str, data: dict[str, Any], config: Config, now: dt.datetime) -> bytes:
    if kind == "html":
        return html.standalone(data, config, sending.language(config)).encode("utf-8")
    if kind == "eml":
        return sending.eml(data, config, now, secrets.token_hex(8))
    return WRITERS[kind](data).encode("utf-8")


class Progress:
    """What a long command is doing, on a terminal only (one line, rewritten)."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.active = stream.isatty()

    def step(self, text: str) -> None:
        if self.active:
            self.stream.write(f"\r\033[K{text} …")
            self.stream.flush()

    def done(self) -> None:
        if self.active:
            self.stream.write("\r\033[K")
            self.stream.flush()
