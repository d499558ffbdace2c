"""Analysis reports: periods and their boundaries in the support time zone, and every figure
checked against a seeded data set whose expected numbers this test computes on its own (plain
Python over the seed, not the report's SQL)."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import math
from pathlib import Path

import pytest

from mailflow import config as config_mod
from mailflow.daemon import open_services
from mailflow.errors import InputError
from mailflow.reports import formats
from mailflow.reports.periods import parse_period
from mailflow.spec import RATINGS
from mailflow.store.database import transaction
from tests.conftest import run_mailflow, write_config
from tests.report_data import SHANGHAI, TARGETS, Seed, at, local, seeds, store

NOW = dt.datetime(2026, 12, 1, 10, 0, tzinfo=SHANGHAI)


def test_periods_and_the_period_before() -> None:
    week = parse_period("2026-W49", None, None, NOW + dt.timedelta(days=7), SHANGHAI)
    assert (week.first, week.last) == (dt.date(2026, 11, 30), dt.date(2026, 12, 6))
    assert week.previous().name == "2026-W48"
    month = parse_period("2026-03", None, None, NOW, SHANGHAI)
    assert month.previous().name == "2026-02" and month.previous().last == dt.date(2026, 2, 28)
    january = parse_period("2026-01", None, None, NOW, SHANGHAI)
    assert january.previous().name == "2025-12"
    span = parse_period(None, "2026-11-10", "2026-11-16", NOW, SHANGHAI)
    assert (span.previous().first, span.previous().last) == (
        dt.date(2026, 11, 3),
        dt.date(2026, 11, 9),
    )
    # The week's end is Sunday midnight in Shanghai: 23:59 Sunday local is still inside.
    assert week.start == local("2026-11-30 00:00") and week.end == local("2026-12-07 00:00")
    assert week.start <= local("2026-12-06 23:59") < week.end


@pytest.mark.parametrize(
    ("period", "date_from", "date_to", "message"),
    [
        ("2026-13", None, None, "no month 13"),
        ("last month", None, None, "unknown period 'last month'"),
        ("2026-W54", None, None, "no ISO week 54"),
        ("2027-01", None, None, "has not begun yet"),
        (None, "2026-11-20", "2026-11-10", "is after --to"),
        (None, "2026-11-20", None, "give --period"),
        (None, "20.11.2026", "2026-11-21", "is not a date"),
    ],
)
def test_bad_periods_get_one_clear_line(
    period: str | None, date_from: str | None, date_to: str | None, message: str
) -> None:
    with pytest.raises(InputError, match=message.replace("(", r"\(")):
        parse_period(period, date_from, date_to, NOW, SHANGHAI)


def nearest_rank(values: list[float], share: float) -> float | None:
    ordered = sorted(values)
    return ordered[math.ceil(share * len(ordered)) - 1] if ordered else None


def expected(data: list[Seed], first: dt.datetime, end: dt.datetime) -> dict[str, object]:
    """The figures of [first, end), computed from the seed alone."""

    def inside(moment: dt.datetime | None) -> bool:
        return moment is not None and first <= moment < end

    received = [s for s in data if inside(s.submitted)]
    final = {
        s.number: s.resolve_min if s.reopened_min is None else s.reopened_min + 60 for s in data
    }
    responded = [s for s in data if inside(at(s, s.respond_min))]
    resolved_final = [s for s in data if inside(at(s, final[s.number]))]
    rated = [s for s in data if s.rating and inside(at(s, s.closed_min))]
    surveys = [s for s in data if inside(at(s, s.closed_min))]
    by_priority: dict[str, list[float]] = {}
    met: dict[str, int] = {}
    for s in responded:
        by_priority.setdefault(s.priority, []).append(s.respond_min * 60)  # type: ignore[operator]
        met[s.priority] = met.get(s.priority, 0) + (s.respond_min <= TARGETS[s.priority][0])  # type: ignore[operator]
    open_at_end = [
        s
        for s in data
        if s.submitted < end
        and not (final[s.number] and at(s, final[s.number]) < end)  # type: ignore[operator]
        and not (s.closed_min and at(s, s.closed_min) < end)  # type: ignore[operator]
    ]
    return {
        "received": len(received),
        "by_source": {c: sum(1 for s in received if s.channel == c) for c in ("email", "phone")},
        "resolved": len(
            {
                s.number
                for s in data
                for m in (s.resolve_min, final[s.number] if s.reopened_min else None)
                if m and inside(at(s, m))
            }
        ),
        "closed": len(surveys),
        "reopened": sum(1 for s in data if inside(at(s, s.reopened_min))),
        "first_response": {
            p: (len(v), nearest_rank(v, 0.5), nearest_rank(v, 0.9), met[p])
            for p, v in by_priority.items()
        },
        "resolution_count": len(resolved_final),
        "backlog": len(open_at_end),
        "ratings": {level: sum(1 for s in rated if s.rating == level) for level in RATINGS},
        "surveys": len(surveys),
        "dissatisfied": sorted(s.number for s in rated if s.rating == 1),
    }


@pytest.fixture
def seeded(tmp_path: Path) -> tuple[Path, list[Seed]]:
    path = write_config(tmp_path, '[support]\naddress = "support@example.com"\n')
    services = open_services(config_mod.load(path))
    data = seeds()
    with transaction(services.db):
        for seed in data:
            store(seed)
    return path, data


def test_report_figures_match_the_seed(seeded: tuple[Path, list[Seed]]) -> None:
    path, data = seeded
    result = run_mailflow(
        path, "report", "--period", "2026-11", "--format", "json", "--now", NOW.isoformat()
    )
    assert result.returncode == 0, result.stderr
    got = json.loads(result.stdout)
    for section, start, end in (
        (got, local("2026-11-01 00:00"), local("2026-12-01 00:00")),
        (got["previous"], local("2026-10-01 00:00"), local("2026-11-01 00:00")),
    ):
        want = expected(data, start, end)
        tickets = section["tickets"]
        assert tickets["received"] == want["received"]
        assert {k: v for k, v in tickets["by_source"].items()} == {
            k: v
            for k, v in want["by_source"].items()
            if v  # type: ignore[union-attr]
        }
        assert (tickets["resolved"], tickets["closed"], tickets["reopened"]) == (
            want["resolved"],
            want["closed"],
            want["reopened"],
        )
        for priority, (count, median, p90, met) in want["first_response"].items():  # type: ignore[union-attr]
            row = section["times"]["first_response"][priority]
            assert (row["count"], row["median_seconds"], row["p90_seconds"], row["met"]) == (
                count,
                round(median),
                round(p90),
                met,
            )
            assert row["met_share"] == round(met / count, 4)
        assert (
            sum(r["count"] for r in section["times"]["resolution"].values())
            == want["resolution_count"]
        )
        assert section["backlog"]["open"] == want["backlog"]
        counts = section["satisfaction"]["counts"]
        assert counts == {
            RATINGS[level]: n for level, n in sorted(want["ratings"].items(), reverse=True)
        }  # type: ignore[union-attr]
        assert section["satisfaction"]["surveys"] == want["surveys"]
        assert (
            sorted(d["number"] for d in section["satisfaction"]["dissatisfied"])
            == want["dissatisfied"]
        )
    assert got["period"]["start"] == "2026-11-01T00:00:00+08:00"
    assert got["previous"]["period"]["name"] == "2026-10"


def test_csv_and_markdown_carry_the_same_numbers(seeded: tuple[Path, list[Seed]]) -> None:
    path, _ = seeded
    outputs = {}
    for fmt in ("json", "csv", "md"):
        result = run_mailflow(
            path, "report", "--period", "2026-11", "--format", fmt, "--now", NOW.isoformat()
        )
        assert result.returncode == 0, result.stderr
        outputs[fmt] = result.stdout
    data = json.loads(outputs["json"])
    rows = {row[0]: row for row in csv.reader(io.StringIO(outputs["csv"]))}
    for figure, value in formats.numbers(
        {k: v for k, v in data.items() if k not in ("previous", "period")}
    ):
        assert figure in rows, figure
        assert rows[figure][1] == formats._cell(value)
    assert (
        f"| received | {data['tickets']['received']} | {data['previous']['tickets']['received']} |"
        in outputs["md"]
    )


def test_requesters_variant_masks_names_and_empty_periods_say_so(
    seeded: tuple[Path, list[Seed]], tmp_path: Path
) -> None:
    path, _ = seeded
    text = (
        path.read_text()
        + '[[people]]\nname = "王伟"\nemail = "wang.wei@example.com"\nrole = "engineer"\n'
    )
    path.write_text(text)
    staff = json.loads(
        run_mailflow(
            path, "report", "--period", "2026-11", "--format", "json", "--now", NOW.isoformat()
        ).stdout
    )
    masked = json.loads(
        run_mailflow(
            path,
            "report",
            "--period",
            "2026-11",
            "--format",
            "json",
            "--for-requesters",
            "--now",
            NOW.isoformat(),
        ).stdout
    )
    assert staff["workload"]["engineers"]["wang.wei@example.com"]["name"] == "王伟"
    assert "王*" in masked["workload"]["engineers"] and "wang.wei" not in json.dumps(masked)
    empty = run_mailflow(path, "report", "--period", "2025-01", "--now", NOW.isoformat())
    assert empty.returncode == 0 and "| received | 0 | 0 |" in empty.stdout
    bad = run_mailflow(path, "report", "--period", "2027-01", "--now", NOW.isoformat())
    assert (
        bad.returncode == 2
        and bad.stderr.strip().count("\n") == 0
        and "has not begun" in bad.stderr
    )
