"""The sections about time: service-level targets ([sla]), the business calendar ([calendar]) and
who hears about problems only a person can fix ([operations])."""

from __future__ import annotations

import datetime as dt
import itertools
import re
from pathlib import Path

from mailflow.config.model import (
    CLOCKS,
    DEFAULT_HOURS,
    DEFAULT_SLA,
    PRIORITIES,
    SLA_CLOCK_DEFAULT,
    WEEKDAYS,
    CalendarConfig,
    Interval,
    OperationsConfig,
    Person,
    ReportsConfig,
    SlaConfig,
    SlaOverride,
    SlaTarget,
)
from mailflow.config.reader import _Section
from mailflow.errors import AddressError, ConfigError
from mailflow.mail import addresses

YEAR_MINUTES = 525600
SLA_SETTINGS = ("warn_ratio", "second_level_ratio", "head", "pause_when_waiting", "sweep_seconds")


def _sla(s: _Section, people: tuple[Person, ...]) -> SlaConfig:
    for key in s.data:
        if key not in (*SLA_SETTINGS, *PRIORITIES, "overrides"):
            raise ConfigError(
                s.key(key), f"unknown priority or setting {key!r} ({', '.join(PRIORITIES)})"
            )
    targets = {p: _target(s.sub(p), p) for p in PRIORITIES}
    warn = _ratio(s, "warn_ratio", 0.75, 0.05, 0.99)
    second = _ratio(s, "second_level_ratio", 2.0, 1.01, 100.0)
    head = s.text("head", "").lower()
    if head and not any(p.email == head and p.role == "supervisor" for p in people):
        raise ConfigError(s.key("head"), f'{head} is not a person with role = "supervisor"')
    sla = SlaConfig(
        targets=targets,
        overrides=_overrides(s),
        warn_ratio=warn,
        second_level_ratio=second,
        head=head,
        pause_when_waiting=bool(s.get("pause_when_waiting", bool, True)),
        sweep_seconds=s.integer("sweep_seconds", 30, 1, 3600),
    )
    s.finish()
    return sla


def _target(sub: _Section, priority: str) -> SlaTarget:
    respond, resolve = DEFAULT_SLA[priority]
    target = SlaTarget(
        respond_minutes=sub.integer("respond_minutes", respond, 1, YEAR_MINUTES),
        resolve_minutes=sub.integer("resolve_minutes", resolve, 1, YEAR_MINUTES),
        update_minutes=sub.integer("update_minutes", 0, 0, YEAR_MINUTES),
        clock=sub.choice("clock", CLOCKS, SLA_CLOCK_DEFAULT[priority]),
    )
    if target.resolve_minutes < target.respond_minutes:
        raise ConfigError(sub.key("resolve_minutes"), "must not be less than respond_minutes")
    sub.finish()
    return target


def _overrides(s: _Section) -> tuple[SlaOverride, ...]:
    s.used.add("overrides")
    raw = s.data.get("overrides", [])
    if not isinstance(raw, list):
        raise ConfigError(s.key("overrides"), "must be an array of tables ([[sla.overrides]])")
    found = []
    for index, item in enumerate(raw):
        o = _Section(item, f"{s.key('overrides')}[{index}]", s.base)
        update = o.integer("update_minutes", -1, -1, YEAR_MINUTES)  # -1: the priority's
        override = SlaOverride(
            group=o.text("group", "") or None,
            category=o.text("category", "") or None,
            priority=o.choice("priority", (*PRIORITIES, ""), "") or None,
            respond_minutes=o.integer("respond_minutes", 0, 0, YEAR_MINUTES) or None,
            resolve_minutes=o.integer("resolve_minutes", 0, 0, YEAR_MINUTES) or None,
            update_minutes=None if update == -1 else update,
            clock=o.choice("clock", (*CLOCKS, ""), "") or None,
        )
        if override.group is None and override.category is None:
            raise ConfigError(o.key("group"), "an override names a group, a category or both")
        o.finish()
        found.append(override)
    return tuple(found)


def _ratio(s: _Section, key: str, default: float, low: float, high: float) -> float:
    s.used.add(key)
    value = s.data.get(key, default)
    if not isinstance(value, int | float) or isinstance(value, bool) or not low <= value <= high:
        raise ConfigError(s.key(key), f"must be a number between {low} and {high}, got {value!r}")
    return float(value)


def check_override_groups(sla: SlaConfig, group_names: set[str]) -> None:
    """An override naming a group that does not exist would silently never apply."""
    for index, o in enumerate(sla.overrides):
        if o.group is not None and o.group not in group_names:
            raise ConfigError(f"sla.overrides[{index}].group", f"no group named {o.group!r}")


SOURCES = ("chinese-calendar", "holidays", "none")
_RANGE = re.compile(r"(\d\d):(\d\d)\s*-\s*(\d\d):(\d\d)")


def _calendar(s: _Section) -> CalendarConfig:
    source = s.choice("holidays_from", SOURCES, "chinese-calendar")
    country = s.text("country", "CN").upper()
    if source == "holidays":
        _check_country(s, country)
    calendar = CalendarConfig(
        holidays_from=source,
        country=country,
        hours=_hours(s.sub("hours")),
        holidays=_dates(s, "holidays"),
        workdays=_dates(s, "workdays"),
        complete_years=_years(s, "complete_years"),
    )
    both = calendar.holidays & calendar.workdays
    if both:
        raise ConfigError(s.key("workdays"), f"{min(both)} is also listed in holidays")
    s.finish()
    return calendar


