"""The whole mail-to-ticket path against a real Dovecot and a real SMTP server."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
from pathlib import Path

import imapclient

from mailflow.mail.parsing import parse
from tests.conftest import ImapAccount, run_mailflow, write_config
from tests.helpers import run_once, show, tickets, today_prefix
from tests.mails import build, fixture
from tests.servers import SmtpServer


def test_mail_becomes_ticket_ack_then_followup(
    e2e_config: Path, imap_account: ImapAccount, smtp_server: SmtpServer
) -> None:
    """APPEND → run --once → ticket + acknowledgement → tagged reply → follow-up, no second ack."""
    imap_account.append(fixture("foxmail_gbk_labelled_gb2312.eml"))
    log = run_once(e2e_config)
    number = today_prefix() + "001"
    assert f"{number} created from liu.yang@example.cn" in log

    [ticket] = tickets(e2e_config)
    assert ticket["number"] == number
    assert ticket["status"] == "new"
    # Graded by the built-in rules: "无法登录" is a broken function, 用友 a business system.
    assert ticket["priority"] == "high"
    assert ticket["category"] == "业务系统"
    assert ticket["subject"] == "用友U8无法登录，朱镕"
    assert ticket["requester"] == "liu.yang@example.cn"
    assert str(ticket["created_at"]).endswith("+08:00")

    [ack] = smtp_server.wait_for(1)
    assert ack.rcpt_tos == ["liu.yang@example.cn"]
    msg = email.message_from_bytes(ack.data, policy=email.policy.default)
    assert f"[{number}]" in msg["Subject"]
    assert msg["Auto-Submitted"] == "auto-replied"
    assert msg["In-Reply-To"] == "<2026112509152812345678@example.cn>"
    assert "<2026112509152812345678@example.cn>" in msg["References"]
    assert msg["Message-ID"].startswith(f"<{number}.")
    assert msg.get_content_type() == "multipart/alternative"
    text = msg.get_body(("plain",)).get_content()
    html = msg.get_body(("html",)).get_content()
    for expected in (number, "提交时间", "问题级别：高", "预计响应：30 分钟内", f"[{number}]"):
        assert expected in text
    assert number in html and "<table" in html

    # Handled mail is flagged \Seen on the server.
    [(_, data)] = imap_account.messages().items()
    assert imapclient.SEEN in data[b"FLAGS"]

    # The requester replies keeping the tag: a follow-up, and no second acknowledgement.
    reply = build(
        "刘洋 <liu.yang@example.cn>",
        imap_account.user,
        f"回复：[{number}] 已受理：用友U8无法登录",
        "补充：错误代码 0x80070005。\n\n刘洋",
        in_reply_to=msg["Message-ID"],
        references=(msg["Message-ID"],),
        attachments=(("错误截图.png", "image/png", b"\x89PNG\r\n\x1a\nfake"),),
    )
    imap_account.append(reply)
    log = run_once(e2e_config)
    assert f"{number} follow-up from liu.yang@example.cn" in log
    assert len(tickets(e2e_config)) == 1
    detail = show(e2e_config, number)
    messages = detail["messages"]
    assert isinstance(messages, list)
    assert [m["direction"] for m in messages] == ["in", "out", "in"]
    assert "0x80070005" in messages[2]["text"]
    [attachment] = messages[2]["attachments"]
    assert attachment["filename"] == "错误截图.png"
    assert attachment["content_type"] == "image/png"
    assert attachment["size"] == len(b"\x89PNG\r\n\x1a\nfake")
    assert len(attachment["sha256"]) == 64
    assert len(smtp_server.wait_for(2, timeout=1)) == 1

    # The same message delivered again: nothing new.
    imap_account.append(reply)
    run_once(e2e_config)
    assert len(show(e2e_config, number)["messages"]) == 3  # type: ignore[arg-type]
    assert len(smtp_server.messages) == 1


def test_every_client_fixture_parses_into_a_ticket(
    e2e_config: Path, imap_account: ImapAccount, smtp_server: SmtpServer
) -> None:
    """Foxmail, Outlook (HTML only), QQ Mail and Thunderbird mails each make one clean ticket."""
    names = [
        "foxmail_gbk_labelled_gb2312.eml",
        "outlook_zh_html_only.eml",
        "qqmail_with_screenshot.eml",
        "thunderbird_en_with_log.eml",
    ]
    for name in names:
        imap_account.append(fixture(name))
    run_once(e2e_config)
    listed = tickets(e2e_config)
    assert [t["subject"] for t in listed] == [
        "用友U8无法登录，朱镕",
        "会议室投影仪无信号",
        "打印机一直提示卡纸",
        "VPN drops every 10 minutes",
    ]
    numbers = [t["number"] for t in listed]
    assert numbers == [today_prefix() + f"{i:03d}" for i in range(1, 5)]
    outlook = show(e2e_config, numbers[1])["messages"][0]  # type: ignore[index]
    assert "投影仪无法识别笔记本的HDMI信号" in outlook["text"] and "<p" not in outlook["text"]
    qq = show(e2e_config, numbers[2])["messages"][0]  # type: ignore[index]
    assert [a["filename"] for a in qq["attachments"]] == ["卡纸截图.png"]
    for message in smtp_server.wait_for(4):
        parsed = parse(message.data)
        assert "\ufffd" not in parsed.subject + parsed.text
    # An English mail gets an English acknowledgement; Chinese mails Chinese ones.
    subjects = sorted(parse(m.data).subject for m in smtp_server.messages)
    assert any(s.startswith(f"[{numbers[3]}] Received:") for s in subjects)
    assert any(s.startswith(f"[{numbers[0]}] 已受理") for s in subjects)


def test_processed_folder_moves_handled_mail(
    tmp_path: Path, e2e_config: Path, imap_account: ImapAccount, smtp_server: SmtpServer
) -> None:
    """With processed_folder set, handled mail leaves INBOX for that folder, flagged \\Seen."""
    text = e2e_config.read_text().replace(
        'first_run = "all"', 'first_run = "all"\nprocessed_folder = "Processed"'
    )
    e2e_config.write_text(text)
    imap_account.append(fixture("thunderbird_en_with_log.eml"))
    run_once(e2e_config)
    assert imap_account.messages("INBOX") == {}
    [(_, data)] = imap_account.messages("Processed").items()
    assert imapclient.SEEN in data[b"FLAGS"]
    assert len(tickets(e2e_config)) == 1


def test_first_run_takes_only_recent_unseen_mail(
    tmp_path: Path, e2e_config: Path, imap_account: ImapAccount, smtp_server: SmtpServer
) -> None:
    """An archive of old and already-read mail is not turned into tickets on the first run."""
    e2e_config.write_text(
        e2e_config.read_text().replace('first_run = "all"', 'first_run = "unseen"')
    )
    old = dt.datetime.now(dt.UTC) - dt.timedelta(days=400)
    for i in range(5):
        imap_account.append(
            build("old@example.com", imap_account.user, f"old {i}", "archive"), when=old
        )
    imap_account.append(
        build("read@example.com", imap_account.user, "already read", "x"), flags=(imapclient.SEEN,)
    )
    imap_account.append(build("new@example.com", imap_account.user, "recent unseen", "help"))
    log = run_once(e2e_config)
    assert "7 mails present, taking 1" in log
    assert [t["subject"] for t in tickets(e2e_config)] == ["recent unseen"]
    # Later mail is taken even when something (a person in a mail client) already read it.
    imap_account.append(
        build("later@example.com", imap_account.user, "arrived later", "x"),
        flags=(imapclient.SEEN,),
    )
    run_once(e2e_config)
    assert [t["subject"] for t in tickets(e2e_config)] == ["recent unseen", "arrived later"]
    assert len(smtp_server.wait_for(2)) == 2


def test_tls_ssl_and_starttls_verify_against_configured_ca(
    tmp_path: Path, e2e_config: Path, imap_account: ImapAccount, smtp_server: SmtpServer
) -> None:
    """IMAPS and STARTTLS work with the server's CA configured; without it they are refused."""
    server = imap_account.server
    base = e2e_config.read_text()
    for security, port in (("ssl", server.ssl_port), ("starttls", server.port)):
        text = base.replace(
            f'port = {server.port}\n        security = "none"',
            f'port = {port}\nsecurity = "{security}"',
        )
        text = text.replace(
            f'port = {server.port}\nsecurity = "none"', f'port = {port}\nsecurity = "{security}"'
        )
        assert f'security = "{security}"' in text
        unverified = write_config(tmp_path, text)
        result = run_mailflow(unverified, "check")
        assert result.returncode == 1
        assert "mailbox: FAILED" in result.stdout and "certificate verify failed" in result.stdout
        verified = write_config(
            tmp_path,
            text.replace('first_run = "all"', f'first_run = "all"\nca_file = "{server.ca_file}"'),
        )
        result = run_mailflow(verified, "check")
        assert result.returncode == 0, result.stdout + result.stderr
        assert f"({security}) login as {imap_account.user} ok" in result.stdout


