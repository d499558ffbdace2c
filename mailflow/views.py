"""Tickets as people and scripts see them: the spec's ticket record, and stable JSON.

JSON shape (documented in README; fields are only ever added, never renamed):
ticket: number, status, priority, category, subject, requester, requester_name, submitted_at,
created_at, updated_at, respond_by, resolve_by, first_response_at, resolved_at, closed_at
(ISO 8601 with offset, in the support time zone; null when unset); ``show`` adds messages
(direction, kind, from, from_name, to, cc, subject, date, message_id, text (without quoted
history), full_text, attachments: filename, content_type, size, sha256, inline,
content_id) and events
(at, actor, kind, data).
"""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

from mailflow.delivery.masking import mask_phone
from mailflow.delivery.rendering import PRIORITY_LABELS, STATUS_LABELS
from mailflow.store.models import Attachment, Event, Message, Ticket, iso


def ticket_summary(ticket: Ticket, tz: ZoneInfo) -> dict[str, Any]:
    return {
        "number": ticket.number,
        "status": ticket.status,
        "priority": ticket.priority,
        "category": ticket.category,
        "group": ticket.group,
        "assignee": ticket.assignee,
        "subject": ticket.subject,
        "requester": ticket.requester_email,
        "requester_name": ticket.requester_name,
        "phone": mask_phone(ticket.phone),  # stored whole, shown masked everywhere
        "department": ticket.department,
        "channel": ticket.channel,
        "submitted_at": iso(ticket.submitted_at, tz),
        "created_at": iso(ticket.created_at, tz),
        "updated_at": iso(ticket.updated_at, tz),
        "respond_by": iso(ticket.respond_by, tz),
        "resolve_by": iso(ticket.resolve_by, tz),
        "first_response_at": iso(ticket.first_response_at, tz),
        "resolved_at": iso(ticket.resolved_at, tz),
        "closed_at": iso(ticket.closed_at, tz),
        "rating": ticket.rating,
        "rating_comment": ticket.rating_comment,
    }


def ticket_detail(ticket: Ticket, tz: ZoneInfo) -> dict[str, Any]:
    messages = []
    for message in ticket.messages.order_by(Message.created_at, Message.id):
        messages.append(
            {
                "direction": message.direction,
                "kind": message.kind,
                "from": message.from_addr,
                "from_name": message.from_name,
                "to": message.to,
                "cc": message.cc,
                "subject": message.subject,
                "date": iso(message.created_at, tz),
                "message_id": message.message_id,
                "text": message.text,
                "full_text": message.full_text or message.text,
                "attachments": [
                    {
                        "filename": a.filename,
                        "content_type": a.content_type,
                        "size": a.size,
                        "sha256": a.sha256,
                        "inline": a.inline,
                        "content_id": a.content_id,
                    }
                    for a in message.attachments.order_by(Attachment.id)
                ],
            }
        )
    events = [
        {"at": iso(e.at, tz), "actor": e.actor, "kind": e.kind, "data": e.data}
        for e in ticket.events.order_by(Event.at, Event.id)
    ]
    return {**ticket_summary(ticket, tz), "messages": messages, "events": events}


_LABELS = {
    "zh_CN": (
        "工单编号",
        "提交时间",
        "需求方信息",
        "问题描述",
        "问题级别",
        "处理人",
        "响应时间",
        "状态",
        "往来邮件",
        "处理记录",
        "附件",
        "未分配",
        "尚未响应",
    ),
    "en": (
        "Ticket number",
        "Submitted",
        "Requester",
        "Problem",
        "Priority",
        "Handler",
        "First response",
        "Status",
        "Correspondence",
        "History",
        "Attachments",
        "unassigned",
        "not yet",
    ),
}


_SLA_LABELS = {
    "zh_CN": {
        "title": "服务时限",
        "respond": "响应",
        "resolve": "解决",
        "update": "进展通报",
        "running": "计时中",
        "paused": "暂停",
        "met": "已达成",
        "breached": "已超时",
        "left": "剩余",
        "over": "超出",
        "paused_for": "已暂停",
        "gap": "无节假日数据的年份（按星期计算）",
    },
    "en": {
        "title": "Service levels",
        "respond": "respond",
        "resolve": "resolve",
        "update": "update",
        "running": "running",
        "paused": "paused",
        "met": "met",
        "breached": "breached",
        "left": "left",
        "over": "over by",
        "paused_for": "paused for",
        "gap": "years without holiday data (counted by weekday)",
    },
}


