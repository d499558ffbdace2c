"""Time as a service-level clock counts it: around the clock, or in working hours only.

Both clocks answer the same two questions: which moment is ``seconds`` of clock time after
``start`` (a deadline), and how much clock time lies between two moments (what a pause took).
All arithmetic is on UTC instants; the support time zone only decides where the working
hours of a local day fall.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Protocol
from zoneinfo import ZoneInfo

from mailflow.config import WEEKDAYS, CalendarConfig
from mailflow.sla.days import CalendarGap, Days

Span = tuple[dt.datetime, dt.datetime]
_SEARCH_DAYS = 3 * 366  # a deadline further away than this is a configuration mistake


class Clock(Protocol):
    business: bool

    def add(self, start: dt.datetime, seconds: float) -> dt.datetime: ...

    def between(self, start: dt.datetime, end: dt.datetime) -> float: ...

    def is_working(self, moment: dt.datetime) -> bool: ...

    def next_working(self, moment: dt.datetime) -> dt.datetime: ...


class AroundTheClock:
    """24×7: every second counts."""

    business = False

    def add(self, start: dt.datetime, seconds: float) -> dt.datetime:
        return start + dt.timedelta(seconds=seconds)

    def between(self, start: dt.datetime, end: dt.datetime) -> float:
        return max(0.0, (end - start).total_seconds())

    def is_working(self, moment: dt.datetime) -> bool:
        return True

    def next_working(self, moment: dt.datetime) -> dt.datetime:
        return moment


class BusinessHours:
    """Working hours per weekday, minus public holidays, plus make-up working days.

    A make-up working day (调休, a Saturday or Sunday worked instead of a holiday weekday) keeps
    its own weekday's hours if that day has any, else Monday's: it stands in for a normal
    working day. ``strict``: a day in a year without holiday data raises CalendarGap;
    otherwise the day is taken by its weekday alone and its year is noted in ``gaps``, for the
    caller to report (never silently).
    """

    business = True

    def __init__(self, config: CalendarConfig, tz: dt.tzinfo | str, strict: bool = True) -> None:
        self.config = config
        self.tz = ZoneInfo(tz) if isinstance(tz, str) else tz
        self.days = Days(config)
        self.strict = strict
        self.gaps: set[int] = set()
        self._spans: dict[dt.date, tuple[Span, ...]] = {}

    def spans(self, day: dt.date) -> tuple[Span, ...]:
        """The working intervals of a local day, as UTC instants."""
        cached = self._spans.get(day)
        if cached is None:
            cached = self._spans[day] = self._make_spans(day)
        return cached

    def _make_spans(self, day: dt.date) -> tuple[Span, ...]:
        try:
            kind = self.days.kind(day)
        except CalendarGap as gap:
            if self.strict:
                raise
            self.gaps.add(gap.year)
            kind = None
        if kind == "off":
            return ()
        hours = self.config.hours[WEEKDAYS[day.weekday()]]
        if kind == "on" and not hours:
            hours = self.config.hours["mon"] or next(h for h in self.config.hours.values() if h)
        return tuple(
            (
                dt.datetime.combine(day, start, self.tz).astimezone(dt.UTC),
                dt.datetime.combine(day, end, self.tz).astimezone(dt.UTC),
            )
            for start, end in hours
        )

    def _days_from(self, moment: dt.datetime) -> Iterator[dt.date]:
        first = moment.astimezone(self.tz).date() - dt.timedelta(days=1)  # spans cross midnight
        return (first + dt.timedelta(days=n) for n in range(_SEARCH_DAYS))

    def add(self, start: dt.datetime, seconds: float) -> dt.datetime:
        remaining = max(0.0, seconds)
        if remaining == 0:
            return start
        for day in self._days_from(start):
            for begin, end in self.spans(day):
                if end <= start:
                    continue
                since = max(begin, start)
                span = (end - since).total_seconds()
                if remaining <= span:
                    return since + dt.timedelta(seconds=remaining)
                remaining -= span
        raise ValueError(f"no working time within {_SEARCH_DAYS} days of {start:%Y-%m-%d}")

    def between(self, start: dt.datetime, end: dt.datetime) -> float:
        if end <= start:
            return 0.0
        total = 0.0
        last = end.astimezone(self.tz).date()
        for day in self._days_from(start):
            if day > last:
                break
            for begin, finish in self.spans(day):
                overlap = (min(finish, end) - max(begin, start)).total_seconds()
                total += max(0.0, overlap)
        return total

    def is_working(self, moment: dt.datetime) -> bool:
        day = moment.astimezone(self.tz).date()
        days = (day - dt.timedelta(days=1), day)
        return any(begin <= moment < end for d in days for begin, end in self.spans(d))

    def next_working(self, moment: dt.datetime) -> dt.datetime:
        """``moment`` if it is working time, else the start of the next working interval."""
        for day in self._days_from(moment):
            for begin, end in self.spans(day):
                if end > moment:
                    return max(begin, moment)
        raise ValueError(f"no working time within {_SEARCH_DAYS} days of {moment:%Y-%m-%d}")


def clock_for(kind: str, calendar: BusinessHours) -> Clock:
    """The clock a priority runs on: "24x7" or "business"."""
    return AroundTheClock() if kind == "24x7" else calendar


__all__ = ["AroundTheClock", "BusinessHours", "CalendarGap", "Clock", "clock_for"]
