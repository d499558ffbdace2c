"""Looking at and acting on tickets and the quarantine from a shell."""

from __future__ import annotations

import argparse
import json
import sys

from mailflow.cli.common import (
    EX_FAILURE,
    EX_OK,
    deliver,
    find_ticket,
    load_config,
    open_read,
    staff,
)
from mailflow.daemon import open_services, system_clock
from mailflow.pipeline import quarantine
from mailflow.process.command_lines import CommandLine
from mailflow.process.engineers import act
from mailflow.sla.board import board, breached_condition, due_condition, sla_view
from mailflow.store.database import transaction
from mailflow.store.models import Ticket
from mailflow.views import left_text, ticket_detail, ticket_summary, ticket_text


def cmd_tickets(args: argparse.Namespace) -> int:

    config = open_read(args)
    now = args.now or system_clock()
    query = Ticket.select().order_by(Ticket.created_at, Ticket.id)
    if args.status:
        query = query.where(Ticket.status == args.status)
    if args.overdue:
        query = query.where(due_condition(now))
    if args.due_within is not None:
        query = query.where(due_condition(now + args.due_within) & ~due_condition(now))
    if args.breached:
        query = query.where(breached_condition(now))
    rows = [ticket_summary(t, config.support.tz) for t in query]
    if args.json:
        print(json.dumps(rows, ensure_ascii=False, indent=2))
        return EX_OK
    if not rows:
        print("no tickets")
        return EX_OK
    for r in rows:
        when = (r["created_at"] or "").replace("T", " ")[:16]
        print(
            f"{r['number']:<16} {r['status']:<11} {r['priority']:<7} {when}  "
            f"{r['requester']:<28} {r['subject']}"
        )
    return EX_OK


def cmd_ticket(args: argparse.Namespace) -> int:
    if args.ticket_command != "show":
        return _ticket_action(args)

    config = open_read(args)
    ticket = find_ticket(args.number)
    view = sla_view(ticket, args.now or system_clock(), config)
    if args.json:
        detail = ticket_detail(ticket, config.support.tz)
        detail["sla"] = view
        print(json.dumps(detail, ensure_ascii=False, indent=2))
    else:
        print(ticket_text(ticket, config.support.tz, config.support.language, view), end="")
    return EX_OK


def cmd_sla(args: argparse.Namespace) -> int:
    """The board: open tickets, the least time left first. Staff-facing: full names."""
    config = open_read(args)
    rows = board(args.now or system_clock(), config)
    if args.json:
        print(json.dumps(rows, ensure_ascii=False, indent=2))
        return EX_OK
    if not rows:
        print("no open tickets")
        return EX_OK
    for r in rows:
        person = config.person(r["assignee"]) if r["assignee"] else None
        handler = f"{person.name} <{person.email}>" if person else (r["assignee"] or "unassigned")
        print(
            f"{r['number']:<16} {r['priority']:<7} {r['status']:<11} "
            f"{left_text(r['seconds_left'], r['next_clock']):<24} {handler:<32} {r['subject']}"
        )
    return EX_OK


def _ticket_action(args: argparse.Namespace) -> int:
    """The same actions engineers take by mail, with the same rules and the same events."""
    config = load_config(args.config)
    services = open_services(config)
    person = staff(config, args.actor or "")
    ticket = find_ticket(args.number)
    number = ticket.number
    value = " ".join(args.value)
    action = args.ticket_command
    text = value if action in ("note", "reply") else ""
    command = {
        "assign": ("assign", value),
        "status": ("status", value),
        "priority": ("priority", value),
        "note": ("internal", "yes"),
        "escalate": (
            "escalate",
            f"{args.group} {value}" if getattr(args, "group", None) else value,
        ),
    }.get(action)
    commands = (
        [CommandLine(command[0], command[0], command[1], f"{command[0]}: {command[1]}")]
        if command
        else []
    )
    now = system_clock()
    with transaction(services.db):
        errors = act(ticket, person, commands, text, now, services)
    if errors:
        for error in errors:
            print(f"mailflow: {number}: {error}", file=sys.stderr)
        return EX_FAILURE
    result = deliver(services, now)
    fresh = Ticket.get(Ticket.number == number)
    print(
        f"{number}: {action} done; status {fresh.status}, priority {fresh.priority}, "
        f"handler {fresh.assignee or '-'}; {result.sent} mails sent"
    )
    return EX_OK


def cmd_quarantine(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    services = open_services(config)
    tz = config.support.tz
    action = args.quarantine_command
    if action == "list":
        rows = [quarantine.describe(e, tz) for e in quarantine.entries(args.all)]
        if args.json:
            print(json.dumps(rows, ensure_ascii=False, indent=2))
        elif not rows:
            print("quarantine is empty")
        for r in [] if args.json else rows:
            when = (r["at"] or "").replace("T", " ")[:19]
            print(f"#{r['id']:<5} {when}  {r['status']:<8} {r['size']:>9} B  {r['error']}")
        return EX_OK
    entry = quarantine.get(args.id)
    if action == "show":
        if args.raw:
            sys.stdout.buffer.write(services.store.get(entry.raw_sha256))
            return EX_OK
        for key, value in quarantine.describe(entry, tz).items():
            print(f"{key:>8}: {value}")
        head = services.store.get(entry.raw_sha256)[:2000].split(b"\n\n", 1)[0]
        print("\n" + head.decode("utf-8", "replace"))
        return EX_OK
    if action == "retry":
        result = quarantine.retry(entry, system_clock(), services)
        if isinstance(result, str):
            print(f"#{entry.id} still cannot be read: {result}")
            return EX_FAILURE
        print(f"#{entry.id} {result.action} {result.ticket_number or ''}".rstrip())
        return EX_OK
    quarantine.drop(entry, services)
    print(f"#{entry.id} dropped (its raw bytes stay in {config.storage_path})")
    return EX_OK