def test_bad_imap_password_is_reported_as_login_failure(
    e2e_config: Path, imap_account: ImapAccount
) -> None:
    """A refused login says so (not "network error") and names the account."""
    from tests.conftest import mailflow_env

    result = run_mailflow(e2e_config, "check", env=mailflow_env(TEST_IMAP_PASSWORD="wrong"))
    assert result.returncode == 1
    assert f"mailbox: FAILED: IMAP 127.0.0.1:{imap_account.server.port}: login as " in result.stdout
    assert "refused" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr


def test_starttls_refused_by_server_is_an_error_not_plaintext(tmp_path: Path) -> None:
    """Against a server without TLS, security = "starttls" fails; it never logs in in the clear."""
    from tests.servers import Dovecot

    plain = Dovecot.create({"a@example.test": "pw"}, tls=False)
    try:
        config = write_config(
            tmp_path,
            f"""
            [mailbox]
            kind = "imap"
            host = "127.0.0.1"
            port = {plain.port}
            security = "starttls"
            username = "a@example.test"
            password = "pw"
        """,
        )
        result = run_mailflow(config, "run", "--once", cwd=tmp_path)
        assert result.returncode == 1
        assert "STARTTLS failed" in result.stderr
        assert "refusing to continue in plaintext" in result.stderr
        assert "Traceback" not in result.stderr
        log = plain.log_path.read_text()
        assert "Login: user=<a@example.test>" not in log
    finally:
        plain.close()


