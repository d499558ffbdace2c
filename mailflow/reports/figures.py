"""Every figure of a report, from SQL aggregation over tickets and events (percentiles too, by
window functions): nothing loads every ticket into Python.

Definitions (a period is [start, end) in UTC, from the support time zone's days):

- received: tickets submitted in the period; by priority, category, group and source.
- resolved: tickets set to resolved in the period (``status_changed`` events; a ticket resolved
  twice counts once); closed: ``closed`` events; reopened: ``reopened`` events.
- first response: tickets first answered in the period, from submission; met when answered by
  the response deadline. Resolution: tickets whose (latest) resolution falls in the period,
  from submission; met when resolved by the resolution deadline. Median and 90th percentile
  by nearest rank.
- backlog: tickets submitted before the end and neither resolved nor closed before it (by
  their current resolution and closing times), aged by the time since submission.
- satisfaction: ratings given in the period; response rate: ratings over surveys sent in it;
  score: the mean rating on 0-100 (非常满意 100, 满意 67, 一般 33, 不满意 0).
- workload: tickets resolved in the period by their handler and by group, with the median
  resolution time.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Sequence
from typing import Any

import peewee as pw

from mailflow.spec import RATINGS

AGES = (("lt_1d", 0, 86400), ("1_3d", 86400, 3 * 86400), ("3_7d", 3 * 86400, 7 * 86400))
AGES_OPEN = ("gt_7d", 7 * 86400)


class Sql:
    """The few places where SQLite and PostgreSQL spell things differently."""

    def __init__(self, db: pw.Database) -> None:
        self.db = db
        self.p = db.param
        self.postgres = isinstance(db, pw.PostgresqlDatabase)

    def seconds(self, later: str, earlier: str) -> str:
        if self.postgres:
            return f"EXTRACT(EPOCH FROM ({later} - {earlier}))"
        if sqlite3.sqlite_version_info >= (3, 38):  # unixepoch() parses a quarter faster
            return f"(unixepoch({later}) - unixepoch({earlier}))"
        return f"((julianday({later}) - julianday({earlier})) * 86400.0)"

    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return list(self.db.execute_sql(sql, tuple(params)).fetchall())  # type: ignore[no-untyped-call]


def tickets(sql: Sql, start: dt.datetime, end: dt.datetime) -> dict[str, Any]:
    p = sql.p
    window = f"submitted_at >= {p} AND submitted_at < {p}"
    # One pass over the period's tickets; the four breakdowns are sums of its few rows.
    cells = sql.rows(
        "SELECT priority, COALESCE(category, ''), COALESCE(\"group\", ''), channel, COUNT(*) "
        f"FROM ticket WHERE {window} GROUP BY 1, 2, 3, 4",
        (start, end),
    )

    def by(column: int) -> dict[str, int]:
        totals: dict[str, int] = {}
        for row in cells:
            totals[str(row[column])] = totals.get(str(row[column]), 0) + int(row[4])
        return dict(sorted(totals.items(), key=lambda item: (-item[1], item[0])))

    def events(kind: str, like: str = "") -> int:
        extra = f" AND data LIKE {p}" if like else ""
        params: list[Any] = [kind, start, end] + ([like] if like else [])
        return int(
            sql.rows(
                f"SELECT COUNT(DISTINCT ticket_id) FROM event WHERE kind = {p} AND at >= {p} "
                f"AND at < {p}{extra}",
                params,
            )[0][0]
        )

    return {
        "received": sum(int(row[4]) for row in cells),
        "resolved": events("status_changed", '%"after": "resolved"%'),
        "closed": events("closed"),
        "reopened": events("reopened"),
        "by_priority": by(0),
        "by_category": by(1),
        "by_group": by(2),
        "by_source": by(3),
    }


def times(
    sql: Sql,
    stop: str,
    deadline: str,
    start: dt.datetime,
    end: dt.datetime,
    keys: tuple[str, ...] = ("priority",),
) -> dict[str, dict[str, dict[str, Any]]]:
    """Median, 90th percentile, count and share met of ``stop - submitted_at`` for the tickets
    whose ``stop`` falls in the period, by each of ``keys`` (one pass over those tickets: the
    durations are computed once, then ranked per key). A percentile is by nearest rank: the
    least duration whose cumulative share (CUME_DIST) reaches it."""
    p = sql.p
    ranked = " UNION ALL ".join(
        f"""SELECT '{key}' AS dim, "{key}" AS k, s, met,
                   CUME_DIST() OVER (PARTITION BY "{key}" ORDER BY s) AS share
            FROM base WHERE "{key}" IS NOT NULL"""
        for key in keys
    )
    columns = ", ".join(f'"{key}"' for key in keys)
    found = sql.rows(
        f"""
        WITH base AS MATERIALIZED (
            SELECT {columns}, {sql.seconds(stop, "submitted_at")} AS s,
                   CASE WHEN {deadline} IS NOT NULL AND {stop} <= {deadline} THEN 1 ELSE 0 END
                       AS met
            FROM ticket WHERE {stop} >= {p} AND {stop} < {p}
        ), ranked AS ({ranked})
        SELECT dim, k, COUNT(*), SUM(met),
               MIN(CASE WHEN share >= 0.5 THEN s END),
               MIN(CASE WHEN share >= 0.9 THEN s END)
        FROM ranked GROUP BY dim, k ORDER BY dim, k
        """,
        (start, end),
    )
    result: dict[str, dict[str, dict[str, Any]]] = {key: {} for key in keys}
    for dim, k, count, met, median, p90 in found:
        result[str(dim)][str(k)] = {
            "count": int(count),
            "met": int(met or 0),
            "met_share": round(int(met or 0) / int(count), 4) if count else None,
            "median_seconds": round(float(median)) if median is not None else None,
            "p90_seconds": round(float(p90)) if p90 is not None else None,
        }
    return result


def breaches(sql: Sql, start: dt.datetime, end: dt.datetime) -> list[dict[str, Any]]:
    """Tickets whose response or resolution deadline fell in the period and was missed (met
    late, or not met at all yet)."""
    p = sql.p
    found = sql.rows(
        f"""
        SELECT number, priority, assignee, subject, 'respond', respond_by, first_response_at
        FROM ticket WHERE respond_by >= {p} AND respond_by < {p}
          AND (first_response_at IS NULL OR first_response_at > respond_by)
        UNION ALL
        SELECT number, priority, assignee, subject, 'resolve', resolve_by, resolved_at
        FROM ticket WHERE resolve_by >= {p} AND resolve_by < {p}
          AND (resolved_at IS NULL OR resolved_at > resolve_by)
        ORDER BY 6, 1
        """,
        (start, end, start, end),
    )
    return [
        {
            "number": number,
            "priority": priority,
            "assignee": assignee,
            "subject": subject,
            "clock": clock,
            "deadline": deadline,
            "done_at": done,
        }
        for number, priority, assignee, subject, clock, deadline, done in found
    ]


def backlog(sql: Sql, end: dt.datetime) -> dict[str, int]:
    p = sql.p
    age = sql.seconds(p, "submitted_at")
    cases = " ".join(f"WHEN {age} < {high} THEN '{name}'" for name, _, high in AGES)
    # Three indexed pieces instead of a scan of every ticket ever submitted: the still open,
    # and those resolved or closed only after the end.
    found = sql.rows(
        f"""
        SELECT CASE {cases} ELSE '{AGES_OPEN[0]}' END, COUNT(*) FROM (
            SELECT id, submitted_at FROM ticket
            WHERE resolved_at IS NULL AND closed_at IS NULL AND submitted_at < {p}
            UNION
            SELECT id, submitted_at FROM ticket
            WHERE resolved_at >= {p} AND submitted_at < {p}
              AND (closed_at IS NULL OR closed_at >= {p})
            UNION
            SELECT id, submitted_at FROM ticket
            WHERE closed_at >= {p} AND submitted_at < {p}
              AND (resolved_at IS NULL OR resolved_at >= {p})
        ) AS open_then GROUP BY 1
        """,
        [end] * len(AGES) + [end] * 7,
    )
    ages = {name: 0 for name, _, _ in AGES} | {AGES_OPEN[0]: 0}
    ages.update({str(name): int(count) for name, count in found})
    return {"open": sum(ages.values()), **ages}


def satisfaction(sql: Sql, start: dt.datetime, end: dt.datetime) -> dict[str, Any]:
    p = sql.p
    found = dict(
        sql.rows(
            f"SELECT rating, COUNT(*) FROM ticket WHERE rated_at >= {p} AND rated_at < {p} "
            "AND rating IS NOT NULL GROUP BY rating",
            (start, end),
        )
    )
    surveys = sql.rows(
        f"SELECT COUNT(*) FROM event WHERE kind = {p} AND at >= {p} AND at < {p}",
        ("survey_queued", start, end),
    )[0][0]
    responses = sum(int(v) for v in found.values())
    total = sum(int(level) * int(count) for level, count in found.items())
    unhappy = sql.rows(
        f"SELECT number, subject, assignee, rating_comment FROM ticket WHERE rating = 1 "
        f"AND rated_at >= {p} AND rated_at < {p} ORDER BY rated_at, number",
        (start, end),
    )
    return {
        "counts": {
            RATINGS[level]: int(found.get(level, 0)) for level in sorted(RATINGS, reverse=True)
        },
        "responses": responses,
        "surveys": int(surveys),
        "response_rate": round(responses / int(surveys), 4) if surveys else None,
        "score": round((total / responses - 1) / 3 * 100, 1) if responses else None,
        "dissatisfied": [
            {"number": n, "subject": s, "assignee": a, "comment": c} for n, s, a, c in unhappy
        ],
    }


def workload(
    resolution: dict[str, dict[str, dict[str, Any]]],
) -> dict[str, Any]:
    """Tickets resolved in the period per handler and per group, with the median time (from
    the resolution figures by assignee and group)."""

    def handled(rows: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        return {
            name: {"handled": row["count"], "median_resolution_seconds": row["median_seconds"]}
            for name, row in rows.items()
        }

    return {"engineers": handled(resolution["assignee"]), "groups": handled(resolution["group"])}


def articles(sql: Sql, start: dt.datetime, end: dt.datetime) -> dict[int, dict[str, Any]]:
    """Knowledge-base articles by what happened with them in the period: tickets they were
    matched to on intake, offered to requesters, helped (the requester said so) or not."""
    p = sql.p
    rows = sql.rows(
        "SELECT a.id, a.title, "
        "SUM(CASE WHEN l.relation = 'linked' THEN 1 ELSE 0 END), "
        "SUM(CASE WHEN l.relation = 'offered' THEN 1 ELSE 0 END), "
        "SUM(CASE WHEN l.relation = 'helped' THEN 1 ELSE 0 END), "
        "SUM(CASE WHEN l.relation = 'not_helped' THEN 1 ELSE 0 END) "
        f"FROM article_link l JOIN article a ON a.id = l.article_id "
        f"WHERE l.at >= {p} AND l.at < {p} GROUP BY a.id, a.title",
        (start, end),
    )
    return {
        int(r[0]): {
            "title": r[1],
            "tickets": int(r[2]),
            "offered": int(r[3]),
            "helped": int(r[4]),
            "not_helped": int(r[5]),
        }
        for r in rows
    }