def _check_country(s: _Section, country: str) -> None:
    if country == "CN":
        raise ConfigError(
            s.key("country"),
            "the holidays package has no make-up working days (调休) for China; "
            'use holidays_from = "chinese-calendar"',
        )
    import holidays  # noqa: PLC0415  (100 ms to import; only configs that use it pay)

    if country not in holidays.list_supported_countries():
        raise ConfigError(s.key("country"), f"the holidays package does not know {country!r}")


def _hours(s: _Section) -> dict[str, tuple[Interval, ...]]:
    hours: dict[str, tuple[Interval, ...]] = {}
    for day in WEEKDAYS:
        value = s.get(day, list, None)
        if value is None:
            hours[day] = DEFAULT_HOURS[day]
            continue
        ranges = [_range(s.key(day), item) for item in value]
        ranges.sort()
        for (_, end), (start, _) in itertools.pairwise(ranges):
            if start < end:
                raise ConfigError(s.key(day), f"working hours overlap at {start:%H:%M}")
        hours[day] = tuple(ranges)
    if not any(hours.values()):
        raise ConfigError(s.name, "no working hours on any day")
    s.finish()
    return hours


def _range(key: str, item: object) -> Interval:
    match = _RANGE.fullmatch(item.strip()) if isinstance(item, str) else None
    if match is None:
        raise ConfigError(key, f'must be a list of ranges like "09:00-12:00", got {item!r}')
    h1, m1, h2, m2 = (int(g) for g in match.groups())
    if h1 > 23 or m1 > 59 or m2 > 59 or (h2, m2) > (24, 0):
        raise ConfigError(key, f"not a time of day in {item!r}")
    start = dt.time(h1, m1)
    end = dt.time.max if (h2, m2) == (24, 0) else dt.time(h2, m2)
    if end <= start:
        raise ConfigError(key, f"the range {item!r} ends before it starts")
    return start, end


def _dates(s: _Section, key: str) -> frozenset[dt.date]:
    """Dates like "2027-10-01", or ranges "2027-10-01..2027-10-07"."""
    found: set[dt.date] = set()
    for item in s.get(key, list, []):
        text = item.strip() if isinstance(item, str) else repr(item)
        first, _, last = text.partition("..")
        try:
            start = dt.date.fromisoformat(first.strip())
            end = dt.date.fromisoformat(last.strip()) if last else start
        except ValueError:
            raise ConfigError(
                s.key(key),
                f'must be dates like "2027-01-01" or "2027-10-01..2027-10-07", got {text!r}',
            ) from None
        if end < start or (end - start).days > 366:
            raise ConfigError(s.key(key), f"the range {text!r} is backwards or longer than a year")
        found.update(start + dt.timedelta(days=n) for n in range((end - start).days + 1))
    return frozenset(found)


def _years(s: _Section, key: str) -> frozenset[int]:
    years = s.get(key, list, [])
    if not all(isinstance(y, int) and not isinstance(y, bool) and 1970 <= y <= 2200 for y in years):
        raise ConfigError(s.key(key), f"must be a list of years like [2027], got {years!r}")
    return frozenset(years)


def _addresses(s: _Section, key: str) -> tuple[str, ...]:
    found = []
    for item in s.get(key, list, []):
        try:
            found.append(addresses.normalize(str(item)))
        except AddressError as exc:
            raise ConfigError(s.key(key), f"{item!r} is not an e-mail address: {exc}") from None
    return tuple(found)


def _operations(s: _Section) -> OperationsConfig:
    operations = OperationsConfig(alarm_to=_addresses(s, "alarm_to"))
    s.finish()
    return operations


def _reports(s: _Section) -> ReportsConfig:
    weekly_day, weekly_time = _when(s, "weekly_at", "mon 09:00", weekly=True)
    monthly_day, monthly_time = _when(s, "monthly_at", "1 09:00", weekly=False)
    reports = ReportsConfig(
        weekly_to=_addresses(s, "weekly_to"),
        monthly_to=_addresses(s, "monthly_to"),
        weekly_day=weekly_day,
        weekly_time=weekly_time,
        monthly_day=monthly_day,
        monthly_time=monthly_time,
        for_requesters=bool(s.get("for_requesters", bool, False)),
        language=s.choice("language", ("", "zh_CN", "en"), ""),
        font=str(s.optional_path("font") or ""),
    )
    if reports.font and not Path(reports.font).is_file():
        raise ConfigError(s.key("font"), f"no such file: {reports.font}")
    s.finish()
    return reports


def _when(s: _Section, key: str, default: str, weekly: bool) -> tuple[int, dt.time]:
    """ "mon 09:00" (a weekday) or "1 09:00" (a day of the month, 1 to 28)."""
    raw = s.text(key, default)
    day, _, clock = raw.partition(" ")
    try:
        moment: dt.time | None = dt.time.fromisoformat(clock.strip())
    except ValueError:
        moment = None
    if weekly:
        number = WEEKDAYS.index(day.lower()[:3]) if day.lower()[:3] in WEEKDAYS else -1
        ok, example = number >= 0, '"mon 09:00"'
    else:
        number = int(day) if day.isdigit() else 0
        ok, example = 1 <= number <= 28, '"1 09:00" (a day from 1 to 28)'
    if moment is None or not ok:
        raise ConfigError(s.key(key), f"must look like {example}, got {raw!r}")
    return number, moment
