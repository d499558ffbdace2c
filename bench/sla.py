"""Service-level sweep benchmark: one sweep over a database of many open tickets, few of them due.

    .venv/bin/python bench/sla.py [--tickets 100000] [--due 300] [--repeat 5]

Fills a fresh SQLite database (the embedded default) with N open tickets, each with the six
pending timers a ticket has (respond and resolve: warning, breach, second level), of which
``--due`` are due at the benchmark's moment (urgent tickets past their response deadline, so
each breach goes to the handler and the supervisor). Then times, best of ``--repeat``:

* floor: the smallest query that can answer "what is due": raw sqlite3 on the same file and
  index, ``SELECT id FROM sla_timer WHERE done_at IS NULL AND due_at <= ? ORDER BY due_at
  LIMIT 500``;
* find: the sweep's own query through peewee (what grows with the number of open tickets);
* scan: loading every open ticket, what a sweep that looped over tickets in Python would pay
  before computing anything (shown to make the index's worth visible, not as a target);

and once, on the filled database: the whole sweep, which claims each due timer, renders its
mails (zh_CN, text and HTML) and queues them in the outbox, one transaction per notice.

Target (issue 10): one sweep ≤ 0.2 s for 100,000 open tickets with a few hundred due.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import platform
import sqlite3
import sys
import tempfile
import textwrap
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from mailflow import config as config_mod  # noqa: E402
from mailflow.daemon import open_services  # noqa: E402
from mailflow.process.service_levels import BATCH, sweep  # noqa: E402
from mailflow.services import Services  # noqa: E402
from mailflow.store.database import transaction  # noqa: E402
from mailflow.store.models import SlaTimer, Ticket, utc  # noqa: E402

NOW = dt.datetime(2026, 12, 1, 2, 30, tzinfo=dt.UTC)  # 10:30 in Asia/Shanghai, a Tuesday
CONFIG = """
[support]
address = "support@example.com"
[[people]]
name = "王伟"
email = "wang.wei@example.com"
role = "engineer"
groups = ["ops"]
[[people]]
name = "李娜"
email = "li.na@example.com"
role = "supervisor"
[[groups]]
name = "ops"
supervisor = "li.na@example.com"
default = true
"""
LEVELS = (("warning", 0.75), ("breach", 1.0), ("second_level", 2.0))


def fill(services: Services, tickets: int, due: int) -> None:
    """N open tickets; the first ``due`` are urgent ones whose response breach is due now."""
    submitted = utc(NOW - dt.timedelta(minutes=20))
    later = utc(NOW + dt.timedelta(days=1))
    targets = {
        "respond": {"minutes": 15, "clock": "24x7"},
        "resolve": {"minutes": 120, "clock": "24x7"},
        "update": {"minutes": 0, "clock": "24x7"},
    }
    step = 2000
    with transaction(services.db):
        for start in range(0, tickets, step):
            rows = []
            for n in range(start, min(start + step, tickets)):
                rows.append(
                    {
                        "number": f"TS20261201{n:06d}",
                        "subject": f"ERP 无法登录 {n}",
                        "status": "assigned",
                        "priority": "urgent",
                        "group": "ops",
                        "assignee": "wang.wei@example.com",
                        "requester_email": f"user{n}@example.cn",
                        "language": "zh_CN",
                        "submitted_at": submitted,
                        "created_at": submitted,
                        "updated_at": submitted,
                        "respond_by": submitted + dt.timedelta(minutes=15) if n < due else later,
                        "resolve_by": later,
                        "sla": {"key": ["urgent", "ops", None], "targets": targets},
                    }
                )
            Ticket.insert_many(rows).execute()
        ids = [t.id for t in Ticket.select(Ticket.id).order_by(Ticket.id)]
        for start in range(0, len(ids), step):
            rows = []
            for index, ticket_id in enumerate(ids[start : start + step], start):
                for clock, minutes in (("respond", 15), ("resolve", 120)):
                    deadline = submitted + dt.timedelta(minutes=minutes)
                    for level, share in LEVELS:
                        due_at = submitted + dt.timedelta(minutes=minutes * share)
                        if index >= due:  # not due: push every level a day on
                            deadline += dt.timedelta(days=1)
                            due_at += dt.timedelta(days=1)
                        elif not (clock == "respond" and level == "breach"):
                            due_at = later  # one due notice per due ticket
                        rows.append(
                            {
                                "ticket": ticket_id,
                                "clock": clock,
                                "level": level,
                                "deadline": deadline,
                                "due_at": due_at,
                            }
                        )
            SlaTimer.insert_many(rows).execute()


def best(seconds: list[float]) -> float:
    return min(seconds)


def timed(action, repeat: int) -> float:  # type: ignore[no-untyped-def]
    runs = []
    for _ in range(repeat):
        started = time.perf_counter()
        action()
        runs.append(time.perf_counter() - started)
    return best(runs)


def main() -> None:
    logging.basicConfig(level=logging.ERROR)  # one warning line per notice otherwise
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tickets", type=int, default=100_000)
    parser.add_argument("--due", type=int, default=300)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="mailflow-bench-sla-"))
    (folder / "config.toml").write_text(textwrap.dedent(CONFIG), encoding="utf-8")
    services = open_services(config_mod.load(folder / "config.toml"))
    started = time.perf_counter()
    fill(services, args.tickets, args.due)
    fill_seconds = time.perf_counter() - started
    services.db.execute_sql("ANALYZE")  # type: ignore[no-untyped-call]

    raw = sqlite3.connect(folder / "var" / "mailflow.db")
    moment = utc(NOW).isoformat(sep=" ")

    def floor() -> None:
        raw.execute(
            "SELECT id FROM sla_timer WHERE done_at IS NULL AND due_at <= ? "
            "ORDER BY due_at LIMIT ?",
            (moment, BATCH),
        ).fetchall()

    def find() -> None:
        query = (
            SlaTimer.select(SlaTimer.id)
            .where(SlaTimer.done_at.is_null() & (SlaTimer.due_at <= utc(NOW)))
            .order_by(SlaTimer.due_at)
            .limit(BATCH)
        )
        assert len(list(query)) == args.due

    def scan() -> None:
        list(Ticket.select().where(Ticket.status.not_in(("resolved", "closed"))))

    plan = raw.execute(
        "EXPLAIN QUERY PLAN SELECT id FROM sla_timer WHERE done_at IS NULL AND due_at <= ? "
        "ORDER BY due_at LIMIT 500",
        (moment,),
    ).fetchall()
    floor_s, find_s = timed(floor, args.repeat), timed(find, args.repeat)
    scan_s = timed(scan, max(1, args.repeat // 2))
    started = time.perf_counter()
    fired = sweep(NOW, services)
    sweep_s = time.perf_counter() - started
    assert len(fired) == args.due, len(fired)
    started = time.perf_counter()
    again = sweep(NOW, services)  # nothing left: the steady state of a sweep every 30 s
    idle_s = time.perf_counter() - started
    assert again == []
    result = {
        "tickets": args.tickets,
        "timers": args.tickets * 6,
        "due": args.due,
        "fill_seconds": round(fill_seconds, 1),
        "floor_ms": round(floor_s * 1000, 2),
        "find_ms": round(find_s * 1000, 2),
        "find_over_floor": round(find_s / floor_s, 2),
        "scan_open_tickets_ms": round(scan_s * 1000, 1),
        "sweep_with_mails_ms": round(sweep_s * 1000, 1),
        "sweep_per_notice_ms": round(sweep_s * 1000 / max(1, args.due), 2),
        "idle_sweep_ms": round(idle_s * 1000, 2),
        "mails_queued": 2 * args.due,
        "plan": [row[-1] for row in plan],
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
    }
    print(json.dumps(result, ensure_ascii=False, indent=2))


if __name__ == "__main__":
    main()
