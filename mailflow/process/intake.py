"""Spec steps 1 to 3 for a new request: registered (a service desk's caller included), graded,
routed to a group and an engineer, acknowledged to the requester, assigned.

Each step is a function of its own; ``create`` runs them in the spec's order inside the
caller's transaction. The requester's acknowledgement is queued before the engineer's
assignment mail, so it is the first mail to leave.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from mailflow.config import Config, Group, MailboxConfig, Person
from mailflow.delivery import outbox
from mailflow.delivery.mailing import acknowledge, note_refused
from mailflow.delivery.masking import mask_phone
from mailflow.delivery.rendering import pick_language
from mailflow.mail import headers
from mailflow.mail.addresses import Address, clean_name
from mailflow.mail.loops import Verdict
from mailflow.mail.parsing import InboundMail
from mailflow.mail.trust import why_untrusted
from mailflow.process.assignment import assign, last_assignee, open_counts, unowned
from mailflow.process.choice import pick_engineer, route_group
from mailflow.process.command_lines import split_intake
from mailflow.process.grading import DEFAULT_RULES, Grade, Rule, grade
from mailflow.process.known_issues import as_context, match_new, offer
from mailflow.process.records import store_inbound
from mailflow.process.service_levels import keep
from mailflow.services import Services
from mailflow.store import ids
from mailflow.store.models import Ticket, aware, utc
from mailflow.store.rows import add_event, create_row

if TYPE_CHECKING:  # the pipeline hands its prepared mail down; nothing here imports it
    from mailflow.pipeline.preparing import Prepared


@dataclass(frozen=True)
class Request:
    """Who asks and what, once a service desk's ``Requester:``/``Phone:`` lines are read."""

    requester: Address
    problem: str
    lines: dict[str, str] = field(default_factory=dict)
    not_trusted: str = ""  # why a desk's lines were not obeyed


@dataclass(frozen=True)
class Routing:
    """Step 3's choices and why each was made."""

    group: Group | None
    group_why: str
    engineer: Person | None
    engineer_why: str


def create(
    item: Prepared,
    mail: InboundMail,
    reason: str,
    verdict: Verdict,
    now: dt.datetime,
    services: Services,
    desk: MailboxConfig | None = None,
) -> tuple[Ticket, int]:
    """A new ticket for ``mail``, received at ``desk`` (None: the support address); the
    ticket and the id of its first message."""
    config = services.config
    request = read_request(mail, config)
    graded = grade(mail, rules(config))
    routing = choose(graded, config, desk)
    ticket = _ticket_row(item, mail, request, graded, routing, now, config)
    ticket.mailbox = desk.address if desk is not None else ""
    stored = store_inbound(
        ticket, mail, item.raw.source_ref, now, accepted=item.accepted, digests=item.digests
    )
    _record(ticket, mail, request, graded, routing, reason, stored, item, now, config)
    keep(ticket, now, services, new=True)
    # Only what changed since the insert (its clocks, its desk): a full UPDATE of every column
    # cost more than the rest of the ticket's bookkeeping.
    ticket.save(only=ticket.dirty_fields)
    known = match_new(ticket, request.problem, now, services)
    why_not = why_no_auto_reply(verdict, request.requester, now, config)
    if why_not:
        add_event(ticket, now, "system", "acknowledgement_suppressed", reason=why_not)
    else:
        offered = offer(ticket, known, now, services)
        acknowledge(
            ticket,
            mail,
            request.requester,
            now,
            services,
            item.refused,
            offered=as_context([offered]) if offered else [],
        )
    if routing.group is None:
        unowned(ticket, mail, routing.group_why, now, services, request.problem)
    else:
        assign(
            ticket,
            mail,
            routing.engineer,
            routing.engineer_why,
            item.accepted,
            now,
            services,
            request.problem,
            known=as_context(known),
        )
    return ticket, stored


def read_request(mail: InboundMail, config: Config) -> Request:
    """Step 1: the requester is whoever a reply goes to, or the caller a service desk names
    (only when the desk's mail carries authority, see ``trust``)."""
    assert mail.sender is not None  # routing quarantines sender-less mail
    requester = mail.reply_address or mail.sender
    registrar = config.person(mail.sender.email)
    if registrar is None or registrar.role != "service_desk":
        return Request(requester, mail.text)
    refused = why_untrusted(mail, config.authserv_id)
    if refused:
        return Request(requester, mail.text, not_trusted=refused)
    lines, problem = split_intake(mail.text)
    return Request(caller(lines.get("requester", ""), requester), problem, lines)


