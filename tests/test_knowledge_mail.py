"""The knowledge base by mail, end to end through Dovecot and the SMTP server: known-issue
steps offered in the acknowledgement and answered by the requester, an article drafted from a
solved ticket and published by the supervisor's reply, and the ticket's archive."""

from __future__ import annotations

import json
import mailbox
from pathlib import Path

from mailflow.mail.parsing import parse
from tests.conftest import ImapAccount, run_mailflow
from tests.helpers import PEOPLE, run_once, show, today_prefix
from tests.mails import build
from tests.servers import SmtpServer

ARTICLES = Path(__file__).resolve().parent.parent / "bench" / "kb" / "articles"
REQUESTER = "王芳 <wang.fang@example.cn>"
ENGINEER = "王伟 <wang.wei@example.com>"
SUPERVISOR = "李娜 <li.na@example.com>"
LATER = "2026-12-01T18:00:00+08:00"  # reports as of the evening of the tests' day


def kb(config: Path, *args: str) -> str:
    result = run_mailflow(config, "kb", *args)
    assert result.returncode == 0, result.stderr
    return result.stdout


class Outgoing:
    """The mails the SMTP server received since the last look."""

    def __init__(self, smtp: SmtpServer) -> None:
        self.smtp, self.seen = smtp, 0

    def new(self, at_least: int = 1) -> dict[str, list[bytes]]:
        mails = self.smtp.wait_for(self.seen + at_least, timeout=5)[self.seen :]
        self.seen += len(mails)
        found: dict[str, list[bytes]] = {}
        for mail in mails:
            for rcpt in mail.rcpt_tos:
                found.setdefault(rcpt, []).append(mail.data)
        return found


def test_known_issue_offered_and_solved_by_the_requester(
    e2e_config: Path, imap_account: ImapAccount, smtp_server: SmtpServer
) -> None:
    """Ack offers the article's steps → requester replies 已解决 → ticket resolved and closed
    with the survey → the article counts a help; "没解决" sends the ticket on to its handler."""
    e2e_config.write_text(e2e_config.read_text() + PEOPLE + "[kb]\noffer_to_requester = true\n")
    assert "added 34, updated 0, refused 0" in kb(e2e_config, "import", str(ARTICLES))
    out = Outgoing(smtp_server)
    support = imap_account.user
    imap_account.append(
        build(REQUESTER, support, "打印几卡纸", "三楼的打印机一直提示卡纸，纸拿出来了还是报卡纸")
    )
    run_once(e2e_config)
    number = today_prefix() + "001"
    mails = out.new(2)
    ack = parse(mails["wang.fang@example.cn"][0])
    assert "这看起来是一个已知问题：打印机卡纸" in ack.text
    assert "顺着进纸方向慢慢抽出卡住的纸" in ack.text and "已解决" in ack.text
    assert ack.html is not None and "顺着进纸方向" in ack.html
    assignment = parse(mails["zhou.jie@example.com"][0])
    assert "[KB-13] 打印机卡纸" in assignment.text
    events = {e["kind"]: e for e in show(e2e_config, number)["events"]}  # type: ignore[union-attr]
    assert events["kb_linked"]["data"]["articles"][0]["id"] == 13
    assert events["kb_offered"]["data"]["article"] == 13

    imap_account.append(build(REQUESTER, support, f"Re: [{number}] 打印几卡纸", "已解决，谢谢！"))
    run_once(e2e_config)
    ticket = show(e2e_config, number)
    assert ticket["status"] == "closed" and ticket["resolved_at"] is not None
    kinds = [e["kind"] for e in ticket["events"]]  # type: ignore[union-attr]
    assert kinds.index("kb_helped") < kinds.index("closed")
    survey = parse(out.new()["wang.fang@example.cn"][0])
    assert "满意" in survey.text
    article = json.loads(kb(e2e_config, "show", "13", "--json"))
    assert article["tickets"]["helped"] == [number]
    # The month's report counts the article among the frequent problems.
    report = run_mailflow(
        e2e_config, "report", "--period", "2026-12", "--format", "json", "--now", LATER
    )
    assert report.returncode == 0, report.stderr
    [known] = json.loads(report.stdout)["problems"]["articles"]
    assert (known["id"], known["count"], known["offered"], known["helped"]) == (13, 1, 1, 1)
    markdown = run_mailflow(e2e_config, "report", "--period", "2026-12", "--now", LATER).stdout
    assert "KB-13 打印机卡纸" in markdown

    # The steps did not help: recorded, and the handler hears of it as of any follow-up.
    imap_account.append(
        build(REQUESTER, support, "VPN 连不上", "在家办公，VPN 一直报错 809，连接超时")
    )
    run_once(e2e_config)
    second = today_prefix() + "002"
    first_mails = out.new(2)
    assert "VPN 连接失败" in parse(first_mails["wang.fang@example.cn"][0]).text
    imap_account.append(build(REQUESTER, support, f"Re: [{second}] VPN", "没解决，换了热点也不行"))
    run_once(e2e_config)
    ticket = show(e2e_config, second)
    assert ticket["status"] not in ("resolved", "closed")
    assert "kb_not_helped" in [e["kind"] for e in ticket["events"]]  # type: ignore[union-attr]
    followup = out.new()
    assert list(followup) == ["wang.wei@example.com"]
    assert "换了热点也不行" in parse(followup["wang.wei@example.com"][0]).text
    assert json.loads(kb(e2e_config, "show", "9", "--json"))["tickets"]["not_helped"] == [second]

    # Every ticket closed since a day, archived at once under its category.
    out_dir = e2e_config.parent / "archive"
    result = run_mailflow(
        e2e_config, "archive", "export", "--closed-since", "2026-12-01", "--out", str(out_dir)
    )
    assert result.returncode == 0, result.stderr
    assert "archived 1 tickets" in result.stdout
    [summary] = out_dir.glob(f"*/{number}/summary.md")
    assert "KB-13 打印机卡纸 (helped)" in summary.read_text(encoding="utf-8")


