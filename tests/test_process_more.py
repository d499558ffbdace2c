"""The rest of the support process: CLI actions, service-desk intake with masked phones,
trusting staff commands only when authenticated, and the whole process in English."""

from __future__ import annotations

from pathlib import Path

from mailflow.delivery.masking import mask_phone
from mailflow.mail.parsing import parse
from tests.conftest import ImapAccount, run_mailflow
from tests.helpers import DESK, PEOPLE, run_once, show, today_prefix
from tests.mails import build
from tests.servers import SmtpServer


def test_mask_phone() -> None:
    assert mask_phone("13812345678") == "1381234****"
    assert mask_phone("+86 138-1234-5678") == "+86 138-1234-****"
    assert mask_phone("ext. 8801") == "ext. ****"
    assert mask_phone("") == ""


def test_cli_actions_follow_the_same_rules(
    e2e_config: Path, imap_account: ImapAccount, smtp_server: SmtpServer
) -> None:
    """`mailflow ticket ...` actions obey the same checks and leave the same events as mail
    commands."""
    e2e_config.write_text(e2e_config.read_text() + PEOPLE)
    imap_account.append(build("王芳 <w@example.cn>", imap_account.user, "OA 无法提交", "报错"))
    run_once(e2e_config)
    number = today_prefix() + "001"
    as_wang = ("--as", "wang.wei@example.com")
    missing = run_mailflow(e2e_config, "ticket", "status", number, "resolved")
    assert missing.returncode == 1 and "--as (missing)" in missing.stderr
    done = run_mailflow(e2e_config, "ticket", "reply", number, "正在远程处理。", *as_wang)
    assert done.returncode == 0 and "status in_progress" in done.stdout, done.stderr
    assert "正在远程处理" in parse(smtp_server.messages[-1].data).text
    refused = run_mailflow(e2e_config, "ticket", "status", number, "closed", *as_wang)
    assert refused.returncode == 1 and "cannot become closed" in refused.stderr
    assert (
        run_mailflow(e2e_config, "ticket", "priority", number, "urgent", *as_wang).returncode == 0
    )
    assert (
        run_mailflow(e2e_config, "ticket", "note", number, "补丁有问题", *as_wang).returncode == 0
    )
    escalated = run_mailflow(
        e2e_config, "ticket", "escalate", number, "需要换硬盘", "--group", "硬件支持组", *as_wang
    )
    assert escalated.returncode == 0, escalated.stderr
    assert run_mailflow(e2e_config, "ticket", "assign", number, "王伟", *as_wang).returncode == 0
    ticket = show(e2e_config, number)
    assert (ticket["priority"], ticket["group"], ticket["assignee"]) == (
        "urgent",
        "硬件支持组",
        "wang.wei@example.com",
    )
    kinds = [e["kind"] for e in ticket["events"]]  # type: ignore[union-attr]
    for kind in (
        "public_reply",
        "commands_refused",
        "priority_changed",
        "internal_note",
        "escalated",
        "assigned",
    ):
        assert kind in kinds


def test_service_desk_registers_a_caller_and_phones_are_masked_everywhere(
    e2e_config: Path, imap_account: ImapAccount, smtp_server: SmtpServer
) -> None:
    """A desk's Requester: lines make the caller the requester; the phone number is masked in every
    mail."""
    e2e_config.write_text(e2e_config.read_text() + PEOPLE + DESK)
    imap_account.append(
        build(
            "前台小刘 <desk.liu@example.com>",
            imap_account.user,
            "ERP 瘫痪（电话报修）",
            "需求方：张三 <zhang.san@example.cn>\n电话：13812345678\n部门：财务部\n渠道：phone\n\n"
            "张三来电：ERP 全部无法登录。",
        )
    )
    run_once(e2e_config)
    ticket = show(e2e_config, today_prefix() + "001")
    assert ticket["requester"] == "zhang.san@example.cn"
    assert (ticket["phone"], ticket["department"], ticket["channel"]) == (
        "1381234****",
        "财务部",
        "phone",
    )
    mails = smtp_server.wait_for(3)
    assert {m.rcpt_tos[0] for m in mails} == {
        "zhang.san@example.cn",
        "wang.wei@example.com",
        "li.na@example.com",
    }
    for mail in mails:
        text = parse(mail.data).text
        assert "13812345678" not in text and b"13812345678" not in mail.data
        assert "1381234****" in text
    assert (
        "王*" in parse(next(m for m in mails if m.rcpt_tos == ["zhang.san@example.cn"]).data).text
    )


