"""``mailflow report``: a period's analysis report to stdout or a file."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from mailflow.cli.common import EX_OK, EX_USAGE, open_read
from mailflow.daemon import system_clock
from mailflow.errors import InputError
from mailflow.reports import formats, report
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
    data = report.build(database_proxy.obj, config, period, now, args.for_requesters)
    text = WRITERS[args.format](data)
    if args.out:
        Path(args.out).write_text(text, encoding="utf-8")
        print(f"report {period.name} written to {args.out}")
    else:
        sys.stdout.write(text)
    return EX_OK
