"""Service-level arithmetic without servers: the business calendar (nights, lunch breaks,
weekends, holidays, make-up working days, config dates, a year without data), the clocks
replayed with pauses, the config's bad input, and the scheduler's jobs."""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path
from typing import Any

import pytest

from mailflow.config import CalendarConfig, defaults, from_dict
from mailflow.daemon.jobs import Jobs
from mailflow.errors import ConfigError
from mailflow.sla.calendar import AroundTheClock, BusinessHours
from mailflow.sla.clocks import Run, runs, state_of
from mailflow.sla.days import CalendarGap
from mailflow.sla.timers import calendar_horizon

CST = dt.timezone(dt.timedelta(hours=8))


def at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=CST)


def business(**calendar: Any) -> BusinessHours:
    return BusinessHours(CalendarConfig(**calendar), "Asia/Shanghai")


# start, working hours to add, expected deadline (Asia/Shanghai, 09:00-12:00 and 13:00-18:00
# Monday to Friday, chinese-calendar's holidays).
ADD_CASES = [
    ("2026-12-01 10:00", 4, "2026-12-01 15:00", "over the lunch break"),
    ("2026-12-01 11:30", 1, "2026-12-01 13:30", "into the afternoon"),
    ("2026-12-01 17:30", 1, "2026-12-02 09:30", "over a night"),
    ("2026-12-01 20:00", 1, "2026-12-02 10:00", "submitted at night"),
    ("2026-12-04 17:00", 2, "2026-12-07 10:00", "over a weekend"),
    ("2026-12-05 10:00", 1, "2026-12-07 10:00", "submitted on a Saturday"),
    ("2026-12-01 10:00", 8, "2026-12-02 10:00", "a whole working day"),
    ("2026-02-13 17:00", 2, "2026-02-14 10:00", "into a make-up Saturday (Spring Festival)"),
    ("2026-02-14 17:00", 2, "2026-02-24 10:00", "over the Spring Festival holiday"),
    ("2026-02-27 17:00", 2, "2026-02-28 10:00", "into the second make-up Saturday"),
    ("2026-12-01 12:00", 0.5, "2026-12-01 13:30", "from the start of the lunch break"),
    ("2026-12-01 18:00", 0.25, "2026-12-02 09:15", "from the end of the day"),
]


@pytest.mark.parametrize(("start", "hours", "expected", "why"), ADD_CASES)
def test_business_deadlines(start: str, hours: float, expected: str, why: str) -> None:
    assert business().add(at(start), hours * 3600) == at(expected), why


def test_around_the_clock_counts_every_second() -> None:
    clock = AroundTheClock()
    assert clock.add(at("2026-12-05 23:50"), 15 * 60) == at("2026-12-06 00:05")
    assert clock.between(at("2026-02-14 10:00"), at("2026-02-15 10:00")) == 86400


def test_working_time_between_two_moments() -> None:
    calendar = business()
    assert calendar.between(at("2026-12-04 17:00"), at("2026-12-07 10:00")) == 2 * 3600
    assert calendar.between(at("2026-12-01 11:00"), at("2026-12-01 14:00")) == 2 * 3600
    assert calendar.between(at("2026-02-14 17:00"), at("2026-02-24 09:00")) == 3600
    assert calendar.between(at("2026-12-01 20:00"), at("2026-12-01 22:00")) == 0
    assert calendar.is_working(at("2026-02-28 10:00"))  # a make-up Saturday
    assert not calendar.is_working(at("2026-02-17 10:00"))  # Spring Festival
    assert not calendar.is_working(at("2026-12-01 12:30"))  # lunch
    assert calendar.next_working(at("2026-12-04 19:00")) == at("2026-12-07 09:00")


def test_config_dates_always_win() -> None:
    calendar = business(
        holidays=frozenset({dt.date(2026, 12, 2)}), workdays=frozenset({dt.date(2026, 12, 5)})
    )
    assert calendar.add(at("2026-12-01 17:00"), 2 * 3600) == at("2026-12-03 10:00")
    assert calendar.add(at("2026-12-04 17:00"), 2 * 3600) == at("2026-12-05 10:00")
    # A configured working day overrides even the package's holiday.
    override = business(workdays=frozenset({dt.date(2026, 2, 17)}))
    assert override.add(at("2026-02-14 17:00"), 2 * 3600) == at("2026-02-17 10:00")