def left_text(seconds: float | None, clock: str | None) -> str:
    """``resolve in 1h05m`` / ``respond over by 12m`` for the board."""
    if seconds is None or not clock:
        return "paused"
    word = "in" if seconds >= 0 else "over by"
    return f"{clock} {word} {_span(abs(seconds))}"


def _span(seconds: float) -> str:
    minutes = int(seconds // 60)
    days, rest = divmod(minutes, 1440)
    hours, mins = divmod(rest, 60)
    if days:
        return f"{days}d{hours:02d}h"
    return f"{hours}h{mins:02d}m" if hours else f"{mins}m"


def sla_lines(view: dict[str, Any], language: str) -> list[str]:
    """The SLA block of ``ticket show``."""
    words = _SLA_LABELS[language]
    lines = [f"== {words['title']} =="]
    for name in ("respond", "resolve", "update"):
        clock = view.get(name)
        if not clock:
            continue
        deadline = (clock["deadline"] or "-").replace("T", " ")[:16]
        detail = ""
        if clock["remaining_seconds"] is not None:
            detail = f"{words['left']} {_span(clock['remaining_seconds'])}"
        elif clock["overrun_seconds"] is not None:
            detail = f"{words['over']} {_span(clock['overrun_seconds'])}"
        if clock["paused_seconds"]:
            detail += f"; {words['paused_for']} {_span(clock['paused_seconds'])}"
        lines.append(
            f"{words[name]}: {clock['target_minutes']} min ({clock['clock']}), {deadline}, "
            f"{words[clock['state']]}{', ' + detail if detail else ''}"
        )
    if view.get("calendar_gaps"):
        lines.append(f"{words['gap']}: {', '.join(map(str, view['calendar_gaps']))}")
    return lines


def ticket_text(
    ticket: Ticket, tz: ZoneInfo, language: str, sla: dict[str, Any] | None = None
) -> str:
    """The ticket laid out like the spec's ticket record, its service levels, then its mails
    and its history."""
    d = ticket_detail(ticket, tz)
    (
        number,
        submitted,
        requester,
        problem,
        priority,
        handler,
        response,
        status,
        mails,
        history,
        attachments,
        unassigned,
        not_yet,
    ) = _LABELS[language]
    first_text = next((m["text"] for m in d["messages"] if m["direction"] == "in"), "")
    who = f"{d['requester_name']} <{d['requester']}>" if d["requester_name"] else d["requester"]

    def local(value: str | None) -> str:
        return value.replace("T", " ")[:19] if value else not_yet

    lines = [
        f"{number}: {d['number']}",
        f"{submitted}: {local(d['submitted_at'])}",
        f"{requester}: {who}",
        f"{problem}: {d['subject']}",
        f"{priority}: {PRIORITY_LABELS[language][d['priority']]}",
        f"{handler}: {d['assignee'] or unassigned}",
        f"{response}: {local(d['first_response_at'])}",
        f"{status}: {STATUS_LABELS[language].get(d['status'], d['status'])}",
        "",
        _indent(first_text.strip()),
        "",
        *([*sla_lines(sla, language), ""] if sla else []),
        f"== {mails} ({len(d['messages'])}) ==",
    ]
    for m in d["messages"]:
        arrow = "→" if m["direction"] == "out" else "←"
        lines.append(f"{arrow} {local(m['date'])}  {m['from']} → {', '.join(m['to'])}")
        lines.append(f"  {m['subject']}")
        for a in m["attachments"]:
            lines.append(
                f"  {attachments}: {a['filename']} ({a['content_type']}, {a['size']} B, "
                f"sha256 {a['sha256'][:12]}…)"
            )
    lines += ["", f"== {history} =="]
    for e in d["events"]:
        data = ", ".join(f"{k}={v}" for k, v in sorted(e["data"].items()))
        lines.append(f"{local(e['at'])}  {e['kind']:<24} {e['actor']}  {data}")
    return "\n".join(lines) + "\n"


def _indent(text: str) -> str:
    return "\n".join("    " + line for line in text.splitlines())
