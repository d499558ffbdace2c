"""A report: the figures of a period beside the period before it, with the change.

JSON names (stable; fields are only added): ``period`` (``name``, ``kind``, ``start``,
``end``), ``tickets`` (``received``, ``resolved``, ``closed``, ``reopened``,
``by_priority``, ``by_category``, ``by_group``, ``by_source``), ``problems``
(``categories``: name, count, previous, change; ``articles``: the knowledge-base articles
matched to the period's tickets: id, title, count, previous, change, offered, helped,
not_helped), ``times`` (``first_response`` and ``resolution``, each by priority
with ``count``, ``met``, ``met_share``, ``median_seconds``, ``p90_seconds``,
``target_minutes``), ``breaches``, ``backlog`` (``open`` and by age), ``satisfaction``
(``counts`` by the four levels of the spec, ``responses``, ``surveys``, ``response_rate``,
``score``, ``dissatisfied``), ``workload`` (``engineers``, ``groups``), and ``previous`` with
the same figures for the period before.
"""

from __future__ import annotations

import datetime as dt
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import peewee as pw

from mailflow.config import PRIORITIES, Config
from mailflow.delivery.masking import mask_name
from mailflow.reports import figures
from mailflow.reports.periods import Period
from mailflow.store.models import utc

TOP_CATEGORIES = 10


def build(
    db: pw.Database,
    config: Config,
    period: Period,
    now: dt.datetime,
    for_requesters: bool = False,
) -> dict[str, Any]:
    """The report of ``period`` as of ``now`` (a period still running is reported so far;
    see the module docstring for its shape)."""
    sql = figures.Sql(db)
    before = period.previous()
    # The period before is computed beside this one, on a connection of its own (peewee keeps
    # one per thread; SQLite in WAL mode and PostgreSQL both serve readers side by side).
    with ThreadPoolExecutor(max_workers=1) as pool:
        earlier = pool.submit(_figures_apart, sql, before, config, now)
        current = _figures(sql, period, config, now)
        previous = earlier.result()
    current["problems"] = _problems(current, previous)
    report = {
        "period": {**_period(period), "as_of": _as_of(period, now)},
        **current,
        "previous": {"period": _period(before), **previous},
    }
    if for_requesters:
        _mask(report, config)
    else:
        _name(report, config)
    return report


def _figures_apart(
    sql: figures.Sql, period: Period, config: Config, now: dt.datetime
) -> dict[str, Any]:
    try:
        return _figures(sql, period, config, now)
    finally:
        sql.db.close()  # this thread's connection


def _as_of(period: Period, now: dt.datetime) -> str:
    return min(period.end, now).astimezone(period.tz).isoformat()


def _period(period: Period) -> dict[str, str]:
    return {
        "name": period.name,
        "kind": period.kind,
        "start": period.start.isoformat(),
        "end": period.end.isoformat(),
    }


def _figures(sql: figures.Sql, period: Period, config: Config, now: dt.datetime) -> dict[str, Any]:
    start, end = utc(period.start), utc(min(period.end, now))
    first = figures.times(sql, "first_response_at", "respond_by", start, end)["priority"]
    resolved = figures.times(
        sql, "resolved_at", "resolve_by", start, end, ("priority", "assignee", "group")
    )
    resolution = resolved["priority"]
    for priority in PRIORITIES:
        target = config.sla[priority]
        for rows, minutes in (
            (first, target.respond_minutes),
            (resolution, target.resolve_minutes),
        ):
            rows.setdefault(priority, _empty_times())["target_minutes"] = minutes
    return {
        "tickets": figures.tickets(sql, start, end),
        "times": {"first_response": _ordered(first), "resolution": _ordered(resolution)},
        "breaches": [_breach(b, config) for b in figures.breaches(sql, start, end)],
        "backlog": figures.backlog(sql, end),
        "satisfaction": figures.satisfaction(sql, start, end),
        "workload": figures.workload(resolved),
        "_articles": figures.articles(sql, start, end),  # folded into "problems" by build
    }


def _empty_times() -> dict[str, Any]:
    return {"count": 0, "met": 0, "met_share": None, "median_seconds": None, "p90_seconds": None}


def _ordered(rows: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {p: rows[p] for p in PRIORITIES if p in rows}


def _breach(row: dict[str, Any], config: Config) -> dict[str, Any]:
    tz = config.support.tz
    return {
        **row,
        "deadline": _local(row["deadline"], tz),
        "done_at": _local(row["done_at"], tz),
    }


def _local(value: Any, tz: dt.tzinfo) -> str | None:
    if value is None:
        return None
    moment = value if isinstance(value, dt.datetime) else dt.datetime.fromisoformat(str(value))
    return moment.replace(tzinfo=dt.UTC).astimezone(tz).isoformat(timespec="seconds")


def _problems(current: dict[str, Any], previous: dict[str, Any]) -> dict[str, Any]:
    articles, earlier = current.pop("_articles"), previous.pop("_articles")
    now_counts = current["tickets"]["by_category"]
    before = previous["tickets"]["by_category"]
    ranked = sorted(now_counts.items(), key=lambda item: (-item[1], item[0]))[:TOP_CATEGORIES]
    return {
        "categories": [
            {
                "name": name,
                "count": count,
                "previous": before.get(name, 0),
                "change": count - before.get(name, 0),
            }
            for name, count in ranked
        ],
        "articles": [
            {
                "id": article_id,
                "title": row["title"],
                "count": row["tickets"],
                "previous": earlier.get(article_id, {}).get("tickets", 0),
                "change": row["tickets"] - earlier.get(article_id, {}).get("tickets", 0),
                "offered": row["offered"],
                "helped": row["helped"],
                "not_helped": row["not_helped"],
            }
            for article_id, row in sorted(
                articles.items(), key=lambda item: (-item[1]["tickets"], item[0])
            )[:TOP_CATEGORIES]
        ],
    }


def _name(report: dict[str, Any], config: Config) -> None:
    """Staff read full names: engineers' addresses get their configured names beside them."""
    for section in (report, report["previous"]):
        engineers = section["workload"]["engineers"]
        for email, row in engineers.items():
            person = config.person(email)
            row["name"] = person.name if person else email
        for breach in section["breaches"]:
            person = config.person(breach["assignee"] or "")
            breach["handler"] = person.name if person else breach["assignee"]


def _mask(report: dict[str, Any], config: Config) -> None:
    """The requester-facing variant: handlers as requesters see them (王*), no addresses."""
    for section in (report, report["previous"]):
        engineers = section["workload"]["engineers"]
        masked: dict[str, Any] = {}
        for n, (email, row) in enumerate(sorted(engineers.items()), 1):
            person = config.person(email)
            row["name"] = mask_name(person.name) if person else f"engineer {n}"
            masked[row["name"] if row["name"] not in masked else f"{row['name']} ({n})"] = row
        section["workload"]["engineers"] = masked
        for breach in section["breaches"]:
            person = config.person(breach["assignee"] or "")
            breach["handler"] = mask_name(person.name) if person else None
            breach["assignee"] = None
        for row in section["satisfaction"]["dissatisfied"]:
            person = config.person(row["assignee"] or "")
            row["assignee"] = mask_name(person.name) if person else None
