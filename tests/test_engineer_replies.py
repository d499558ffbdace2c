"""Engineers work tickets by replying: commands change the ticket, the rest reaches the
requester from the support address; bad commands change nothing and are explained."""

from __future__ import annotations

from pathlib import Path

from mailflow.mail.parsing import parse
from mailflow.process.command_lines import split_commands
from mailflow.process.states import can_move
from tests.conftest import ImapAccount
from tests.helpers import PEOPLE, run_once, show, today_prefix
from tests.mails import build
from tests.servers import SmtpServer

ENGINEER = "王伟 <wang.wei@example.com>"
REQUESTER = "wang.fang@example.cn"


def test_split_commands_with_chinese_aliases() -> None:
    """Command lines with Chinese keys and full-width colons are read; the rest is the reply
    text."""
    commands, rest = split_commands("状态：处理中\nPriority: high\n\n正在处理。")
    assert [(c.key, c.value) for c in commands] == [("status", "处理中"), ("priority", "high")]
    assert rest == "正在处理。"
    assert split_commands("您好：\n正在处理")[0] == []


def test_transition_table() -> None:
    """Only the state table's transitions are allowed, each refusal says why."""
    assert can_move("assigned", "in_progress") and can_move("resolved", "closed")
    assert not can_move("in_progress", "closed") and not can_move("closed", "resolved")


def test_engineer_works_the_ticket_by_mail(
    e2e_config: Path, imap_account: ImapAccount, smtp_server: SmtpServer
) -> None:
    """End to end: an engineer's reply runs its commands and relays the rest to the requester
    from the
    support address."""
    e2e_config.write_text(e2e_config.read_text() + PEOPLE)
    support = imap_account.user
    imap_account.append(build(f"王芳 <{REQUESTER}>", support, "OA 无法提交审批", "点击提交后报错"))
    run_once(e2e_config)
    number = today_prefix() + "001"
    sent = len(smtp_server.wait_for(2))  # acknowledgement + assignment
    tag = f"[{number}]"

    def engineer_says(body: str, sender: str = ENGINEER) -> None:
        imap_account.append(build(sender, support, f"Re: {tag} OA 无法提交审批", body))
        run_once(e2e_config)

    def new_mails() -> list[tuple[str, bytes]]:
        nonlocal sent
        mails = smtp_server.wait_for(sent + 1, timeout=2)[sent:]
        sent += len(mails)
        return [(m.rcpt_tos[0], m.data) for m in mails]

    # Commands and a public reply; quoted history stays out of what the requester gets.
    engineer_says(
        "Status: in-progress\n优先级：紧急\n\n已远程检查，审批服务的队列卡住了，正在重启。\n\n"
        "王伟\n\n发件人: IT 服务台\n发送时间: 2026年11月25日 9:20\n主题: 已受理\n\n您好"
    )
    [(to, data)] = new_mails()
    progress = parse(data)
    assert to == REQUESTER and progress.subject == f"{tag} 处理进展：OA 无法提交审批"
    assert progress.text.startswith(f"王芳，您好：\n\n您的工单 {number} 有新的处理进展：")
    assert "正在重启" in progress.text and "发送时间" not in progress.text
    assert "优先级" not in progress.text and b"wang.wei@example.com" not in data
    assert progress.sender is not None and progress.sender.email == support
    ticket = show(e2e_config, number)
    assert (ticket["status"], ticket["priority"]) == ("in_progress", "urgent")
    assert ticket["first_response_at"] is not None
    kinds = [e["kind"] for e in ticket["events"]]  # type: ignore[union-attr]
    assert {"status_changed", "priority_changed", "first_response", "public_reply"} <= set(kinds)

    # An invalid transition and an unknown command: nothing changes, the engineer is told.
    engineer_says("Status: closed\nStatsu: resolved\n\n关掉")
    [(to, data)] = new_mails()
    error = parse(data)
    assert to == "wang.wei@example.com" and error.subject.startswith(f"{tag} 指令未执行")
    assert "cannot become closed" in error.text and "unknown command 'Statsu'" in error.text
    assert show(e2e_config, number)["status"] == "in_progress"

    # An internal note reaches nobody.
    engineer_says("内部：是\n\n怀疑是上周的补丁导致的。")
    assert new_mails() == []
    assert show(e2e_config, number)["events"][-1]["kind"] == "internal_note"  # type: ignore[index]

    # The requester cannot command the ticket; the handler reads what they wrote.
    imap_account.append(build(f"王芳 <{REQUESTER}>", support, f"Re: {tag}", "Status: closed"))
    run_once(e2e_config)
    assert show(e2e_config, number)["status"] == "in_progress"
    [(to, data)] = new_mails()
    assert to == "wang.wei@example.com" and "需求方补充信息" in parse(data).subject
    assert "Status: closed" in parse(data).text

    # Escalation to another group reassigns and tells the new handler and the supervisor.
    engineer_says("Escalate: 硬件支持组 审批服务器硬盘告警，需要更换\n\n已转硬件组处理。")
    mails = dict(new_mails())
    assert set(mails) == {"zhou.jie@example.com", "li.na@example.com", REQUESTER}
    assert parse(mails["li.na@example.com"]).subject.startswith(f"{tag} 工单已升级")
    assert "需要更换" in parse(mails["li.na@example.com"]).text
    ticket = show(e2e_config, number)
    assert (ticket["group"], ticket["assignee"]) == ("硬件支持组", "zhou.jie@example.com")

    # Resolved by the new handler.
    engineer_says(
        "Status: resolved\n\n硬盘已更换，审批恢复正常。", sender="周杰 <zhou.jie@example.com>"
    )
    [(to, data)] = new_mails()
    assert to == REQUESTER and "硬盘已更换" in parse(data).text and "已解决" in parse(data).text
    ticket = show(e2e_config, number)
    assert ticket["status"] == "resolved" and ticket["resolved_at"] is not None
