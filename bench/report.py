"""Report benchmark: a monthly report over a database of a million tickets with histories.

    .venv/bin/python bench/report.py [--tickets 1000000] [--repeat 3]

Fills a fresh SQLite database (the embedded default, created by mailflow's own schema) with N
tickets spread over the twelve months of 2026, numbered in the order they arrive, with
realistic histories: nearly every ticket older than a month answered and resolved (the last
month's 90 % and 85 %), 5 % of resolutions after a reopening, closing for 87 % of the
resolved, a rating for a third of the closed ones, and the events the report reads
(status_changed, reopened, closed, survey_queued). Then times, best of ``--repeat``:

* floor: one raw sqlite3 query that reads every ticket of the month once (count and average
  first-response time), the least any report of that month must do;
* report: ``report.build`` for 2026-11 and its previous month, every figure (JSON report);
* charts: the HTML mail with its five PNG charts, once.

Target (issue 12): the monthly report ≤ 5 s on SQLite with 1,000,000 tickets.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import platform
import random
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
from mailflow.reports import html, report  # noqa: E402
from mailflow.reports.periods import month_of  # noqa: E402

CONFIG = """
[support]
address = "support@example.com"
"""
PRIORITIES = ("urgent", "high", "medium", "low")
TARGETS = {"urgent": (15, 120), "high": (30, 240), "medium": (240, 1440), "low": (1440, 10080)}
CATEGORIES = ("业务系统", "网络", "外设", "终端设备", "产品咨询", "建议", None)
GROUPS = ("系统运维组", "硬件支持组", "软件研发组")
START = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
END = dt.datetime(2027, 1, 1, tzinfo=dt.UTC)
YEAR_SECONDS = 365 * 86400 - 3600


def stamp(moment: dt.datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def fill(db_path: Path, count: int, seed: int = 12) -> int:
    """N tickets with their events, by executemany on the schema mailflow made; events made."""
    rng = random.Random(seed)
    con = sqlite3.connect(db_path)
    con.execute("PRAGMA synchronous = OFF")
    tickets, events = [], []
    made = 0
    ticket_sql = (
        'INSERT INTO ticket (id, number, subject, status, priority, category, "group", assignee,'
        " cc, requester_email, requester_name, phone, department, channel, language,"
        " submitted_at, created_at, updated_at, respond_by, resolve_by, first_response_at,"
        " resolved_at, closed_at, rating, rating_comment, rated_at, sla)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, '[]', ?, '', '', '', ?, 'zh_CN', ?, ?, ?, ?, ?, ?, ?, ?,"
        " ?, ?, ?, '{}')"
    )
    event_sql = "INSERT INTO event (ticket_id, at, actor, kind, data) VALUES (?, ?, 'x', ?, ?)"
    # Tickets are numbered as they arrive: ids follow submission times, as in a real database.
    arrivals = sorted(rng.randrange(YEAR_SECONDS) for _ in range(count))
    for n, offset in enumerate(arrivals, 1):
        submitted = START + dt.timedelta(seconds=offset)
        priority = rng.choice(PRIORITIES)
        respond_min, resolve_min = TARGETS[priority]
        # About 4 % of responses and 6 % of resolutions late, as on a desk that mostly keeps
        # its service levels.
        first = submitted + dt.timedelta(minutes=rng.expovariate(1 / (respond_min * 0.3)))
        # A real desk finishes nearly everything: tickets older than a month are open only
        # rarely; the last month's still are, some.
        settled = submitted < END - dt.timedelta(days=30)
        responded = rng.random() < (0.999 if settled else 0.9)
        resolved = responded and rng.random() < (0.995 if settled else 0.85)
        solved_at = first + dt.timedelta(minutes=rng.expovariate(1 / (resolve_min * 0.3)))
        closed = resolved and rng.random() < 0.87
        closed_at = solved_at + dt.timedelta(hours=rng.uniform(1, 72))
        rating = rng.choice((1, 2, 3, 4, 4, 4)) if closed and rng.random() < 0.33 else None
        tickets.append(
            (
                n,
                f"TS{n:09d}",
                f"问题 {n}",
                "closed" if closed else "resolved" if resolved else "in_progress",
                priority,
                rng.choice(CATEGORIES),
                rng.choice(GROUPS),
                f"eng{rng.randrange(20)}@example.com",
                f"user{n % 5000}@example.cn",
                rng.choice(("email", "email", "email", "phone")),
                stamp(submitted),
                stamp(submitted),
                stamp(submitted),
                stamp(submitted + dt.timedelta(minutes=respond_min)),
                stamp(submitted + dt.timedelta(minutes=resolve_min)),
                stamp(first) if responded else None,
                stamp(solved_at) if resolved else None,
                stamp(closed_at) if closed else None,
                rating,
                "太慢" if rating == 1 else "",
                stamp(closed_at) if rating else None,
            )
        )
        if resolved:
            events.append((n, stamp(solved_at), "status_changed", '{"after": "resolved"}'))
            if rng.random() < 0.05:
                events.append(
                    (
                        n,
                        stamp(solved_at - dt.timedelta(hours=2)),
                        "reopened",
                        '{"before": "resolved"}',
                    )
                )
        if closed:
            events.append((n, stamp(closed_at), "closed", "{}"))
            events.append((n, stamp(closed_at), "survey_queued", "{}"))
        if len(tickets) >= 20000:
            con.executemany(ticket_sql, tickets)
            con.executemany(event_sql, events)
            made += len(events)
            tickets, events = [], []
    con.executemany(ticket_sql, tickets)
    con.executemany(event_sql, events)
    made += len(events)
    con.commit()
    con.execute("ANALYZE")
    con.close()
    return made


def best(action, repeat: int) -> float:  # type: ignore[no-untyped-def]
    runs = []
    for _ in range(repeat):
        started = time.perf_counter()
        action()
        runs.append(time.perf_counter() - started)
    return min(runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tickets", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    folder = Path(tempfile.mkdtemp(prefix="mailflow-bench-report-"))
    (folder / "config.toml").write_text(textwrap.dedent(CONFIG), encoding="utf-8")
    config = config_mod.load(folder / "config.toml")
    services = open_services(config)
    db_path = folder / "var" / "mailflow.db"
    started = time.perf_counter()
    events = fill(db_path, args.tickets)
    fill_seconds = time.perf_counter() - started
    services.db.close()
    services.db.connect()
    period = month_of(dt.date(2026, 11, 1), config.support.tz)
    now = dt.datetime(2026, 12, 1, 2, 0, tzinfo=dt.UTC)
    raw = sqlite3.connect(db_path)
    bounds = (stamp(period.start.astimezone(dt.UTC)), stamp(period.end.astimezone(dt.UTC)))

    def floor() -> None:
        raw.execute(
            "SELECT COUNT(*), AVG(julianday(first_response_at) - julianday(submitted_at))"
            " FROM ticket WHERE submitted_at >= ? AND submitted_at < ?",
            bounds,
        ).fetchall()

    result: dict[str, object] = {}

    def build() -> None:
        result["report"] = report.build(services.db, config, period, now)

    floor_s = best(floor, args.repeat)
    report_s = best(build, args.repeat)
    started = time.perf_counter()
    try:
        html.for_mail(result["report"], config, "zh_CN", "example.com")  # type: ignore[arg-type]
        charts_s: float | None = time.perf_counter() - started
    except Exception as exc:
        charts_s = None
        print(f"charts not drawn: {exc}", file=sys.stderr)
    data = result["report"]
    assert isinstance(data, dict)
    print(
        json.dumps(
            {
                "tickets": args.tickets,
                "events": events,
                "fill_seconds": round(fill_seconds, 1),
                "month_received": data["tickets"]["received"],
                "floor_s": round(floor_s, 3),
                "report_s": round(report_s, 3),
                "report_over_floor": round(report_s / floor_s, 1),
                "charts_s": None if charts_s is None else round(charts_s, 2),
                "python": platform.python_version(),
                "sqlite": sqlite3.sqlite_version,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
