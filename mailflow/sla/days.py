"""Which days are public holidays and which weekend days are make-up working days (调休).

Three sources, chosen with ``[calendar] holidays_from``:

- ``chinese-calendar`` (default): the State Council's schedule, holidays *and* make-up working
  days, for the years the package knows (2004–2026 in 1.11; it raises for other years).
- ``holidays``: the ``holidays`` package, for countries without make-up days. It computes any
  year by rule, so it never runs out; it is refused for China, where it would guess holidays and
  miss every make-up working day.
- ``none``: only the dates in the config.

The config's ``holidays`` and ``workdays`` always win, and ``complete_years`` declares years the
config lists in full (for a year the package does not know yet, e.g. 2027 before the package
catches up with the State Council's notice).
"""

from __future__ import annotations

import datetime as dt
from functools import lru_cache

import chinese_calendar  # type: ignore[import-untyped]

from mailflow.config import CalendarConfig


class CalendarGap(Exception):
    """No holiday data for a year that a computation reaches."""

    def __init__(self, year: int) -> None:
        super().__init__(f"no public-holiday data for {year}")
        self.year = year


@lru_cache(maxsize=64)
def _chinese_year(year: int) -> tuple[frozenset[dt.date], frozenset[dt.date]] | None:
    """(holidays, make-up working days) of one year, or None when the package has no data."""
    try:
        chinese_calendar.is_workday(dt.date(year, 6, 1))
    except NotImplementedError:
        return None
    off = frozenset(d for d in chinese_calendar.holidays if d.year == year)
    on = frozenset(d for d in chinese_calendar.workdays if d.year == year)
    return off, on


@lru_cache(maxsize=256)
def _country_year(country: str, year: int) -> frozenset[dt.date]:
    import holidays  # noqa: PLC0415  (100 ms to import; only configs that use it pay)

    return frozenset(holidays.country_holidays(country, years=year))


class Days:
    """Holidays and make-up working days of the configured source and the config's own dates."""

    def __init__(self, config: CalendarConfig) -> None:
        self.config = config

    def known(self, year: int) -> bool:
        """Whether there is holiday data for ``year``."""
        if self.config.holidays_from != "chinese-calendar" or year in self.config.complete_years:
            return True
        return _chinese_year(year) is not None

    def kind(self, day: dt.date) -> str | None:
        """ "off" for a holiday, "on" for a make-up working day, None for an ordinary day.

        Raises CalendarGap for a year without data.
        """
        if day in self.config.holidays:
            return "off"
        if day in self.config.workdays:
            return "on"
        source = self.config.holidays_from
        if source == "none" or day.year in self.config.complete_years:
            return None
        if source == "holidays":
            return "off" if day in _country_year(self.config.country, day.year) else None
        data = _chinese_year(day.year)
        if data is None:
            raise CalendarGap(day.year)
        off, on = data
        return "off" if day in off else "on" if day in on else None
