"""The engineer's commands (spec step 4) as one table of objects, each checking and applying itself.

A command is checked against the ticket and the configuration first (``check`` returns the value
to apply, or raises ``Refused`` with a reason a person can act on) and applied later
(``apply``). ``plan`` checks every line of a mail before anything is applied, so a mail with one
bad command changes nothing: the all-or-nothing rule. Adding a command means adding one class
and one row to ``TABLE``; the key aliases live in ``command_lines.KEYS``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, ClassVar

from mailflow.config import Config, Person
from mailflow.mail import headers
from mailflow.mail.parsing import InboundMail
from mailflow.process import articles, assignment
from mailflow.process.command_lines import (
    NO,
    PRIORITY_VALUES,
    STATUS_VALUES,
    YES,
    CommandLine,
)
from mailflow.process.states import can_move, refusal
from mailflow.services import Services
from mailflow.store.articles import Article
from mailflow.store.models import Ticket, utc
from mailflow.store.rows import add_event


class Refused(Exception):
    """A command that cannot apply to this ticket; the message says why."""


@dataclass(frozen=True)
class Acting:
    """Who applies a command, when, and in answer to which mail (None from the CLI)."""

    person: Person
    mail: InboundMail | None
    now: dt.datetime
    services: Services

    @property
    def actor(self) -> str:
        return self.person.email


class Command:
    """One kind of command: ``check`` a written value, ``apply`` the checked one."""

    key: ClassVar[str]

    def check(self, value: str, ticket: Ticket, config: Config) -> Any:
        """The value to apply; ``Refused`` when it cannot apply."""
        return value

    def apply(self, ticket: Ticket, value: Any, acting: Acting) -> None:
        """Change ``ticket`` (inside the caller's transaction) and record the event."""
        raise NotImplementedError


class Status(Command):
    key = "status"

    def check(self, value: str, ticket: Ticket, config: Config) -> str:
        target = STATUS_VALUES.get(value.lower())
        if target is None:
            raise Refused(f"unknown status {value!r} (in-progress, waiting, resolved)")
        if target != ticket.status and not can_move(ticket.status, target):
            raise Refused(refusal(ticket.status, target))
        return target

    def apply(self, ticket: Ticket, value: str, acting: Acting) -> None:
        before = ticket.status
        if value == before:
            return
        ticket.status = value
        if value == "resolved":
            ticket.resolved_at = utc(acting.now)
        if value == "closed":
            ticket.closed_at = utc(acting.now)
        add_event(ticket, acting.now, acting.actor, "status_changed", before=before, after=value)


class Priority(Command):
    key = "priority"

    def check(self, value: str, ticket: Ticket, config: Config) -> str:
        priority = PRIORITY_VALUES.get(value.lower())
        if priority is None:
            raise Refused(f"unknown priority {value!r} (urgent, high, medium, low)")
        return priority

    def apply(self, ticket: Ticket, value: str, acting: Acting) -> None:
        add_event(
            ticket,
            acting.now,
            acting.actor,
            "priority_changed",
            before=ticket.priority,
            after=value,
        )
        ticket.priority = value  # the clocks follow (service_levels.keep, after the commands)


class Assign(Command):
    key = "assign"

    def check(self, value: str, ticket: Ticket, config: Config) -> Person:
        engineer = assignment.find_engineer(value, config)
        if engineer is None:
            raise Refused(f"no engineer {value!r} (give a configured name or address)")
        return engineer

    def apply(self, ticket: Ticket, value: Person, acting: Acting) -> None:
        assignment.reassign(ticket, value, "assigned by " + acting.actor, acting)


class Group(Command):
    key = "group"

    def check(self, value: str, ticket: Ticket, config: Config) -> str:
        group = config.group(value)
        if group is None:
            known = ", ".join(g.name for g in config.groups) or "none"
            raise Refused(f"no group {value!r} (known: {known})")
        return group.name

    def apply(self, ticket: Ticket, value: str, acting: Acting) -> None:
        add_event(
            ticket, acting.now, acting.actor, "group_changed", before=ticket.group, after=value
        )
        ticket.group = value


class Category(Command):
    key = "category"

    def apply(self, ticket: Ticket, value: str, acting: Acting) -> None:
        add_event(
            ticket,
            acting.now,
            acting.actor,
            "category_changed",
            before=ticket.category,
            after=value,
        )
        ticket.category = value


class Escalate(Command):
    key = "escalate"

    def check(self, value: str, ticket: Ticket, config: Config) -> tuple[str | None, str]:
        group = next((g for g in config.groups if value.startswith(g.name)), None)
        reason = value[len(group.name) :].strip() if group else value
        return (group.name if group else None, reason)

    def apply(self, ticket: Ticket, value: tuple[str | None, str], acting: Acting) -> None:
        group_name, reason = value
        assignment.escalate(ticket, group_name, reason, acting)


class Internal(Command):
    """``Internal: yes`` makes the mail a note nobody outside the staff sees."""

    key = "internal"

    def check(self, value: str, ticket: Ticket, config: Config) -> bool:
        return value.lower() in YES

    def apply(self, ticket: Ticket, value: bool, acting: Acting) -> None:
        pass  # not a change of the ticket: ``engineers.act`` reads it


class Cc(Command):
    key = "cc"

    def check(self, value: str, ticket: Ticket, config: Config) -> list[str]:
        refused: list[str] = []
        found = [a for _, a in headers.address_list(value, refused) if "@" in a]
        if refused:
            raise Refused(f"Cc: {'; '.join(refused)}")
        if not found:
            raise Refused(f"no address in Cc: {value!r}")
        return found

    def apply(self, ticket: Ticket, value: list[str], acting: Acting) -> None:
        ticket.cc = sorted(set(ticket.cc) | set(value))
        add_event(ticket, acting.now, acting.actor, "cc_added", addresses=value)


class Kb(Command):
    """``KB: title`` drafts an article from the solved ticket (``engineers.act`` files it once
    the reply is recorded, so the draft has this reply's text as its resolution)."""

    key = "kb"

    def check(self, value: str, ticket: Ticket, config: Config) -> str:
        if not value.strip():
            raise Refused("KB: needs the title of the article to draft")
        return value.strip()

    def apply(self, ticket: Ticket, value: str, acting: Acting) -> None:
        pass


class Publish(Command):
    """``Publish: yes`` from the group's supervisor publishes the ticket's draft articles."""

    key = "publish"

    def check(self, value: str, ticket: Ticket, config: Config) -> tuple[bool, list[Article]]:
        answer = value.strip().lower()
        if answer not in YES and answer not in NO:
            raise Refused(f"Publish: {value!r}: answer yes or no")
        drafts = articles.drafts_of(ticket.number)
        if not drafts:
            raise Refused(f"there is no draft article from {ticket.number} to publish")
        return answer in YES, drafts

    def apply(self, ticket: Ticket, value: tuple[bool, list[Article]], acting: Acting) -> None:
        yes, drafts = value
        for article in drafts:
            if yes:
                articles.publish(ticket, article, acting.actor, acting.now, acting.services)
            else:
                add_event(ticket, acting.now, acting.actor, "kb_not_published", article=article.id)


TABLE: dict[str, Command] = {
    command.key: command
    for command in (
        Status(),
        Priority(),
        Assign(),
        Group(),
        Category(),
        Escalate(),
        Internal(),
        Cc(),
        Kb(),
        Publish(),
    )
}
KNOWN = "Status, Priority, Assign, Group, Category, Escalate, Internal, Cc, KB, Publish"
# Commands about the knowledge base, not the ticket: a closed ticket takes them too.
_ABOUT_KNOWLEDGE = {"kb", "publish"}


@dataclass(frozen=True)
class Change:
    """A checked command, ready to apply."""

    command: Command
    value: Any

    def apply(self, ticket: Ticket, acting: Acting) -> None:
        self.command.apply(ticket, self.value, acting)


def plan(
    lines: list[CommandLine], ticket: Ticket, config: Config, person: Person | None = None
) -> tuple[list[Change], list[str]]:
    """Every line checked: the changes to apply, or the reasons none may (all or nothing)."""
    about_knowledge = bool(lines) and all(line.key in _ABOUT_KNOWLEDGE for line in lines)
    if ticket.status == "closed" and not _reopens(lines) and not about_knowledge:
        # Closed tickets are the archive: read-only, except for reopening them.
        return [], [
            f'{ticket.number} is closed and read-only; reopen it first with "Status: in-progress"'
        ]
    changes: list[Change] = []
    errors: list[str] = []
    for line in lines:
        command = TABLE.get(line.key)
        if command is None:
            errors.append(f"unknown command {line.written!r} (known: {KNOWN})")
            continue
        try:
            changes.append(Change(command, command.check(line.value.strip(), ticket, config)))
        except Refused as exc:
            errors.append(str(exc))
    return changes, errors + _knowledge_rules(changes, ticket, config, person)


def _knowledge_rules(
    changes: list[Change], ticket: Ticket, config: Config, person: Person | None
) -> list[str]:
    """What a KB: or Publish: line needs beyond its own value."""
    keys = {c.command.key for c in changes}
    errors = []
    resolving = any(c.command.key == "status" and c.value == "resolved" for c in changes)
    if "kb" in keys and ticket.status not in ("resolved", "closed") and not resolving:
        errors.append(
            'KB: drafts an article from a solved ticket: add "Status: resolved" to this '
            "reply, or resolve the ticket first"
        )
    if (
        "publish" in keys
        and person is not None
        and not articles.may_publish(person, ticket, config)
    ):
        reviewer = articles.reviewer_of(ticket, config)
        who = f"the group's supervisor ({reviewer.email})" if reviewer else "a supervisor"
        errors.append(f"only {who} can publish the draft articles of {ticket.number}")
    return errors


def _reopens(lines: list[CommandLine]) -> bool:
    return any(
        line.key == "status" and STATUS_VALUES.get(line.value.strip().lower()) == "in_progress"
        for line in lines
    )
