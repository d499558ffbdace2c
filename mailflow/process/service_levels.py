"""Spec step 3's time limits kept: a ticket's clocks follow every change, and the sweep tells the
right people when a deadline nears (warning), passes (breach) and is far gone (second level).

Who hears what:

- warning: the handler; nobody owns the ticket: the supervisors (below).
- breach: the handler and the supervisors: for urgent and high tickets the supervisor on duty
  (spec step 3), else the group's supervisor; with neither, every supervisor. With
  ``escalate_to`` on the ticket's group, a breached response or resolution hands the ticket on.
- update (the update interval passed): the handler, else the supervisors.
- second level: the head of support (``[sla] head``), else the supervisors.

Each notice is sent exactly once per ticket, clock, level and deadline: its timer row is
claimed by a conditional UPDATE in the transaction that queues the mail, so a restart, a
crash or a second daemon never sends it twice. A business-hours notice that falls due outside
working hours (the daemon was down, or the sweep was late by more than ``GRACE``) waits for
the next working moment; a 24×7 one goes at once.
"""

from __future__ import annotations

import datetime as dt
import logging

from mailflow.config import Config, Person
from mailflow.delivery.mailing import notify_staff
from mailflow.process.assignment import escalate, supervisors
from mailflow.process.commands import Acting
from mailflow.services import Services
from mailflow.sla.alarms import alarm_once
from mailflow.sla.timers import LEVELS, business_hours, refresh
from mailflow.store.database import transaction
from mailflow.store.models import SlaTimer, Ticket, aware, utc
from mailflow.store.rows import add_event

log = logging.getLogger(__name__)

GRACE = dt.timedelta(minutes=10)
BATCH = 500
SYSTEM = Person("mailflow", "system", "system", (), False)


def keep(ticket: Ticket, now: dt.datetime, services: Services, new: bool = False) -> None:
    """Bring the ticket's clocks up to date (inside the change's transaction; no save);
    ``new``: a ticket being made."""
    for year in refresh(ticket, now, services.config, new):
        alarm_once(
            f"calendar-gap-{year}",
            "calendar_gap",
            {"years": [year], "detail": f"First reached by ticket {ticket.number}."},
            now,
            services,
        )


def backfill(now: dt.datetime, services: Services) -> int:
    """Give clocks to open tickets that have none (stored before service levels were kept);
    how many. Their deadlines count from their submission, like any other ticket's."""
    done = 0
    while True:
        with transaction(services.db):
            batch = list(
                Ticket.select()
                .where(Ticket.status.not_in(("resolved", "closed")) & (Ticket.sla == {}))
                .limit(BATCH)
            )
            for ticket in batch:
                keep(ticket, now, services)
                ticket.save()
        done += len(batch)
        if len(batch) < BATCH:
            return done


def sweep(now: dt.datetime, services: Services) -> list[str]:
    """Fire every timer due at ``now``; what was sent, as "TICKET clock level" lines.

    The due timers come from the (done_at, due_at) index, never from a loop over tickets.
    Timers of one ticket, clock and deadline found due together (a late sweep) send only the
    highest level; the lower ones are marked superseded.
    """
    due = (
        SlaTimer.select()
        .where(SlaTimer.done_at.is_null() & (SlaTimer.due_at <= utc(now)))
        .order_by(SlaTimer.due_at)
        .limit(BATCH)
    )
    groups: dict[tuple[int, str, dt.datetime], list[SlaTimer]] = {}
    for timer in due:
        groups.setdefault((timer.ticket_id, timer.clock, timer.deadline), []).append(timer)
    fired = []
    for timers in groups.values():
        with transaction(services.db):
            line = _fire(timers, now, services)
        if line:
            fired.append(line)
    return fired


