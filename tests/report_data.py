"""A seeded month of tickets for the report tests: its expected figures are computed by the
tests themselves, from this data, never by the report's code."""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from mailflow.store.models import Ticket, utc
from mailflow.store.rows import add_event

SHANGHAI = ZoneInfo("Asia/Shanghai")


def local(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=SHANGHAI)


@dataclass
class Seed:
    number: str
    submitted: dt.datetime
    priority: str
    category: str | None
    group: str
    channel: str
    assignee: str
    respond_min: int | None  # minutes to the first response
    resolve_min: int | None  # minutes to resolution
    closed_min: int | None
    reopened_min: int | None
    rating: int | None
    comment: str = ""


TARGETS = {"urgent": (15, 120), "high": (30, 240), "medium": (240, 1440), "low": (1440, 10080)}
ENGINEERS = ["wang.wei@example.com", "zhou.jie@example.com"]


def seeds() -> list[Seed]:
    rng = random.Random(49)
    found = []
    for n in range(60):
        month_start = local("2026-10-01 00:00") if n < 20 else local("2026-11-01 00:00")
        days = 31 if n < 20 else 30
        submitted = month_start + dt.timedelta(minutes=rng.randrange(days * 1440 - 1))
        priority = rng.choice(list(TARGETS))
        respond = rng.choice([None, rng.randrange(1, 600)])
        resolve = None if respond is None else rng.choice([None, respond + rng.randrange(5, 3000)])
        closed = None if resolve is None else rng.choice([None, resolve + rng.randrange(60, 4000)])
        found.append(
            Seed(
                number=f"TS{n:03d}",
                submitted=submitted,
                priority=priority,
                category=rng.choice(["业务系统", "网络", "外设", None]),
                group=rng.choice(["系统运维组", "硬件支持组"]),
                channel=rng.choice(["email", "email", "phone"]),
                assignee=rng.choice(ENGINEERS),
                respond_min=respond,
                resolve_min=resolve,
                closed_min=closed,
                reopened_min=None if resolve is None or rng.random() > 0.2 else resolve + 30,
                rating=None if closed is None else rng.choice([None, 1, 2, 3, 4]),
                comment="太慢了" if n % 7 == 0 else "",
            )
        )
    # The edge: submitted at 23:59:59 on the last day of October, Shanghai time.
    found[19].submitted = local("2026-10-31 23:59:59")
    return found


def at(seed: Seed, minutes: int | None) -> dt.datetime | None:
    return None if minutes is None else seed.submitted + dt.timedelta(minutes=minutes)


def store(seed: Seed) -> None:
    respond, resolve = TARGETS[seed.priority]
    final_resolve = seed.resolve_min if seed.reopened_min is None else seed.reopened_min + 60
    ticket = Ticket.create(
        number=seed.number,
        subject=f"problem {seed.number}",
        status="closed" if seed.closed_min else "resolved" if final_resolve else "in_progress",
        priority=seed.priority,
        category=seed.category,
        group=seed.group,
        assignee=seed.assignee,
        requester_email="r@example.cn",
        channel=seed.channel,
        language="zh_CN",
        submitted_at=utc(seed.submitted),
        created_at=utc(seed.submitted),
        updated_at=utc(seed.submitted),
        respond_by=utc(seed.submitted + dt.timedelta(minutes=respond)),
        resolve_by=utc(seed.submitted + dt.timedelta(minutes=resolve)),
        first_response_at=utc(at(seed, seed.respond_min)) if seed.respond_min else None,
        resolved_at=utc(at(seed, final_resolve)) if final_resolve else None,
        closed_at=utc(at(seed, seed.closed_min)) if seed.closed_min else None,
        rating=seed.rating,
        rating_comment=seed.comment if seed.rating else "",
        rated_at=utc(at(seed, seed.closed_min)) if seed.rating else None,  # type: ignore[arg-type]
    )
    for minutes in (seed.resolve_min, final_resolve if seed.reopened_min else None):
        if minutes:
            add_event(ticket, at(seed, minutes), "x", "status_changed", after="resolved")  # type: ignore[arg-type]
    if seed.reopened_min:
        add_event(ticket, at(seed, seed.reopened_min), "r", "reopened", before="resolved")  # type: ignore[arg-type]
    if seed.closed_min:
        when = at(seed, seed.closed_min)
        add_event(ticket, when, "system", "closed")  # type: ignore[arg-type]
        add_event(ticket, when, "system", "survey_queued")  # type: ignore[arg-type]
