"""Service levels kept, end to end: an urgent ticket whose handler stays silent gets its
warning, its breach notice to handler and supervisor, then the head of support, one mail each
across restarts (through Dovecot and the SMTP server, time moved with ``run --once --now``);
and, against a real SQLite database, pauses, priority changes, reopening, exactly-once sweeps
and a year without holiday data."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from mailflow import config as config_mod
from mailflow.daemon import open_services
from mailflow.mail.parsing import parse
from mailflow.pipeline.handling import handle
from mailflow.process.command_lines import CommandLine
from mailflow.process.engineers import act
from mailflow.process.service_levels import sweep
from mailflow.services import Services
from mailflow.sources import RawMail
from mailflow.store.database import transaction
from mailflow.store.models import Alarm, Event, Outbox, SlaTimer, Ticket
from tests.conftest import ImapAccount, run_mailflow, write_config
from tests.helpers import PEOPLE, run_once, show, today_prefix
from tests.mails import build
from tests.servers import SmtpServer

HEAD = """
[[people]]
name = "刘强"
email = "liu.qiang@example.com"
role = "supervisor"
[sla]
head = "liu.qiang@example.com"
"""


def at(clock: str, day: str = "2026-12-01") -> str:
    return f"{day}T{clock}:00+08:00"


def test_a_silent_handler_gets_warning_then_breach_then_the_head_one_mail_each(
    e2e_config: Path, imap_account: ImapAccount, smtp_server: SmtpServer
) -> None:
    e2e_config.write_text(e2e_config.read_text() + PEOPLE + HEAD)
    imap_account.append(build("w@example.cn", imap_account.user, "[紧急] ERP 全部瘫痪", "开不了票"))
    run_once(e2e_config, at("10:00"))
    mails = smtp_server.wait_for(3)
    ack = next(parse(m.data) for m in mails if m.rcpt_tos == ["w@example.cn"])
    assert "\n  预计响应：15 分钟内，2026-12-01 10:15 前\n" in ack.text  # its own line, 24x7
    assert "\n  预计解决：2026-12-01 12:00 前" in ack.text

    def new_mails(total: int) -> list[tuple[str, str]]:
        got = smtp_server.wait_for(total, timeout=5)
        assert len(got) == total, [parse(m.data).subject for m in got]
        return sorted((m.rcpt_tos[0], parse(m.data).subject) for m in got[len(mails) :])

    run_once(e2e_config, at("10:12"))  # 75 % of 15 minutes: 10:11:15
    warned = new_mails(4)
    assert [(to, "即将超时（响应）" in s) for to, s in warned] == [("wang.wei@example.com", True)]
    mails = smtp_server.wait_for(4)
    run_once(e2e_config, at("10:13"))  # a restart: nothing again
    run_once(e2e_config, at("10:16"))
    breached = new_mails(6)
    assert [to for to, _ in breached] == ["li.na@example.com", "wang.wei@example.com"]
    assert all("已超时（响应）" in s for _, s in breached)
    mails = smtp_server.wait_for(6)
    run_once(e2e_config, at("10:31"))  # 200 %: the head of support
    run_once(e2e_config, at("10:32"))
    [(to, subject)] = new_mails(7)
    assert to == "liu.qiang@example.com" and "严重超时（响应）" in subject

    number = today_prefix() + "001"
    ticket = show(e2e_config, number)
    kinds = [e["kind"] for e in ticket["events"]]  # type: ignore[union-attr]
    assert [k for k in kinds if k.startswith("sla_") and not k.endswith("_queued")] == [
        "sla_warning",
        "sla_breach",
        "sla_second_level",
    ]
    breach = next(e for e in ticket["events"] if e["kind"] == "sla_breach")  # type: ignore[union-attr]
    assert breach["data"]["clock"] == "respond"
    assert breach["data"]["deadline"].startswith("2026-12-01T02:15:00")
    view = json.loads(
        run_mailflow(e2e_config, "ticket", "show", number, "--json", "--now", at("10:31")).stdout
    )["sla"]
    assert view["respond"]["state"] == "breached" and view["respond"]["overrun_seconds"] == 960
    assert view["resolve"]["state"] == "running" and view["resolve"]["remaining_seconds"] == 5340
    assert view["resolve"]["deadline"] == "2026-12-01T12:00:00+08:00"

    def listed(*flags: str) -> list[str]:
        result = run_mailflow(e2e_config, "tickets", "--json", *flags)
        assert result.returncode == 0, result.stderr
        return [t["number"] for t in json.loads(result.stdout)]

    assert listed("--overdue", "--now", at("10:31")) == [number]
    assert listed("--overdue", "--now", at("10:05")) == []
    assert listed("--due-within", "15m", "--now", at("10:05")) == [number]
    assert listed("--breached", "--now", at("10:31")) == [number]
    board = run_mailflow(e2e_config, "sla", "--now", at("10:31"))
    assert board.returncode == 0 and "respond over by 16m" in board.stdout
    assert "王伟 <wang.wei@example.com>" in board.stdout  # staff-facing: full names
    text = run_mailflow(e2e_config, "ticket", "show", number, "--now", at("10:31")).stdout
    assert "响应: 15 min (24x7), 2026-12-01 10:15, 已超时, 超出 16m" in text


# -- the same rules against a real SQLite database, in process ------------------------------

DESK = """
[support]
address = "support@example.com"
[[people]]
name = "王伟"
email = "wang.wei@example.com"
role = "engineer"
groups = ["ops"]
[[people]]
name = "李娜"
email = "li.na@example.com"
role = "supervisor"
[[groups]]
name = "ops"
supervisor = "li.na@example.com"
default = true
escalate_to = "second"
[[groups]]
name = "second"
supervisor = "li.na@example.com"
[[people]]
name = "周杰"
email = "zhou.jie@example.com"
role = "engineer"
groups = ["second"]
[operations]
alarm_to = ["ops@example.com"]
"""


def moment(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text + "+08:00")


def desk(tmp_path: Path, extra: str = "") -> Services:
    return open_services(config_mod.load(write_config(tmp_path, DESK + extra)))


def new(services: Services, subject: str, when: str, n: int = 1) -> Ticket:
    raw = build(f"user{n}@example.cn", "support@example.com", subject, "详情见附件")
    outcome = handle(RawMail(raw, f"test:{n}"), moment(when), services)
    assert outcome.action == "created"
    return Ticket.get(Ticket.number == outcome.ticket_number)


def command(
    services: Services, ticket: Ticket, when: str, key: str, value: str, text: str = ""
) -> None:
    engineer = services.config.person("wang.wei@example.com")
    assert engineer is not None
    line = CommandLine(key, key, value, f"{key}: {value}")
    with transaction(services.db):
        fresh = Ticket.get_by_id(ticket.id)
        assert act(fresh, engineer, [line], text, moment(when), services) == []


def local(value: dt.datetime | None) -> str:
    assert value is not None
    return (value + dt.timedelta(hours=8)).strftime("%Y-%m-%d %H:%M")


def test_priority_change_recomputes_from_submission(tmp_path: Path) -> None:
    services = desk(tmp_path)
    ticket = new(services, "打印机卡纸", "2026-12-01 10:00")  # medium: 4 h / 24 h, business
    assert (local(ticket.respond_by), local(ticket.resolve_by)) == (
        "2026-12-01 15:00",
        "2026-12-04 10:00",
    )
    command(services, ticket, "2026-12-01 10:20", "priority", "urgent")  # 24x7: 15 min / 2 h
    ticket = Ticket.get_by_id(ticket.id)
    assert (local(ticket.respond_by), local(ticket.resolve_by)) == (
        "2026-12-01 10:15",
        "2026-12-01 12:00",
    )
    assert ticket.sla["targets"]["respond"] == {"minutes": 15, "clock": "24x7"}
    pending = SlaTimer.select().where(SlaTimer.ticket == ticket.id, SlaTimer.done_at.is_null())
    assert {(t.clock, t.level) for t in pending} >= {("respond", "breach"), ("resolve", "warning")}
    assert not any(local(t.deadline) == "2026-12-01 15:00" for t in pending)  # old ones gone


def test_waiting_pauses_the_resolution_clock_and_reopening_starts_it_again(tmp_path: Path) -> None:
    services = desk(tmp_path)
    ticket = new(services, "邮箱签名怎么设置", "2026-12-01 10:00")  # medium: 24 working hours
    command(services, ticket, "2026-12-01 11:00", "status", "waiting", "请提供截图")
    ticket = Ticket.get_by_id(ticket.id)
    assert ticket.resolve_by is None and ticket.sla["left"]["resolve"] == 23 * 3600
    # The requester answers the next morning: the clock resumes with 23 working hours left.
    raw = build("user1@example.cn", "support@example.com", f"Re: [{ticket.number}] OA", "截图")
    assert handle(RawMail(raw, "test:r"), moment("2026-12-02 09:30"), services).action == "followup"
    ticket = Ticket.get_by_id(ticket.id)
    assert ticket.status == "in_progress"
    # 1 h used on day 1 (10-11); 23 h from 12-02 09:30: 12-02 (7.5), 12-03 (8), 12-04 (7.5).
    assert local(ticket.resolve_by) == "2026-12-04 17:30"
    kinds = [e.kind for e in Event.select().where(Event.ticket == ticket.id).order_by(Event.id)]
    assert kinds.count("sla_paused") == 1 and kinds.count("sla_resumed") == 1
    command(services, ticket, "2026-12-02 10:00", "status", "resolved", "已修复")
    raw = build("user1@example.cn", "support@example.com", f"Re: [{ticket.number}] OA", "还是不行")
    handle(RawMail(raw, "test:r2"), moment("2026-12-02 14:00"), services)
    ticket = Ticket.get_by_id(ticket.id)
    # Reopened: a whole new resolution target (24 working hours) from the reopening.
    assert ticket.status == "in_progress" and local(ticket.resolve_by) == "2026-12-07 14:00"


def test_each_notice_once_across_sweeps_and_daemons(tmp_path: Path) -> None:
    """Two daemons sweeping the same moment, a repeated sweep, and a refresh after the notice:
    one warning mail; a breach escalates to the configured next group."""
    services = desk(tmp_path, "\n[sla.urgent]\nresolve_minutes = 60\n")
    ticket = new(services, "[紧急] 全部瘫痪", "2026-12-01 10:00")
    when = moment("2026-12-01 10:12")
    assert sweep(when, services) == [f"{ticket.number} respond warning"]
    assert sweep(when, services) == []
    services.db.close()  # a second daemon, as a process of its own, sweeps the same moment
    second = run_mailflow(services.config.source, "run", "--once", now="2026-12-01T10:12:30+08:00")
    assert second.returncode == 0, second.stderr
    services.db.connect(reuse_if_open=True)
    command(services, ticket, "2026-12-01 10:13", "internal", "yes", "查看中")  # refreshes
    assert sweep(moment("2026-12-01 10:14"), services) == []
    warnings = Outbox.select().where(Outbox.kind == "sla_warning")
    assert [o.rcpt for o in warnings] == ["wang.wei@example.com"]
    fired = sweep(moment("2026-12-01 10:16"), services)
    assert fired == [f"{ticket.number} respond breach"]
    ticket = Ticket.get_by_id(ticket.id)
    assert ticket.group == "second" and ticket.assignee == "zhou.jie@example.com"
    breach = Event.get((Event.ticket == ticket.id) & (Event.kind == "sla_breach"))
    assert breach.data["escalated_to"] == "second"
    assert breach.data["to"] == ["wang.wei@example.com", "li.na@example.com"]


def test_a_late_sweep_sends_only_the_highest_level_and_business_notices_wait(
    tmp_path: Path,
) -> None:
    services = desk(tmp_path)
    ticket = new(services, "打印机卡纸", "2026-12-04 16:00")  # Friday, medium, business
    # Respond by 16:00 + 4 h = Monday 11:00; a sweep on Saturday finds nothing due yet, and
    # one on Monday at 13:30 finds warning and breach due: only the breach is sent.
    assert sweep(moment("2026-12-05 10:00"), services) == []
    assert sweep(moment("2026-12-07 13:30"), services) == [f"{ticket.number} respond breach"]
    assert Outbox.select().where(Outbox.kind == "sla_warning").count() == 0
    # The second level (8 working hours: Monday 16:00) and the resolution warning (18 working
    # hours: Tuesday 18:00), found by a sweep on Tuesday night, wait for working hours.
    assert sweep(moment("2026-12-08 21:00"), services) == []
    held = SlaTimer.get(
        (SlaTimer.ticket == ticket.id)
        & (SlaTimer.clock == "respond")
        & (SlaTimer.level == "second_level")
    )
    assert local(held.due_at) == "2026-12-09 09:00"
    assert sorted(sweep(moment("2026-12-09 09:00"), services)) == [
        f"{ticket.number} resolve warning",
        f"{ticket.number} respond second_level",
    ]


def test_a_year_without_holiday_data_is_reported_once(tmp_path: Path) -> None:
    services = desk(tmp_path)
    first = new(services, "系统慢", "2026-12-31 16:00", 1)  # medium: resolution in 2027
    second = new(services, "又慢了", "2026-12-31 16:30", 2)
    assert first.sla["calendar_gaps"] == [2027] and second.sla["calendar_gaps"] == [2027]
    assert [a.key for a in Alarm.select()] == ["calendar-gap-2027"]
    [alarm] = Outbox.select().where(Outbox.kind == "calendar_gap")
    assert alarm.recipients == ["ops@example.com"] and alarm.ticket_id is None
    assert b"2027" in bytes(alarm.mime)
    result = run_mailflow(services.config.source, "check", now="2026-12-20T10:00:00+08:00")
    assert result.returncode == 1 and "no public-holiday data for 2027" in result.stdout


def test_the_update_interval_reminds_the_handler(tmp_path: Path) -> None:
    """high with update_minutes = 60: an hour (of working time) after the handler last wrote to
    the requester, the handler is reminded once; another public reply moves the deadline."""
    services = desk(tmp_path, "\n[sla.high]\nupdate_minutes = 60\n")
    ticket = new(services, "OA 审批无法提交", "2026-12-01 10:00")
    assert ticket.priority == "high" and ticket.update_by is None  # no reply yet
    command(services, ticket, "2026-12-01 10:20", "status", "in_progress", "正在查看日志")
    ticket = Ticket.get_by_id(ticket.id)
    assert local(ticket.update_by) == "2026-12-01 11:20"
    assert sweep(moment("2026-12-01 11:21"), services) == [f"{ticket.number} update breach"]
    assert sweep(moment("2026-12-01 11:40"), services) == []
    [reminder] = Outbox.select().where(Outbox.kind == "sla_breach")
    assert reminder.rcpt == "wang.wei@example.com"
    assert "进展" in parse(bytes(reminder.mime)).text
    command(services, ticket, "2026-12-01 11:45", "status", "in_progress", "已定位原因")
    assert local(Ticket.get_by_id(ticket.id).update_by) == "2026-12-01 13:45"  # over lunch


def test_unowned_tickets_warn_the_supervisors(tmp_path: Path) -> None:
    """No group takes it: warnings and breaches go to the supervisors (on duty, else all)."""
    unrouted = DESK.replace("default = true\n", "categories = ['网络']\n")
    services = open_services(config_mod.load(write_config(tmp_path, unrouted)))
    ticket = new(services, "[紧急] 全部瘫痪", "2026-12-01 10:00")
    assert ticket.group is None and ticket.assignee is None
    assert sweep(moment("2026-12-01 10:12"), services) == [f"{ticket.number} respond warning"]
    assert [o.rcpt for o in Outbox.select().where(Outbox.kind == "sla_warning")] == [
        "li.na@example.com"
    ]


def test_the_daemon_mails_the_operators_once_about_a_year_without_data(tmp_path: Path) -> None:
    """`run --once` on 2026-12-20: the calendar check finds that deadlines set now reach 2027;
    it logs that every time and mails [operations] alarm_to once (Maildir transport)."""
    path = write_config(tmp_path, DESK)
    first = run_mailflow(path, "run", "--once", now="2026-12-20T10:00:00+08:00")
    second = run_mailflow(path, "run", "--once", now="2026-12-20T16:00:00+08:00")
    for result in (first, second):
        assert result.returncode == 0, result.stderr
        assert "calendar: no public-holiday data for 2027" in result.stderr
    sent = [parse(p.read_bytes()) for p in (tmp_path / "var" / "sent" / "new").iterdir()]
    assert [m.subject for m in sent] == ["[mailflow] 缺少 2027 年的节假日数据"]
    assert "complete_years = [2027]" in sent[0].text