def test_a_year_without_data_is_never_silently_weekdays() -> None:
    """chinese-calendar knows 2026 and not 2027: strict arithmetic refuses, the lenient one
    (used for deadlines) counts by weekday and names the year; complete_years declares it."""
    with pytest.raises(CalendarGap) as gap:
        business().add(at("2026-12-31 17:00"), 3 * 3600)
    assert gap.value.year == 2027
    lenient = BusinessHours(CalendarConfig(), "Asia/Shanghai", strict=False)
    assert lenient.add(at("2026-12-31 17:00"), 3 * 3600) == at("2027-01-01 11:00")
    assert lenient.gaps == {2027}
    declared = business(complete_years=frozenset({2027}), holidays=frozenset({dt.date(2027, 1, 1)}))
    assert declared.add(at("2026-12-31 17:00"), 3 * 3600) == at("2027-01-04 11:00")


def test_check_names_the_year_a_deadline_reaches(tmp_path: Path) -> None:
    config = defaults(tmp_path)
    assert "2026-12" in calendar_horizon(config, at("2026-11-20 10:00"))
    with pytest.raises(CalendarGap) as gap:
        calendar_horizon(config, at("2026-12-10 10:00"))  # low: 21 working days
    assert gap.value.year == 2027
    around = from_dict(
        {"sla": {p: {"clock": "24x7"} for p in ("urgent", "high", "medium", "low")}}, tmp_path
    )
    assert "around the clock" in calendar_horizon(around, at("2026-12-10 10:00"))


def test_pauses_replay_from_history() -> None:
    """A 4-hour business resolution clock paused for a night and a morning."""
    calendar = business()
    plain = Run("resolve", 4 * 3600, at("2026-12-01 10:00"))
    assert plain.moment(calendar) == at("2026-12-01 15:00")
    assert plain.moment(calendar, 0.75) == at("2026-12-01 14:00")
    assert plain.moment(calendar, 2.0) == at("2026-12-02 10:00")
    paused = Run(
        "resolve",
        4 * 3600,
        at("2026-12-01 10:00"),
        ((at("2026-12-01 11:00"), at("2026-12-02 11:00")),),
    )
    # 1 h before the pause; 3 h left from 11:00 the next day: 11-12, 13-15.
    assert paused.moment(calendar) == at("2026-12-02 15:00")
    assert paused.consumed(calendar, at("2026-12-02 12:00")) == 2 * 3600
    assert paused.paused_seconds(at("2026-12-03 00:00")) == 86400
    still = Run("resolve", 4 * 3600, at("2026-12-01 10:00"), ((at("2026-12-01 11:00"), None),))
    assert still.moment(calendar) is None  # no deadline while paused
    assert still.moment(calendar, 0.2) == at("2026-12-01 10:48")  # passed before the pause
    assert still.consumed(calendar, at("2026-12-05 00:00")) == 3600


def test_clock_states() -> None:
    deadline = at("2026-12-01 10:15")
    assert state_of(deadline, None, False, None, at("2026-12-01 10:05")).state == "running"
    late = state_of(deadline, None, False, None, at("2026-12-01 10:20"))
    assert (late.state, late.overrun_seconds) == ("breached", 300)
    assert state_of(deadline, at("2026-12-01 10:10"), False, None, deadline).state == "met"
    assert state_of(deadline, at("2026-12-01 10:30"), False, None, deadline).state == "breached"
    assert state_of(None, None, True, 600, deadline).remaining_seconds == 600


def test_which_clocks_a_ticket_has() -> None:
    from mailflow.sla.clocks import History

    history = History(
        submitted=at("2026-12-01 10:00"),
        status="in_progress",
        first_response=at("2026-12-01 10:10"),
        resolved=None,
        resolve_start=at("2026-12-01 10:00"),
        pauses=(),
        last_update=at("2026-12-01 11:00"),
    )
    names = [r.name for r in runs(history, 900, 7200, 3600)]
    assert names == ["respond", "resolve", "update"]
    assert runs(history, 900, 7200, 3600)[2].start == at("2026-12-01 11:00")
    assert [r.name for r in runs(history, 900, 7200, 0)] == ["respond", "resolve"]


