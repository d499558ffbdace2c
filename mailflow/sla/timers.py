"""Keeping a ticket's service-level clocks: its deadlines, its pause events and the timers that
will fire its notices. Called in the transaction of every change to a ticket.

The targets in force are stored on the ticket when it is created, and again only when its
priority, group or category changes: a config edit does not change the meaning of what is
already stored. Deadlines are recomputed from the ticket's history (events) with the current
calendar at every change, so a holiday added to the config counts from the next change on.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from mailflow.config import Config, SlaTarget
from mailflow.sla.calendar import BusinessHours, clock_for
from mailflow.sla.clocks import History, Run, runs
from mailflow.store.models import Event, SlaTimer, Ticket, aware, utc
from mailflow.store.rows import add_event, insert_new_rows

log = logging.getLogger(__name__)

LEVELS = ("warning", "breach", "second_level")
_HISTORY_KINDS = ("reopened", "sla_paused", "sla_resumed", "public_reply")
_calendars: dict[int, tuple[Config, BusinessHours]] = {}


def business_hours(config: Config) -> BusinessHours:
    """The business calendar of ``config`` (one per config, its day cache shared)."""
    cached = _calendars.get(id(config))
    if cached is None or cached[0] is not config:
        cached = (config, BusinessHours(config.calendar, config.support.tz, strict=False))
        _calendars[id(config)] = cached
    return cached[1]


def history_of(ticket: Ticket, new: bool = False) -> History:
    """The ticket's clock history, replayed from its events (``new``: a ticket being made,
    which has none of them yet)."""
    submitted = aware(ticket.submitted_at)
    resolve_start = submitted
    pauses: list[tuple[dt.datetime, dt.datetime | None]] = []
    last_update: dt.datetime | None = None
    events = (
        []
        if new
        else Event.select(Event.at, Event.kind, Event.data)
        .where((Event.ticket == ticket.id) & Event.kind.in_(_HISTORY_KINDS))
        .order_by(Event.id)
    )
    for event in events:
        at = aware(event.at)
        if event.kind == "reopened" and event.data.get("before") in ("resolved", "closed"):
            resolve_start, pauses = at, []
        elif event.kind == "sla_paused":
            pauses.append((at, None))
        elif event.kind == "sla_resumed" and pauses and pauses[-1][1] is None:
            pauses[-1] = (pauses[-1][0], at)
        elif event.kind == "public_reply":
            last_update = at
    return History(
        submitted=submitted,
        status=ticket.status,
        first_response=aware(ticket.first_response_at) if ticket.first_response_at else None,
        resolved=aware(ticket.resolved_at) if ticket.resolved_at else None,
        resolve_start=resolve_start,
        pauses=tuple(pauses),
        last_update=last_update,
    )


def _sync_pause(ticket: Ticket, now: dt.datetime, config: Config) -> None:
    """Write the pause and resume events of the resolve clock as the status says."""
    last = (
        Event.select(Event.kind)
        .where((Event.ticket == ticket.id) & Event.kind.in_(("sla_paused", "sla_resumed")))
        .order_by(Event.id.desc())
        .first()
    )
    paused = last is not None and last.kind == "sla_paused"
    if ticket.status == "waiting" and config.sla.pause_when_waiting and not paused:
        add_event(ticket, now, "system", "sla_paused", clock="resolve", reason="waiting")
    elif paused and ticket.status != "waiting":
        add_event(ticket, now, "system", "sla_resumed", clock="resolve", status=ticket.status)


def _targets(ticket: Ticket, config: Config) -> dict[str, Any]:
    """The targets stored on the ticket; new ones when priority, group or category changed."""
    key = [ticket.priority, ticket.group, ticket.category]
    stored = ticket.sla or {}
    if stored.get("key") == key and "targets" in stored:
        return dict(stored["targets"])
    target: SlaTarget = config.sla.target(ticket.priority, ticket.group, ticket.category)
    return {
        "respond": {"minutes": target.respond_minutes, "clock": target.clock},
        "resolve": {"minutes": target.resolve_minutes, "clock": target.clock},
        "update": {"minutes": target.update_minutes, "clock": target.clock},
    }


def refresh(ticket: Ticket, now: dt.datetime, config: Config, new: bool = False) -> list[int]:
    """Bring the ticket's deadlines and timers up to date with its state (no save). ``new``:
    a ticket being made (no events, pauses or timers to read back: intake skips the queries).

    Returns the years without holiday data that its business-hours deadlines reach: those
    were computed by weekday alone, which the caller must report.
    """
    if not new:
        _sync_pause(ticket, now, config)
    targets = _targets(ticket, config)
    history = history_of(ticket, new)
    calendar = business_hours(config)
    gaps: set[int] = set()
    clock_runs = runs(
        history,
        targets["respond"]["minutes"] * 60,
        targets["resolve"]["minutes"] * 60,
        targets["update"]["minutes"] * 60,
    )
    deadlines: dict[str, dt.datetime | None] = {"respond": None, "resolve": None, "update": None}
    left: dict[str, float] = {}
    wanted: dict[tuple[str, str, dt.datetime], tuple[dt.datetime, bool]] = {}
    for run in clock_runs:
        clock = clock_for(targets[run.name]["clock"], calendar)
        deadline = _second(run.moment(clock))
        deadlines[run.name] = deadline
        if deadline is None:  # paused before its deadline
            left[run.name] = run.target_seconds - run.consumed(clock, now)
        elif run.stopped is None:
            for level, due in _levels(run, clock, deadline, config):
                wanted[(run.name, level, deadline)] = (due, clock.business)
                if clock.business:
                    gaps.update(_unknown_years(calendar, run.start, due))
    ticket.respond_by = utc(deadlines["respond"]) if deadlines["respond"] else None
    ticket.resolve_by = utc(deadlines["resolve"]) if deadlines["resolve"] else None
    ticket.update_by = utc(deadlines["update"]) if deadlines["update"] else None
    ticket.sla = {
        "key": [ticket.priority, ticket.group, ticket.category],
        "targets": targets,
        "resolve_start": history.resolve_start.isoformat(),
        "left": left,
        **({"calendar_gaps": sorted(gaps)} if gaps else {}),
    }
    _sync_timers(ticket, wanted, new)
    return sorted(gaps)


def _unknown_years(calendar: BusinessHours, start: dt.datetime, end: dt.datetime) -> set[int]:
    first, last = start.astimezone(calendar.tz).year, end.astimezone(calendar.tz).year
    return {year for year in range(first, last + 1) if not calendar.days.known(year)}


def _second(moment: dt.datetime | None) -> dt.datetime | None:
    """Deadlines to the second: they are compared with stored ones for identity."""
    return None if moment is None else moment.replace(microsecond=0)


def _levels(
    run: Run, clock: Any, deadline: dt.datetime, config: Config
) -> list[tuple[str, dt.datetime]]:
    if run.name == "update":
        return [("breach", deadline)]
    found = [("breach", deadline)]
    for level, share in (
        ("warning", config.sla.warn_ratio),
        ("second_level", config.sla.second_level_ratio),
    ):
        moment = _second(run.moment(clock, share))
        if moment is not None:
            found.append((level, moment))
    return found


def _sync_timers(
    ticket: Ticket,
    wanted: dict[tuple[str, str, dt.datetime], tuple[dt.datetime, bool]],
    new: bool = False,
) -> None:
    """Pending timers the ticket no longer needs go; new ones come; fired ones stay (their key
    is what keeps a notice from being sent twice for the same deadline)."""
    have: set[tuple[str, str, dt.datetime]] = set()
    stale: list[int] = []
    for row in [] if new else SlaTimer.select().where(SlaTimer.ticket == ticket.id):
        key = (row.clock, row.level, aware(row.deadline))
        have.add(key)
        if row.done_at is None and key not in wanted:
            stale.append(row.id)
    if stale:
        SlaTimer.delete().where(SlaTimer.id.in_(stale)).execute()
    # Not peewee's insert_many: building its query cost more than the insert itself (every
    # ticket made inserts six of these).
    insert_new_rows(
        SlaTimer,
        [
            {
                "ticket": ticket.id,
                "clock": clock,
                "level": level,
                "deadline": utc(deadline),
                "due_at": utc(due),
                "business": business,
            }
            for (clock, level, deadline), (due, business) in wanted.items()
            if (clock, level, deadline) not in have
        ],
    )


def calendar_horizon(config: Config, now: dt.datetime) -> str:
    """Check that the calendar has data for every year a deadline set now can reach (the
    longest business-hours target); CalendarGap names the year. (Second-level notices, later
    still, are computed by weekday where data is missing, and the ticket says so.)"""
    strict = BusinessHours(config.calendar, config.support.tz, strict=True)
    targets = [config.sla[p] for p in config.sla.targets] + [
        config.sla.target(o.priority or "low", o.group, o.category) for o in config.sla.overrides
    ]
    business = [t for t in targets if t.clock == "business"]
    if not business:
        return "every priority runs around the clock; no holiday data needed"
    longest = max(max(t.resolve_minutes, t.update_minutes) for t in business)
    reach = strict.add(now, longest * 60)
    local = reach.astimezone(strict.tz)
    return f"holiday data covers every deadline set now (the furthest: {local:%Y-%m-%d})"