def test_draft_from_a_solved_ticket_published_by_the_supervisor(
    e2e_config: Path, imap_account: ImapAccount, smtp_server: SmtpServer, tmp_path: Path
) -> None:
    """KB: in the resolving reply drafts an article (symptoms from the request, steps from the
    replies, the files); only the group's supervisor publishes it by mail; a requester's KB:
    line is no command; the closed ticket's archive is a readable mbox with its files."""
    e2e_config.write_text(e2e_config.read_text() + PEOPLE)
    out = Outgoing(smtp_server)
    support = imap_account.user
    screenshot = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
    imap_account.append(
        build(
            REQUESTER,
            support,
            "ERP 报错",
            "ERP 登录后点两下就跳回登录页，提示会话已过期。\n\n王芳\n--\n财务部 王芳\n电话 1234",
            attachments=(("报错截图.png", "image/png", screenshot),),
        )
    )
    run_once(e2e_config)
    number = today_prefix() + "001"
    out.new(2)
    tag = f"[{number}]"

    imap_account.append(
        build(REQUESTER, support, f"Re: {tag} ERP 报错", "KB: 我的文章\n\n还是不行")
    )
    run_once(e2e_config)
    assert "kb_drafted" not in str(show(e2e_config, number)["events"])
    out.new()  # the handler's follow-up notice

    imap_account.append(build(ENGINEER, support, f"Re: {tag} ERP 报错", "请清除浏览器缓存后重试。"))
    run_once(e2e_config)
    out.new()
    imap_account.append(
        build(
            ENGINEER,
            support,
            f"Re: {tag} ERP 报错",
            "Status: resolved\nKB: ERP 会话频繁过期\n\n"
            "已把 erp.example.com 加入受信任站点，问题解决。",
        )
    )
    run_once(e2e_config)
    mails = out.new(3)
    assert set(mails) == {"wang.fang@example.cn", "wang.wei@example.com", "li.na@example.com"}
    review = parse(mails["li.na@example.com"][0])
    assert "知识库草稿待发布" in review.subject and "Publish: yes" in review.text
    assert "会话已过期" in review.text and "财务部" not in review.text  # signature stripped
    assert "清除浏览器缓存" in review.text and "受信任站点" in review.text
    [draft] = json.loads(kb(e2e_config, "list", "--status", "draft", "--json"))
    article_id = draft["id"]
    shown = json.loads(kb(e2e_config, "show", str(article_id), "--json"))
    assert shown["title"] == "ERP 会话频繁过期" and shown["files"] == ["报错截图.png"]
    assert shown["tickets"]["source"] == [number]
    assert not json.loads(kb(e2e_config, "search", "ERP 会话过期", "--json"))  # drafts: no

    # The engineer cannot publish; the group's supervisor can, by replying to the draft.
    imap_account.append(build(ENGINEER, support, review.subject, "Publish: yes"))
    run_once(e2e_config)
    refusal = parse(out.new()["wang.wei@example.com"][0])
    assert "only the group's supervisor (li.na@example.com)" in refusal.text
    imap_account.append(build(SUPERVISOR, support, f"Re: {review.subject}", "发布：是"))
    run_once(e2e_config)
    found = json.loads(kb(e2e_config, "search", "ERP 登录 会话已过期 跳回登录页", "--json"))
    assert found[0]["id"] == article_id and found[0]["match"] is True
    events = [e["kind"] for e in show(e2e_config, number)["events"]]  # type: ignore[union-attr]
    assert "kb_published" in events

    # The archive: every mail of the ticket in an mbox, its files, a summary naming the article.
    result = run_mailflow(e2e_config, "archive", "export", number, "--out", str(tmp_path / "a"))
    assert result.returncode == 0, result.stderr
    folder = tmp_path / "a" / "业务系统" / number
    box = mailbox.mbox(str(folder / f"{number}.mbox"))
    subjects = [m["subject"] for m in box]
    assert len(subjects) == len(show(e2e_config, number)["messages"])  # type: ignore[arg-type]
    assert (folder / "attachments" / "报错截图.png").read_bytes() == screenshot
    summary = (folder / "summary.md").read_text(encoding="utf-8")
    assert f"KB-{article_id} ERP 会话频繁过期 (source)" in summary
    assert "受信任站点" in summary.split("## Solution")[1].split("##")[0]

    # The same from a shell: a second draft from the ticket, mailed for review, published.
    drafted = kb(e2e_config, "from-ticket", number, "--as", "wang.wei@example.com")
    second = int(drafted.split()[0].removeprefix("KB-"))
    assert second != article_id and "mailed for review" in drafted
    assert set(out.new(2)) == {"wang.wei@example.com", "li.na@example.com"}
    assert "published" in kb(e2e_config, "publish", str(second), "--as", "li.na@example.com")
    assert json.loads(kb(e2e_config, "show", str(second), "--json"))["status"] == "published"
