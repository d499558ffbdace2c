"""The sections about the desk: grading rules, people, groups, the duty roster."""

from __future__ import annotations

import datetime as dt

from mailflow.config.model import (
    PRIORITIES,
    ROLES,
    WEEKDAYS,
    Config,
    Duty,
    Group,
    Person,
    RuleConfig,
)
from mailflow.config.reader import _address, _Section
from mailflow.errors import ConfigError


def _rules(root: _Section) -> tuple[RuleConfig, ...] | None:
    root.used.add("rules")
    raw = root.data.get("rules")
    if raw is None:
        return None
    if not isinstance(raw, list):
        raise ConfigError("rules", "must be an array of tables ([[rules]])")
    rules = []
    for index, item in enumerate(raw):
        s = _Section(item, f"rules[{index}]", root.base)
        name = s.text("name", "")
        if not name:
            raise ConfigError(s.key("name"), "every rule needs a name (it is shown in events)")
        rule = RuleConfig(
            name=name,
            keywords=_strings(s, "keywords"),
            subject=_strings(s, "subject"),
            senders=tuple(v.lower() for v in _strings(s, "senders")),
            recipients=tuple(v.lower() for v in _strings(s, "recipients")),
            priority=s.choice("priority", (*PRIORITIES, ""), "") or None,
            category=s.text("category", "") or None,
        )
        if not (rule.keywords or rule.subject or rule.senders or rule.recipients):
            raise ConfigError(
                s.key("keywords"),
                "a rule needs at least one condition (keywords, subject, senders or recipients)",
            )
        if not (rule.priority or rule.category):
            raise ConfigError(s.key("priority"), "a rule must set a priority or a category")
        s.finish()
        rules.append(rule)
    return tuple(rules)


def _tables(root: _Section, key: str) -> list[_Section]:
    root.used.add(key)
    raw = root.data.get(key, [])
    if not isinstance(raw, list):
        raise ConfigError(key, f"must be an array of tables ([[{key}]])")
    return [_Section(item, f"{key}[{i}]", root.base) for i, item in enumerate(raw)]


def _people(root: _Section) -> tuple[Person, ...]:
    people: list[Person] = []
    for s in _tables(root, "people"):
        person = Person(
            name=s.text("name", ""),
            email=_address(s, "email", ""),
            role=s.choice("role", ROLES, "engineer"),
            groups=_strings(s, "groups"),
            away=bool(s.get("away", bool, False)),
        )
        if not person.name:
            raise ConfigError(s.key("name"), "is required")
        if any(p.email == person.email for p in people):
            raise ConfigError(s.key("email"), f"{person.email} is listed twice")
        s.finish()
        people.append(person)
    return tuple(people)


def _groups(root: _Section, people: tuple[Person, ...]) -> tuple[Group, ...]:
    groups: list[Group] = []
    for s in _tables(root, "groups"):
        group = Group(
            name=s.text("name", ""),
            supervisor=s.text("supervisor", "").lower(),
            categories=_strings(s, "categories"),
            priorities=_strings(s, "priorities"),
            default=bool(s.get("default", bool, False)),
            escalate_to=s.text("escalate_to", ""),
        )
        if not group.name:
            raise ConfigError(s.key("name"), "is required")
        if any(g.name == group.name for g in groups):
            raise ConfigError(s.key("name"), f"group {group.name!r} is defined twice")
        bad = [p for p in group.priorities if p not in PRIORITIES]
        if bad:
            raise ConfigError(s.key("priorities"), f"unknown priority {bad[0]!r}")
        if group.supervisor and not any(
            p.email == group.supervisor and p.role == "supervisor" for p in people
        ):
            raise ConfigError(
                s.key("supervisor"), f'{group.supervisor} is not a person with role = "supervisor"'
            )
        s.finish()
        groups.append(group)
    names = {g.name for g in groups}
    for index, group in enumerate(groups):
        if group.escalate_to and group.escalate_to not in names - {group.name}:
            raise ConfigError(
                f"groups[{index}].escalate_to", f"no other group named {group.escalate_to!r}"
            )
    if sum(g.default for g in groups) > 1:
        raise ConfigError("groups", "only one group may be the default")
    return tuple(groups)


def _duty(root: _Section, people: tuple[Person, ...]) -> tuple[Duty, ...]:
    shifts = []
    for s in _tables(root, "duty"):
        supervisor = s.text("supervisor", "").lower()
        if not any(p.email == supervisor and p.role == "supervisor" for p in people):
            raise ConfigError(
                s.key("supervisor"),
                f'{supervisor or "(empty)"} is not a person with role = "supervisor"',
            )
        days = tuple(d.lower()[:3] for d in _strings(s, "days")) or WEEKDAYS
        bad = [d for d in days if d not in WEEKDAYS]
        if bad:
            raise ConfigError(s.key("days"), f"unknown day {bad[0]!r} (mon … sun)")
        start, end = _clock(s, "start", "00:00"), _clock(s, "end", "24:00")
        s.finish()
        shifts.append(Duty(supervisor, days, start, end))
    return tuple(shifts)


def _clock(s: _Section, key: str, default: str) -> dt.time:
    raw = s.text(key, default)
    if raw == "24:00":
        return dt.time.max
    try:
        return dt.time.fromisoformat(raw)
    except ValueError:
        raise ConfigError(s.key(key), f"must be a time like 09:00, got {raw!r}") from None


def _assignment(s: _Section) -> str:
    strategy = s.choice("strategy", ("fewest_open", "round_robin"), "fewest_open")
    s.finish()
    return strategy


def _check_people(config: Config, groups: tuple[Group, ...]) -> None:
    names = {g.name for g in groups}
    for index, person in enumerate(config.people):
        unknown = [g for g in person.groups if g not in names]
        if unknown:
            raise ConfigError(f"people[{index}].groups", f"no group named {unknown[0]!r}")
        if person.email == config.support.address:
            raise ConfigError(
                f"people[{index}].email", "is the support address: mailflow would mail itself"
            )


def _strings(s: _Section, key: str) -> tuple[str, ...]:
    values = s.get(key, list, [])
    if not all(isinstance(v, str) and v.strip() for v in values):
        raise ConfigError(s.key(key), "must be a list of non-empty strings")
    return tuple(v.strip() for v in values)
