"""The clocks of one ticket, replayed from its history (pure: no database, no config).

- respond: from submission to the first public reply of an engineer.
- resolve: from submission (or the latest reopening of a resolved or closed ticket, which
  starts it again with the whole target) to resolution; paused between ``sla_paused`` and
  ``sla_resumed`` events (the ticket waits on the requester).
- update: while a ticket is in progress, from the latest public reply to the requester; the
  handler is reminded when the requester has heard nothing for the update interval.

A deadline is the moment the clock has run for its target; a level (warning at 75 %, second
level at 200 %) is the moment it has run for that share of the target.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from mailflow.sla.calendar import Clock

CLOCK_NAMES = ("respond", "resolve", "update")
RUNNING, PAUSED, MET, BREACHED = "running", "paused", "met", "breached"

Pause = tuple[dt.datetime, dt.datetime | None]


@dataclass(frozen=True)
class History:
    """What the clocks need to know of a ticket, as of now."""

    submitted: dt.datetime
    status: str
    first_response: dt.datetime | None
    resolved: dt.datetime | None
    resolve_start: dt.datetime  # submission, or the latest reopening
    pauses: tuple[Pause, ...]  # of the resolve clock since resolve_start; the last may be open
    last_update: dt.datetime | None  # the latest public reply to the requester

    @property
    def paused(self) -> bool:
        return bool(self.pauses) and self.pauses[-1][1] is None


@dataclass(frozen=True)
class Run:
    """One clock's run: started, paused, maybe stopped."""

    name: str
    target_seconds: float
    start: dt.datetime
    pauses: tuple[Pause, ...] = ()
    stopped: dt.datetime | None = None

    def segments(self) -> list[Pause]:
        """The stretches the clock ran; the last is open unless the clock is paused."""
        found: list[Pause] = []
        begin: dt.datetime | None = self.start
        for pause_start, pause_end in self.pauses:
            if begin is not None and pause_start > begin:
                found.append((begin, pause_start))
            begin = pause_end
        if begin is not None:
            found.append((begin, None))
        return found

    def moment(self, clock: Clock, share: float = 1.0) -> dt.datetime | None:
        """When the clock has run for ``share`` of its target; None if it is paused first."""
        remaining = self.target_seconds * share
        for begin, end in self.segments():
            if end is None:
                return clock.add(begin, remaining)
            used = clock.between(begin, end)
            if remaining <= used:
                return clock.add(begin, remaining)
            remaining -= used
        return None

    def consumed(self, clock: Clock, at: dt.datetime) -> float:
        """Clock seconds run up to ``at``."""
        return sum(
            clock.between(begin, min(end or at, at)) for begin, end in self.segments() if begin < at
        )

    def paused_seconds(self, at: dt.datetime) -> float:
        """Wall-clock seconds spent paused up to ``at``."""
        return sum(
            max(0.0, (min(end or at, at) - begin).total_seconds()) for begin, end in self.pauses
        )


def runs(history: History, respond_s: float, resolve_s: float, update_s: float) -> list[Run]:
    """The clocks a ticket has (update only with an interval, and only in progress)."""
    found = [
        Run("respond", respond_s, history.submitted, stopped=history.first_response),
        Run(
            "resolve",
            resolve_s,
            history.resolve_start,
            history.pauses,
            history.resolved if history.status in ("resolved", "closed") else None,
        ),
    ]
    if update_s and history.status == "in_progress":
        start = history.last_update or history.first_response
        if start is not None:
            found.append(Run("update", update_s, start))
    return found


@dataclass(frozen=True)
class State:
    """A clock as people see it."""

    state: str
    remaining_seconds: float | None  # before the deadline (running or paused)
    overrun_seconds: float | None  # after it (breached)


def state_of(
    deadline: dt.datetime | None,
    stopped: dt.datetime | None,
    paused: bool,
    left_when_paused: float | None,
    now: dt.datetime,
) -> State:
    """Where a clock stands at ``now``: running, paused, met or breached."""
    if stopped is not None:
        if deadline is None or stopped <= deadline:
            return State(MET, None, None)
        return State(BREACHED, None, (stopped - deadline).total_seconds())
    if paused and deadline is None:  # a deadline while paused was passed before the pause
        return State(PAUSED, left_when_paused, None)
    if deadline is None:
        return State(RUNNING, None, None)
    if now <= deadline:
        return State(RUNNING, (deadline - now).total_seconds(), None)
    return State(BREACHED, None, (now - deadline).total_seconds())