BAD_CONFIG = [
    ({"calendar": {"holidays": ["2027-13-01"]}}, "calendar.holidays", "2027-13-01"),
    ({"calendar": {"hours": {"mon": ["18:00-09:00"]}}}, "calendar.hours.mon", "18:00-09:00"),
    ({"calendar": {"hours": {"tue": ["9-12"]}}}, "calendar.hours.tue", "9-12"),
    ({"sla": {"critical": {"respond_minutes": 5}}}, "sla.critical", "critical"),
    ({"sla": {"head": "nobody@example.com"}}, "sla.head", "nobody@example.com"),
    ({"sla": {"warn_ratio": 1.5}}, "sla.warn_ratio", "1.5"),
    ({"sla": {"urgent": {"clock": "weekdays"}}}, "sla.urgent.clock", "weekdays"),
    ({"calendar": {"holidays_from": "holidays", "country": "CN"}}, "calendar.country", "调休"),
    ({"calendar": {"complete_years": ["2027"]}}, "calendar.complete_years", "2027"),
    ({"sla": {"overrides": [{"group": "nowhere", "resolve_minutes": 60}]}}, "overrides", "nowhere"),
]


@pytest.mark.parametrize(("data", "key", "value"), BAD_CONFIG)
def test_bad_service_level_config_names_key_and_value(
    data: dict[str, Any], key: str, value: str, tmp_path: Path
) -> None:
    with pytest.raises(ConfigError) as error:
        from_dict(data, tmp_path)
    assert key in str(error.value) and value in str(error.value)


def test_overrides_pick_the_most_specific(tmp_path: Path) -> None:
    config = from_dict(
        {
            "people": [{"name": "S", "email": "s@example.com", "role": "supervisor"}],
            "groups": [{"name": "ops", "supervisor": "s@example.com", "default": True}],
            "sla": {
                "high": {"update_minutes": 60},
                "overrides": [
                    {"group": "ops", "resolve_minutes": 480},
                    {"group": "ops", "category": "网络", "priority": "high", "clock": "24x7"},
                ],
            },
        },
        tmp_path,
    )
    assert config.sla.target("high", "ops", None).resolve_minutes == 480
    net = config.sla.target("high", "ops", "网络")
    assert (net.clock, net.resolve_minutes, net.update_minutes) == ("24x7", 240, 60)
    assert config.sla.target("high", None, None).clock == "business"
    assert config.sla["urgent"].clock == "24x7"


def test_jobs_run_when_due_and_survive_a_failure(caplog: pytest.LogCaptureFixture) -> None:
    """Every job is due in a fresh process; a job that raises is logged with its name and
    runs again at its next interval; the others still run; time is the given ``now``."""
    ran: list[tuple[str, dt.datetime]] = []
    jobs = Jobs()

    def broken(now: dt.datetime) -> None:
        ran.append(("broken", now))
        raise RuntimeError("boom")

    jobs.every(30, "sweep", lambda now: ran.append(("sweep", now)))
    jobs.every(60, "broken", broken)
    start = at("2026-12-01 10:00")
    assert sorted(jobs.due(start)) == ["broken", "sweep"]
    with caplog.at_level(logging.ERROR):
        assert jobs.run_due(start) == ["broken"]
    assert "job broken failed" in caplog.text
    assert jobs.due(start + dt.timedelta(seconds=29)) == []
    assert jobs.due(start + dt.timedelta(seconds=30)) == ["sweep"]
    jobs.run_due(start + dt.timedelta(seconds=61))
    assert [name for name, _ in ran] == ["sweep", "broken", "sweep", "broken"]
    assert jobs.next_due() == start + dt.timedelta(seconds=91)


def test_a_slow_job_leaves_the_rest_for_the_next_pass() -> None:
    import time

    ran: list[str] = []
    jobs = Jobs()
    jobs.every(30, "slow", lambda now: (ran.append("slow"), time.sleep(0.05)))
    jobs.every(30, "quick", lambda now: ran.append("quick"))
    start = at("2026-12-01 10:00")
    jobs.run_due(start, budget_seconds=0.01)
    assert ran == ["slow"]  # the budget was spent: quick waits for the next pass
    jobs.run_due(start + dt.timedelta(seconds=1), budget_seconds=0.01)
    assert ran == ["slow", "quick"]
