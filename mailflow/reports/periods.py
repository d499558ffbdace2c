"""Report periods: an ISO week ("2026-W49"), a month ("2026-12") or dates from and to, each
in the support time zone, with the period before it of the same kind and length (pure)."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from mailflow.errors import InputError

_WEEK = re.compile(r"^(\d{4})-W(\d{2})$", re.IGNORECASE)
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")


@dataclass(frozen=True)
class Period:
    """[start, end) as local dates in the support time zone, and its name."""

    name: str
    kind: str  # week | month | range
    first: dt.date  # the first day
    last: dt.date  # the last day (inclusive)
    tz: ZoneInfo

    @property
    def start(self) -> dt.datetime:
        return dt.datetime.combine(self.first, dt.time(), self.tz)

    @property
    def end(self) -> dt.datetime:
        return dt.datetime.combine(self.last + dt.timedelta(days=1), dt.time(), self.tz)

    def previous(self) -> Period:
        """The period before: the week or month before, or a range as long, just before."""
        if self.kind == "week":
            return week_of(self.first - dt.timedelta(days=7), self.tz)
        if self.kind == "month":
            return month_of(self.first - dt.timedelta(days=1), self.tz)
        days = (self.last - self.first).days + 1
        last = self.first - dt.timedelta(days=1)
        first = last - dt.timedelta(days=days - 1)
        return Period(f"{first}..{last}", "range", first, last, self.tz)


def week_of(day: dt.date, tz: ZoneInfo) -> Period:
    year, week, _ = day.isocalendar()
    first = dt.date.fromisocalendar(year, week, 1)
    return Period(f"{year}-W{week:02d}", "week", first, first + dt.timedelta(days=6), tz)


def month_of(day: dt.date, tz: ZoneInfo) -> Period:
    first = day.replace(day=1)
    following = (first + dt.timedelta(days=32)).replace(day=1)
    return Period(f"{first:%Y-%m}", "month", first, following - dt.timedelta(days=1), tz)


def parse_period(
    text: str | None,
    date_from: str | None,
    date_to: str | None,
    now: dt.datetime,
    tz: ZoneInfo,
) -> Period:
    """``--period`` or ``--from/--to``; InputError with one clear line otherwise."""
    today = now.astimezone(tz).date()
    if text and (date_from or date_to):
        raise InputError("give --period or --from/--to, not both")
    if text:
        period = _named(text.strip(), tz)
    elif date_from and date_to:
        first, last = _date(date_from, "--from"), _date(date_to, "--to")
        if first > last:
            raise InputError(f"--from {first} is after --to {last}")
        period = Period(f"{first}..{last}", "range", first, last, tz)
    else:
        raise InputError("give --period (2026-W49 or 2026-12) or both --from and --to")
    if period.first > today:
        raise InputError(f"the period {period.name} has not begun yet (today is {today})")
    return period


def _named(text: str, tz: ZoneInfo) -> Period:
    week = _WEEK.match(text)
    if week:
        year, number = int(week.group(1)), int(week.group(2))
        try:
            return week_of(dt.date.fromisocalendar(year, number, 1), tz)
        except ValueError:
            raise InputError(f"{text!r}: {year} has no ISO week {number}") from None
    month = _MONTH.match(text)
    if month:
        year, number = int(month.group(1)), int(month.group(2))
        if not 1 <= number <= 12:
            raise InputError(f"{text!r}: there is no month {number}")
        return month_of(dt.date(year, number, 1), tz)
    raise InputError(f"unknown period {text!r}: write a week like 2026-W49 or a month like 2026-12")


def _date(text: str, option: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise InputError(f"{option} {text!r} is not a date like 2026-12-01") from None
