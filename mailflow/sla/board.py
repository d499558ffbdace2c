"""Service levels as staff see them: one ticket's clocks, and the open tickets by time left.

JSON of one ticket's ``sla`` (stable; fields only added): for each clock (``respond``,
``resolve``, and ``update`` when the ticket has an update interval) ``target_minutes``,
``clock`` ("24x7" | "business"), ``deadline`` (ISO 8601 in the support time zone, null while
paused), ``state`` (running | paused | met | breached), ``remaining_seconds`` (running: until
the deadline; paused: clock time left), ``overrun_seconds`` (breached: past the deadline) and
``paused_seconds`` (wall-clock time spent paused); plus ``calendar_gaps``: years without
holiday data its deadlines reach (computed by weekday alone).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import peewee as pw

from mailflow.config import Config
from mailflow.sla.clocks import MET, PAUSED, History, Run, state_of
from mailflow.sla.timers import history_of
from mailflow.store.models import Ticket, aware, iso, utc

CLOSED = ("resolved", "closed")


def _aware(moment: dt.datetime | None) -> dt.datetime | None:
    return aware(moment) if moment is not None else None


def sla_view(ticket: Ticket, now: dt.datetime, config: Config) -> dict[str, Any]:
    """The ticket's clocks at ``now`` (see the module docstring)."""
    stored = ticket.sla or {}
    targets = stored.get("targets") or {}
    tz = config.support.tz
    history = history_of(ticket)
    view: dict[str, Any] = {}
    for name in ("respond", "resolve", "update"):
        target = targets.get(name)
        if not target or not target.get("minutes"):
            continue
        deadline, stopped, paused, paused_for = _facts(ticket, history, name)
        state = state_of(deadline, stopped, paused, stored.get("left", {}).get(name), now)
        if name == "update" and stopped is None and deadline is None:
            state = state_of(None, None, True, None, now)
        view[name] = {
            "target_minutes": target["minutes"],
            "clock": target.get("clock", "business"),
            "deadline": iso(utc(deadline), tz) if deadline else None,
            "state": state.state,
            "remaining_seconds": _whole(state.remaining_seconds),
            "overrun_seconds": _whole(state.overrun_seconds),
            "paused_seconds": _whole(paused_for(now)) or 0,
        }
    if stored.get("calendar_gaps"):
        view["calendar_gaps"] = stored["calendar_gaps"]
    return view


def _facts(ticket: Ticket, history: History, name: str) -> tuple[Any, Any, bool, Any]:
    """Deadline, stop, whether paused, and a function giving paused seconds at a moment."""
    closed = ticket.status in CLOSED

    def never(_: dt.datetime) -> float:
        return 0.0

    if name == "respond":
        return _aware(ticket.respond_by), history.first_response, False, never
    if name == "resolve":
        run = Run("resolve", 0, history.resolve_start, history.pauses)
        stop = history.resolved if closed else None
        return _aware(ticket.resolve_by), stop, history.paused, run.paused_seconds
    stop = history.resolved if closed else None
    return _aware(ticket.update_by), stop, False, never


def _whole(seconds: float | None) -> int | None:
    return None if seconds is None else int(seconds)


def due_condition(until: dt.datetime) -> pw.Expression:
    """Open tickets with a running clock whose deadline is at or before ``until`` (indexed
    deadline columns; nothing is computed per ticket)."""
    moment = utc(until)

    def by(column: pw.Field) -> pw.Expression:  # never NULL, so that ~ negates it
        return column.is_null(False) & (column <= moment)

    return Ticket.status.not_in(CLOSED) & (
        (Ticket.first_response_at.is_null() & by(Ticket.respond_by))
        | by(Ticket.resolve_by)
        | by(Ticket.update_by)
    )


def breached_condition(now: dt.datetime) -> pw.Expression:
    """Tickets that missed a response or resolution deadline, open or not."""
    moment = utc(now)
    return (
        (Ticket.first_response_at > Ticket.respond_by)
        | (Ticket.first_response_at.is_null() & (Ticket.respond_by < moment))
        | (Ticket.resolved_at > Ticket.resolve_by)
        | (Ticket.status.not_in(CLOSED) & (Ticket.resolve_by < moment))
    )


def next_deadline(view: dict[str, Any]) -> tuple[float, str]:
    """Seconds to the nearest running deadline (negative: overrun) and its clock."""
    best = (float("inf"), "")
    for name in ("respond", "resolve", "update"):
        clock = view.get(name)
        if not clock or clock["state"] in (MET, PAUSED):
            continue
        left = clock["remaining_seconds"]
        seconds = float(left) if left is not None else -float(clock["overrun_seconds"] or 0)
        best = min(best, (seconds, name))
    return best


def board(now: dt.datetime, config: Config) -> list[dict[str, Any]]:
    """Open tickets, the least time left first (paused ones last)."""
    rows = []
    for ticket in Ticket.select().where(Ticket.status.not_in(CLOSED)):
        view = sla_view(ticket, now, config)
        seconds, clock = next_deadline(view)
        rows.append(
            {
                "number": ticket.number,
                "priority": ticket.priority,
                "status": ticket.status,
                "group": ticket.group,
                "assignee": ticket.assignee,
                "subject": ticket.subject,
                "next_clock": clock or None,
                "seconds_left": None if clock == "" else int(seconds),
                "sla": view,
            }
        )
    rows.sort(key=lambda r: (r["seconds_left"] is None, r["seconds_left"] or 0, r["number"]))
    return rows