def test_staff_commands_need_authentication_when_configured(
    e2e_config: Path, imap_account: ImapAccount, smtp_server: SmtpServer
) -> None:
    """With authserv_id, a staff mail without our border's aligned pass applies nothing and is told
    why."""
    e2e_config.write_text(
        e2e_config.read_text() + PEOPLE + '[security]\nauthserv_id = "mx.example.test"\n'
    )
    imap_account.append(build("王芳 <w@example.cn>", imap_account.user, "VPN 断开", "经常断"))
    run_once(e2e_config)
    number = today_prefix() + "001"
    seen = len(smtp_server.wait_for(2))
    forged = build(
        "王伟 <wang.wei@example.com>",
        imap_account.user,
        f"Re: [{number}]",
        "Status: resolved\n\n已解决",
        headers=(("Authentication-Results", "evil.example; dkim=pass header.d=example.com"),),
    )
    imap_account.append(forged)
    run_once(e2e_config)
    [notice] = smtp_server.wait_for(seen + 1)[seen:]
    assert notice.rcpt_tos == ["wang.wei@example.com"]
    assert "not verified by mx.example.test" in parse(notice.data).text
    assert show(e2e_config, number)["status"] == "assigned"
    genuine = build(
        "王伟 <wang.wei@example.com>",
        imap_account.user,
        f"Re: [{number}]",
        "Status: resolved\n\n已解决",
        headers=(
            (
                "Authentication-Results",
                "mx.example.test; spf=pass smtp.mailfrom=wang.wei@example.com; "
                "dkim=pass header.d=example.com",
            ),
        ),
    )
    imap_account.append(genuine)
    run_once(e2e_config)
    assert show(e2e_config, number)["status"] == "resolved"


def test_the_whole_process_in_english(
    e2e_config: Path, imap_account: ImapAccount, smtp_server: SmtpServer
) -> None:
    """An English-writing requester gets the whole process in English."""
    e2e_config.write_text(e2e_config.read_text() + PEOPLE)
    support = imap_account.user
    imap_account.append(
        build(
            "Emily Carter <emily@example.com>",
            support,
            "Cannot log in to the ERP",
            "It says database timeout.",
        )
    )
    run_once(e2e_config)
    number = today_prefix() + "001"
    tag = f"[{number}]"
    ack = parse(smtp_server.wait_for(2)[0].data)
    assert ack.subject.startswith(f"{tag} Received:") and "Handler:           王*" in ack.text
    steps = [
        ("王伟 <wang.wei@example.com>", "Status: in-progress\n\nChecking the database pool."),
        ("王伟 <wang.wei@example.com>", "Status: resolved\n\nThe pool is fixed."),
        ("Emily Carter <emily@example.com>", "Confirmed, thank you!"),
        ("Emily Carter <emily@example.com>", "4 very quick"),
    ]
    for sender, body in steps:
        imap_account.append(build(sender, support, f"Re: {tag} ERP", body))
        run_once(e2e_config)
    subjects = [
        parse(m.data).subject for m in smtp_server.messages if m.rcpt_tos == ["emily@example.com"]
    ]
    assert subjects[1:] == [
        f"{tag} Update: Cannot log in to the ERP",
        f"{tag} Update: Cannot log in to the ERP",
        f"{tag} Ticket closed - how did we do? Cannot log in to the ERP",
    ]
    survey = parse(
        next(m for m in reversed(smtp_server.messages) if m.rcpt_tos == ["emily@example.com"]).data
    )
    assert "4 - very satisfied" in survey.text
    ticket = show(e2e_config, number)
    assert (ticket["status"], ticket["rating"], ticket["rating_comment"]) == (
        "closed",
        4,
        "very quick",
    )


def test_closed_tickets_are_read_only_except_reopening(
    e2e_config: Path, imap_account: ImapAccount, smtp_server: SmtpServer
) -> None:
    """Commands on a closed ticket are refused, except reopening it."""
    e2e_config.write_text(e2e_config.read_text() + PEOPLE)
    imap_account.append(build("a@example.cn", imap_account.user, "打印机卡纸", "x"))
    run_once(e2e_config)
    number = today_prefix() + "001"
    as_zhou = ("--as", "zhou.jie@example.com")
    assert (
        run_mailflow(e2e_config, "ticket", "status", number, "resolved", *as_zhou).returncode == 0
    )
    imap_account.append(build("a@example.cn", imap_account.user, f"Re: [{number}]", "确认"))
    run_once(e2e_config)
    assert show(e2e_config, number)["status"] == "closed"
    changed = run_mailflow(e2e_config, "ticket", "priority", number, "urgent", *as_zhou)
    assert changed.returncode == 1 and "closed and read-only" in changed.stderr
    note = run_mailflow(e2e_config, "ticket", "reply", number, "还有问题吗？", *as_zhou)
    assert note.returncode == 1
    reopened = run_mailflow(e2e_config, "ticket", "status", number, "in-progress", *as_zhou)
    assert reopened.returncode == 0 and "status in_progress" in reopened.stdout
