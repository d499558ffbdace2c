"""What one pass of the daemon did, for its log line, the CLI, the benchmark and systemd."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import peewee as pw

from mailflow.delivery.outbox import pending_count
from mailflow.errors import StorageError
from mailflow.pipeline.handling import Outcome


@dataclass
class CycleReport:
    handled: list[Outcome] = field(default_factory=list)
    sent: int = 0
    sla_notices: int = 0
    errors: list[str] = field(default_factory=list)
    poll_seconds: float = 0.0  # measured durations, for the log line and the benchmark
    seconds: float = 0.0


def status_line(now: dt.datetime, report: CycleReport) -> str:
    """One line for ``systemctl status``: the last pass, what it did, what waits to be sent."""
    try:
        waiting = f"{pending_count()} waiting to be sent"
    except (StorageError, pw.OperationalError, pw.InterfaceError):
        waiting = "outbox unknown (database unavailable)"
    line = (
        f"last pass {now.astimezone(dt.UTC):%Y-%m-%d %H:%M:%S} UTC: "
        f"{len(report.handled)} mails handled, {report.sent} sent; {waiting}"
    )
    return line + (f"; {report.errors[0]}" if report.errors else "")