def caller(line: str, desk: Address) -> Address:
    """The requester a service desk names in a ``Requester:`` line.

    Its address passes the same check as any From (``headers.addresses``); a line with no
    usable address is a name only, and replies go to the desk.
    """
    if not line:
        return desk
    found = headers.address_list(line)
    if found:
        return Address(found[0][0], found[0][1])
    return Address(clean_name(headers.decode_words(line)), desk.email)


def rules(config: Config) -> tuple[Rule, ...]:
    """Step 2's grading rules: the configured ones, else the built-in ones."""
    if config.rules is None:
        return DEFAULT_RULES
    return tuple(
        Rule(r.name, r.keywords, r.subject, r.senders, r.recipients, r.priority, r.category)
        for r in config.rules
    )


def choose(graded: Grade, config: Config, desk: MailboxConfig | None = None) -> Routing:
    """Step 3: the group that takes the ticket (the desk's own, if it has one), and an
    engineer of it who is there."""
    group, group_why = route_group(config.groups, graded.category, graded.priority)
    if desk is not None and desk.group:
        group, group_why = config.group(desk.group), f"{desk.group} is the group of {desk.address}"
    if group is None:
        return Routing(None, group_why, None, "")
    engineer, engineer_why = pick_engineer(
        group, config.people, open_counts(), last_assignee(group.name), config.assignment_strategy
    )
    return Routing(group, group_why, engineer, engineer_why)


def _ticket_row(
    item: Prepared,
    mail: InboundMail,
    request: Request,
    graded: Grade,
    routing: Routing,
    now: dt.datetime,
    config: Config,
) -> Ticket:
    received = item.raw.received_at
    submitted = min(aware(received) if received else now, now)
    lines = request.lines
    return create_row(
        Ticket,
        number=ids.allocate(config.support.ticket_prefix, ids.ticket_day(now, config.support.tz)),
        subject=ids.strip_reply_prefixes(mail.subject) or mail.subject or "(no subject)",
        status="assigned" if routing.engineer else "new",
        priority=graded.priority,
        category=graded.category,
        group=routing.group.name if routing.group else None,
        assignee=routing.engineer.email if routing.engineer else None,
        requester_email=request.requester.email,
        requester_name=request.requester.name,
        phone=lines.get("phone", ""),
        department=lines.get("department", ""),
        channel=lines.get("channel", "phone" if lines else "email"),
        language=pick_language(f"{mail.subject}\n{mail.text[:2000]}", config.support.language),
        submitted_at=utc(submitted),
        created_at=utc(now),
        updated_at=utc(now),
    )


def _record(
    ticket: Ticket,
    mail: InboundMail,
    request: Request,
    graded: Grade,
    routing: Routing,
    reason: str,
    stored: int,
    item: Prepared,
    now: dt.datetime,
    config: Config,
) -> None:
    """The events of intake, in the order things happened."""
    sender = mail.sender.email if mail.sender else ""
    if request.lines:
        add_event(
            ticket,
            now,
            sender,
            "registered_for_caller",
            requester=request.requester.email,
            channel=ticket.channel,
            department=ticket.department,
            phone=mask_phone(ticket.phone),
        )
    if request.not_trusted:
        add_event(ticket, now, sender, "intake_not_trusted", reason=request.not_trusted)
    note_refused(ticket, item.refused, now)
    add_event(
        ticket,
        now,
        request.requester.email,
        "created",
        reason=reason,
        message=stored,
        source=item.raw.source_ref or "stdin",
    )
    add_event(
        ticket, now, "system", "priority_set", priority=graded.priority, rule=graded.priority_rule
    )
    if graded.category:
        add_event(
            ticket,
            now,
            "system",
            "category_set",
            category=graded.category,
            rule=graded.category_rule,
        )
    if config.groups:
        add_event(ticket, now, "system", "group_set", group=ticket.group, reason=routing.group_why)


def why_no_auto_reply(verdict: Verdict, to: Address, now: dt.datetime, config: Config) -> str:
    """Why no automatic mail may go to ``to`` now; empty when one may (loops and limits)."""
    if verdict.automatic:
        return f"the mail is automatic: {verdict.reason}"
    if to.email in config.own_addresses:
        return "the requester is our own support address"
    limit = config.loops.max_per_address_per_hour
    sent = outbox.recent_count(to.email, now - dt.timedelta(hours=1))
    if sent >= limit:
        return f"loop limit: {sent} automatic mails to {to.email} in the last hour"
    return ""
