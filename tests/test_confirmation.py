"""Confirmation, survey, reopening and closing (spec steps 5 and 6), by mail end to end."""

from __future__ import annotations

from pathlib import Path

import pytest

from mailflow.mail.parsing import parse
from mailflow.process.answers import confirmation, rating
from tests.conftest import ImapAccount
from tests.helpers import PEOPLE, run_once, show, sql, tickets, today_prefix
from tests.mails import build
from tests.servers import SmtpServer

REQUESTER = "王芳 <wang.fang@example.cn>"
ENGINEER = "王伟 <wang.wei@example.com>"


@pytest.mark.parametrize(
    ("text", "meaning"),
    [
        ("确认，谢谢", "yes"),
        ("已解决", "yes"),
        ("好了", "yes"),
        ("Confirmed, thanks!", "yes"),
        ("没解决，还是报错", "no"),
        ("还是不行", "no"),
        ("not solved yet", "no"),
        ("No.", "no"),
        ("今天又蓝屏了一次，日志见附件", "other"),
    ],
)
def test_confirmation_words(text: str, meaning: str) -> None:
    """What a requester's reply to a resolved ticket means: yes, no, or more text."""
    assert confirmation(text) == meaning


@pytest.mark.parametrize(
    ("text", "answer"),
    [
        ("4", (4, "")),
        ("4 工程师很专业", (4, "工程师很专业")),
        ("非常满意", (4, "")),
        ("满意", (3, "")),
        ("一般", (2, "")),
        ("不满意，等了太久", (1, "等了太久")),
        ("1", (1, "")),
        ("very satisfied", (4, "")),
        ("again broken", None),
    ],
)
def test_survey_answers(text: str, answer: tuple[int, str] | None) -> None:
    """Survey replies are read as the four levels by number, word or mailto body, with a comment."""
    assert rating(text) == answer


def test_resolve_confirm_survey_rate(
    e2e_config: Path, imap_account: ImapAccount, smtp_server: SmtpServer
) -> None:
    """End to end: resolved, confirmed, closed with a survey, rated; 不满意 alerts the
    supervisor."""
    e2e_config.write_text(e2e_config.read_text() + PEOPLE)
    support = imap_account.user
    imap_account.append(build(REQUESTER, support, "VPN 连不上", "提示错误 809"))
    run_once(e2e_config)
    number = today_prefix() + "001"
    tag = f"[{number}]"
    seen = len(smtp_server.wait_for(2))

    def say(sender: str, body: str) -> list[tuple[str, str, str]]:
        nonlocal seen
        imap_account.append(build(sender, support, f"Re: {tag} VPN 连不上", body))
        run_once(e2e_config)
        mails = smtp_server.wait_for(seen + 1, timeout=2)[seen:]
        seen += len(mails)
        return [(m.rcpt_tos[0], parse(m.data).subject, parse(m.data).text) for m in mails]

    [(to, _, text)] = say(ENGINEER, "Status: resolved\n\n已重置 VPN 证书，请再试一次。")
    assert to == "wang.fang@example.cn" and "请确认" in text and "3 天内未回复" in text

    # "Still not working" reopens to the same handler, who is told.
    [(to, subject, text)] = say(REQUESTER, "还是不行，提示 809")
    assert to == "wang.wei@example.com" and subject.startswith(f"{tag} 工单已重新打开")
    assert "提示 809" in text
    assert show(e2e_config, number)["status"] == "in_progress"

    say(ENGINEER, "Status: resolved\n\n防火墙规则已修正。")
    [(to, subject, text)] = say(REQUESTER, "确认，谢谢！")
    assert to == "wang.fang@example.cn" and subject.startswith(f"{tag} 工单已关闭，请评价")
    assert "4 - 非常满意" in text and "1 - 不满意" in text
    ticket = show(e2e_config, number)
    assert ticket["status"] == "closed" and ticket["closed_at"] is not None
    survey_html = smtp_server.messages[-1].data
    assert b"mailto:" in survey_html

    assert say(REQUESTER, "4 工程师很专业") == []
    ticket = show(e2e_config, number)
    assert (ticket["rating"], ticket["rating_comment"]) == (4, "工程师很专业")

    # A later rating replaces the earlier; "dissatisfied" tells the group's supervisor.
    [(to, subject, text)] = say(REQUESTER, "不满意，第一次处理太慢了")
    assert to == "li.na@example.com" and subject.startswith(f"{tag} 需求方不满意")
    assert "第一次处理太慢了" in text
    assert show(e2e_config, number)["rating"] == 1

    # Long after closing, a reply starts a new ticket that points to the old one.
    sql(
        e2e_config,
        "UPDATE ticket SET closed_at = '2020-01-01 00:00:00' WHERE number = ?",
        (number,),
    )
    say(REQUESTER, "VPN 又连不上了")
    listed = tickets(e2e_config)
    assert len(listed) == 2
    newer = show(e2e_config, str(listed[1]["number"]))
    created = next(e for e in newer["events"] if e["kind"] == "created")  # type: ignore[union-attr]
    assert f"see {number}" in created["data"]["reason"]


def test_silence_closes_a_resolved_ticket(
    e2e_config: Path, imap_account: ImapAccount, smtp_server: SmtpServer
) -> None:
    """A resolved ticket nobody answers closes after confirm_days (moved clock), with the survey."""
    e2e_config.write_text(e2e_config.read_text() + PEOPLE)
    support = imap_account.user
    imap_account.append(build(REQUESTER, support, "打印机卡纸", "三楼"))
    run_once(e2e_config)
    number = today_prefix() + "001"
    imap_account.append(
        build(
            "周杰 <zhou.jie@example.com>",
            support,
            f"Re: [{number}]",
            "Status: resolved\n\n已清理进纸器。",
        )
    )
    run_once(e2e_config)
    assert "closed" not in run_once(e2e_config, now="2026-12-03T10:00:00+08:00")
    assert show(e2e_config, number)["status"] == "resolved"
    assert f"{number} closed" in run_once(e2e_config, now="2026-12-05T10:00:00+08:00")
    ticket = show(e2e_config, number)
    assert ticket["status"] == "closed"
    closed = next(e for e in ticket["events"] if e["kind"] == "closed")  # type: ignore[union-attr]
    assert closed["data"]["reason"] == "no answer 3 days after resolution"
    # The survey is queued for the moment of closing (four days after resolution).
    last_out = [m for m in ticket["messages"] if m["direction"] == "out"][-1]  # type: ignore[union-attr]
    assert last_out["subject"].startswith(f"[{number}] 工单已关闭")