def _fire(timers: list[SlaTimer], now: dt.datetime, services: Services) -> str:
    top = max(timers, key=lambda t: LEVELS.index(t.level))
    ids = [t.id for t in timers]
    if top.business and now - aware(top.due_at) > GRACE:
        calendar = business_hours(services.config)
        if not calendar.is_working(now):
            later = utc(calendar.next_working(now))
            SlaTimer.update(due_at=later).where(SlaTimer.id.in_(ids)).execute()
            return ""
    pending = SlaTimer.done_at.is_null()
    lower = [i for i in ids if i != top.id]
    if lower:
        SlaTimer.update(done_at=utc(now), outcome="superseded").where(
            SlaTimer.id.in_(lower) & pending
        ).execute()
    claimed = (
        SlaTimer.update(done_at=utc(now), outcome="sent")
        .where((SlaTimer.id == top.id) & pending)
        .execute()
    )
    if not claimed:  # another daemon sent it
        return ""
    ticket = Ticket.get_by_id(top.ticket_id)
    _notify(ticket, top, now, services)
    return f"{ticket.number} {top.clock} {top.level}"


def recipients(
    ticket: Ticket, clock: str, level: str, now: dt.datetime, config: Config
) -> list[Person]:
    """Who is told of ``level`` on ``clock`` (see the module docstring)."""
    handler = config.person(ticket.assignee) if ticket.assignee else None
    if level == "second_level":
        head = config.person(config.sla.head) if config.sla.head else None
        return [head] if head else supervisors(ticket, now, config)
    if level == "breach" and clock != "update":
        people = ([handler] if handler else []) + supervisors(ticket, now, config)
        return list({p.email: p for p in people}.values())
    return [handler] if handler else supervisors(ticket, now, config)


def _notify(ticket: Ticket, timer: SlaTimer, now: dt.datetime, services: Services) -> None:
    config = services.config
    deadline = aware(timer.deadline)
    target = ((ticket.sla or {}).get("targets") or {}).get(timer.clock, {})
    minutes = int(target.get("minutes", 0)) or 1
    people = recipients(ticket, timer.clock, timer.level, now, config)
    escalated = _escalate(ticket, timer, now, services)
    add_event(
        ticket,
        now,
        "system",
        f"sla_{timer.level}",
        clock=timer.clock,
        deadline=deadline.isoformat(),
        target_minutes=minutes,
        to=[p.email for p in people],
        **({"escalated_to": escalated} if escalated else {}),
    )
    context = {
        "clock": timer.clock,
        "level": timer.level,
        "deadline": deadline,
        "target_minutes": minutes,
        "business": bool(timer.business),
        "percent": round(100 * _share(timer.level, config)),
        "overrun_minutes": max(0, int((now - deadline).total_seconds() // 60)),
        "escalated_to": escalated,
    }
    for person in people:
        notify_staff(ticket, f"sla_{timer.level}", None, person, now, services, sla=context)
    if not people:
        add_event(ticket, now, "system", "supervisor_not_notified", reason="no supervisor")
    log.warning(
        "%s: %s %s (deadline %s), told %s",
        ticket.number,
        timer.clock,
        timer.level,
        deadline.astimezone(config.support.tz).strftime("%Y-%m-%d %H:%M"),
        ", ".join(p.email for p in people) or "nobody",
    )


def _share(level: str, config: Config) -> float:
    return {"warning": config.sla.warn_ratio, "breach": 1.0}.get(
        level, config.sla.second_level_ratio
    )


def _escalate(ticket: Ticket, timer: SlaTimer, now: dt.datetime, services: Services) -> str:
    """Hand a breached ticket on to its group's ``escalate_to``; the group's name, or ""."""
    group = services.config.group(ticket.group)
    if timer.level != "breach" or timer.clock == "update" or group is None or not group.escalate_to:
        return ""
    reason = f"{timer.clock} deadline missed"
    escalate(ticket, group.escalate_to, reason, Acting(SYSTEM, None, now, services))
    keep(ticket, now, services)
    ticket.save()
    return group.escalate_to
