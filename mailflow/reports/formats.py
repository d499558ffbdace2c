"""A report as JSON, CSV (every number, one per row, beside the previous period's) and
Markdown (the tables a reader wants, also the text part of the mailed report)."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from typing import Any

from mailflow.config import PRIORITIES

AGE_LABELS = {"lt_1d": "< 1 day", "1_3d": "1-3 days", "3_7d": "3-7 days", "gt_7d": "> 7 days"}


def as_json(report: dict[str, Any]) -> str:
    return json.dumps(report, ensure_ascii=False, indent=2, default=str) + "\n"


def numbers(data: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    """Every number of a report section as (dotted path, value); lists by position."""
    if isinstance(data, dict):
        for key, value in data.items():
            yield from numbers(value, f"{path}.{key}" if path else str(key))
    elif isinstance(data, list):
        for n, value in enumerate(data):
            yield from numbers(value, f"{path}[{n}]")
    elif isinstance(data, bool):
        return
    elif isinstance(data, int | float) or (data is None and path):
        yield path, data


def as_csv(report: dict[str, Any]) -> str:
    """figure, value, previous, change: every number of the report, one row each."""
    current = dict(numbers({k: v for k, v in report.items() if k not in ("previous", "period")}))
    previous = dict(numbers({k: v for k, v in report["previous"].items() if k != "period"}))
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["period", report["period"]["name"], report["previous"]["period"]["name"], ""])
    writer.writerow(["figure", "value", "previous", "change"])
    for path in list(current) + [p for p in previous if p not in current]:
        value, before = current.get(path), previous.get(path)
        change = (
            value - before
            if isinstance(value, int | float) and isinstance(before, int | float)
            else ""
        )
        writer.writerow([path, _cell(value), _cell(before), _cell(change)])
    return out.getvalue()


def _cell(value: Any) -> str:
    if value is None or value == "":
        return ""
    return str(round(value, 4)) if isinstance(value, float) else str(value)


def duration(seconds: float | None) -> str:
    """1 h 05 min, 2 d 03 h, 12 min; "-" for none."""
    if seconds is None:
        return "-"
    minutes = round(seconds / 60)
    days, rest = divmod(minutes, 1440)
    hours, mins = divmod(rest, 60)
    if days:
        return f"{days} d {hours:02d} h"
    return f"{hours} h {mins:02d} min" if hours else f"{mins} min"


def share(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.0f}%"


def change(now: float, before: float) -> str:
    delta = now - before
    return "±0" if delta == 0 else f"{delta:+g}"


def table(header: list[str], rows: list[list[Any]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c).replace("|", "/") for c in row) + " |" for row in rows]
    return lines


def as_markdown(report: dict[str, Any]) -> str:
    """The whole report as Markdown tables (readable as plain text too)."""
    previous = report["previous"]
    lines = [
        f"# Support report {report['period']['name']}",
        "",
        f"{report['period']['start'][:10]} to {report['period']['end'][:10]} (end exclusive); "
        f"compared with {previous['period']['name']}.",
        "",
    ]
    for section in (_tickets, _problems, _times, _backlog, _satisfaction, _workload, _breaches):
        lines += [*section(report, previous), ""]
    return "\n".join(lines).rstrip() + "\n"


def _tickets(report: dict[str, Any], previous: dict[str, Any]) -> list[str]:
    now, before = report["tickets"], previous["tickets"]
    rows = [
        [name, now[name], before[name], change(now[name], before[name])]
        for name in ("received", "resolved", "closed", "reopened")
    ]
    for group in ("by_priority", "by_source", "by_group"):
        for key, count in now[group].items():
            rows.append(
                [
                    f"{group[3:]}: {key or '-'}",
                    count,
                    before[group].get(key, 0),
                    change(count, before[group].get(key, 0)),
                ]
            )
    return ["## Tickets", "", *table(["", "this period", "previous", "change"], rows)]


def _problems(report: dict[str, Any], previous: dict[str, Any]) -> list[str]:
    rows = [
        [c["name"] or "(none)", c["count"], c["previous"], change(c["count"], c["previous"])]
        for c in report["problems"]["categories"]
    ]
    known = [
        [
            f"KB-{a['id']} {a['title']}",
            a["count"],
            a["previous"],
            change(a["count"], a["previous"]),
            a["offered"],
            a["helped"],
        ]
        for a in report["problems"]["articles"]
    ]
    articles = (
        ["", *table(["article", "tickets", "previous", "change", "offered", "helped"], known)]
        if known
        else []
    )
    return [
        "## Most frequent problems",
        "",
        *table(["category", "tickets", "previous", "change"], rows),
        *articles,
    ]


def _times(report: dict[str, Any], previous: dict[str, Any]) -> list[str]:
    lines: list[str] = []
    for clock, title in (("first_response", "First response"), ("resolution", "Resolution")):
        rows = []
        for priority in PRIORITIES:
            row = report["times"][clock].get(priority)
            before = previous["times"][clock].get(priority, {})
            if row is None:
                continue
            rows.append(
                [
                    priority,
                    row["count"],
                    duration(row["median_seconds"]),
                    duration(row["p90_seconds"]),
                    duration(row["target_minutes"] * 60),
                    share(row["met_share"]),
                    share(before.get("met_share")),
                ]
            )
        lines += [
            f"## {title} times",
            "",
            *table(
                ["priority", "tickets", "median", "90th pct", "target", "met", "met before"], rows
            ),
            "",
        ]
    return lines[:-1]


def _backlog(report: dict[str, Any], previous: dict[str, Any]) -> list[str]:
    now, before = report["backlog"], previous["backlog"]
    rows = [["open at the end", now["open"], before["open"], change(now["open"], before["open"])]]
    rows += [
        [label, now[key], before[key], change(now[key], before[key])]
        for key, label in AGE_LABELS.items()
    ]
    return ["## Backlog", "", *table(["", "this period", "previous", "change"], rows)]


def _satisfaction(report: dict[str, Any], previous: dict[str, Any]) -> list[str]:
    now, before = report["satisfaction"], previous["satisfaction"]
    rows = [
        [level, count, before["counts"].get(level, 0)] for level, count in now["counts"].items()
    ]
    rows += [
        ["responses", now["responses"], before["responses"]],
        ["response rate", share(now["response_rate"]), share(before["response_rate"])],
        [
            "score (0-100)",
            now["score"] if now["score"] is not None else "-",
            before["score"] if before["score"] is not None else "-",
        ],
    ]
    lines = ["## Satisfaction", "", *table(["", "this period", "previous"], rows)]
    if now["dissatisfied"]:
        lines += ["", "不满意 (dissatisfied):", ""]
        lines += [
            f"- {d['number']} {d['subject']}: {d['comment'] or '(no comment)'}"
            for d in now["dissatisfied"]
        ]
    return lines


def _workload(report: dict[str, Any], previous: dict[str, Any]) -> list[str]:
    rows = [
        [row.get("name", key), row["handled"], duration(row["median_resolution_seconds"])]
        for key, row in report["workload"]["engineers"].items()
    ]
    groups = [
        [key or "-", row["handled"], duration(row["median_resolution_seconds"])]
        for key, row in report["workload"]["groups"].items()
    ]
    return [
        "## Workload",
        "",
        *table(["engineer", "resolved", "median resolution"], rows),
        "",
        *table(["group", "resolved", "median resolution"], groups),
    ]


def _breaches(report: dict[str, Any], previous: dict[str, Any]) -> list[str]:
    rows = [
        [
            b["number"],
            b["priority"],
            b["clock"],
            (b["deadline"] or "")[:16].replace("T", " "),
            (b["done_at"] or "not yet")[:16].replace("T", " "),
            b.get("handler") or "-",
        ]
        for b in report["breaches"]
    ]
    return [
        "## Missed deadlines",
        "",
        *table(["ticket", "priority", "clock", "deadline", "met at", "handler"], rows),
    ]