def test_reply_without_tag_threads_by_references_and_strangers_do_not(
    e2e_config: Path, imap_account: ImapAccount, smtp_server: SmtpServer
) -> None:
    """A client that mangles the subject still threads by In-Reply-To; a stranger's mail with a
    real ticket's tag becomes a ticket of its own."""
    imap_account.append(build("Ann <ann@example.com>", imap_account.user, "Wi-Fi drops", "x"))
    run_once(e2e_config)
    number = today_prefix() + "001"
    ack = email.message_from_bytes(smtp_server.wait_for(1)[0].data, policy=email.policy.default)
    imap_account.append(
        build(
            "ann@example.com",
            imap_account.user,
            "AW: Wi-Fi",
            "still drops",
            in_reply_to=ack["Message-ID"],
        )
    )
    imap_account.append(
        build(
            "mallory@evil.example",
            imap_account.user,
            f"Re: [{number}] Wi-Fi drops",
            "Status: closed",
        )
    )
    log = run_once(e2e_config)
    assert f"{number} follow-up from ann@example.com" in log
    listed = tickets(e2e_config)
    assert [t["requester"] for t in listed] == ["ann@example.com", "mallory@evil.example"]
    second = show(e2e_config, str(listed[1]["number"]))
    created = next(e for e in second["events"] if e["kind"] == "created")  # type: ignore[union-attr]
    assert "is not a participant" in created["data"]["reason"]


def test_a_kept_connection_sees_mail_appended_since_the_last_pass(
    e2e_config: Path, imap_account: ImapAccount
) -> None:
    """The daemon keeps its IMAP connection between passes. Dovecot answers SEARCH from the
    session's last synced view of the folder, so a mail appended after one pass must still be
    in the next pass's plan (a NOOP syncs the view first), not one pass later."""
    from mailflow import config as config_mod
    from mailflow.daemon import build_mailbox, open_services
    from tests.conftest import mailflow_env

    config = config_mod.load(e2e_config)
    open_services(config)
    mailbox = build_mailbox(config, mailflow_env())
    now = dt.datetime(2026, 12, 1, 2, 0, tzinfo=dt.UTC)
    try:
        assert mailbox.plan(now) == []  # the first pass: an empty folder, the cursor set
        for n in range(3):
            imap_account.append(build(f"user{n}@example.cn", imap_account.user, f"问题 {n}", "x"))
            planned = [ref for batch in mailbox.plan(now) for ref, _ in batch]
            assert len(planned) == n + 1, planned  # nothing acknowledged: all still waiting
    finally:
        mailbox.close()
