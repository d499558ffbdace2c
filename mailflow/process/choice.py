"""The choices of spec step 3: which group, which engineer, which supervisor is on duty.

Pure: the counts and history it needs are passed in.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence

from mailflow.config import WEEKDAYS, Duty, Group, Person


def route_group(
    groups: Sequence[Group], category: str | None, priority: str
) -> tuple[Group | None, str]:
    """The first group whose categories/priorities take the ticket, else the default group."""
    for group in groups:
        if not (group.categories or group.priorities):
            continue
        if group.categories and category not in group.categories:
            continue
        if group.priorities and priority not in group.priorities:
            continue
        wants = [f"category {category}"] if group.categories else []
        wants += [f"priority {priority}"] if group.priorities else []
        return group, f"{group.name} takes {' and '.join(wants)}"
    default = next((g for g in groups if g.default), None)
    if default is not None:
        return default, f"{default.name} is the default group"
    return None, "no group takes it and none is the default"


def pick_engineer(
    group: Group,
    people: Sequence[Person],
    open_counts: Mapping[str, int],
    last_assignee: str | None,
    strategy: str,
) -> tuple[Person | None, str]:
    """An engineer of ``group`` who is not away, by ``strategy``; None if nobody is there."""
    members = [p for p in people if group.name in p.groups and p.role == "engineer"]
    present = [p for p in members if not p.away]
    if not present:
        why = "everyone in the group is away" if members else "the group has no engineers"
        return None, why
    if strategy == "round_robin":
        emails = [p.email for p in present]
        if last_assignee in emails:
            chosen = present[(emails.index(last_assignee) + 1) % len(present)]
        else:
            chosen = present[0]
        return chosen, f"round robin in {group.name}"
    chosen = min(present, key=lambda p: (open_counts.get(p.email, 0), present.index(p)))
    return chosen, (f"fewest open tickets in {group.name} ({open_counts.get(chosen.email, 0)})")


def on_duty(duty: Sequence[Duty], local_now: dt.datetime) -> str | None:
    """The supervisor on duty at ``local_now`` (support time zone), by the roster."""
    day = WEEKDAYS[local_now.weekday()]
    moment = local_now.time()
    for shift in duty:
        if day not in shift.days:
            continue
        if shift.start <= shift.end:
            if shift.start <= moment <= shift.end:
                return shift.supervisor
        elif moment >= shift.start or moment <= shift.end:  # a night shift over midnight
            return shift.supervisor
    return None


def unrouted(
    groups: Sequence[Group], categories: Sequence[str | None], priorities: Sequence[str]
) -> list[str]:
    """Which category/priority combinations no group takes (and no default catches), as
    ``"category X, priority Y"``; empty when every ticket finds a group."""
    if not groups or any(g.default for g in groups):
        return []
    return [
        f"category {category or '(none)'}, priority {priority}"
        for category in categories
        for priority in priorities
        if route_group(groups, category, priority)[0] is None
    ]
