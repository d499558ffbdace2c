"""Hostile mail, second round: what anyone who can mail the support address tried, through Dovecot
or `mailflow ingest` (CRLF and bare LF) and the real SMTP server.

Each test proves one point: one mail never silences the outbox; no header we write can be split
by a sender's value; staff HTML mail shows a requester's markup as text; only our own border's
Authentication-Results give authority, aligned by organisational domain; internationalised
senders and 8-bit Message-IDs make tickets; attachment names cannot grow a second parameter.
"""

from __future__ import annotations

import email.parser
import email.policy
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import ImapAccount, run_mailflow
from tests.helpers import DESK, PEOPLE, show, sql, tickets, today_prefix
from tests.hostile import (
    EVIL,
    WAYS,
    b64_word,
    check_sent,
    deliver,
    html_part,
    markup_in,
    raw_mail,
)
from tests.servers import SmtpServer

AUTHSERV = '[security]\nauthserv_id = "mx.example.test"\n'
BORDER = "mx.example.test"


def _events(config: Path, number: str) -> list[dict[str, object]]:
    return show(config, number)["events"]  # type: ignore[return-value]


def _outbox(config: Path) -> list[tuple[str, str, str]]:
    rows = sql(config, "SELECT status, recipients, last_error FROM outbox ORDER BY id")
    return [(str(a), str(b), str(c)) for a, b, c in rows]


@pytest.mark.parametrize("way", WAYS)
def test_a_reply_to_that_decodes_to_a_line_break_is_refused_and_mail_flows(
    way: str, e2e_config: Path, imap_account: ImapAccount, smtp_server: SmtpServer
) -> None:
    """Point 1: the Reply-To is refused at intake, the acknowledgement goes to From, and the
    next requester is answered too."""
    injected = b64_word(f"x\r\nBcc: victim@{EVIL}\r\nX-Evil: 1")
    hostile = raw_mail(
        [
            ("From", "张三 <zhang@example.cn>"),
            ("To", imap_account.user),
            ("Reply-To", f"<{injected}@example.cn>"),
            ("Subject", "打印机卡纸"),
        ],
        "三楼打印机卡纸。",
    )
    deliver(way, hostile, e2e_config, imap_account)
    deliver(
        way,
        raw_mail([("From", "li@example.cn"), ("To", imap_account.user), ("Subject", "VPN")], "断"),
        e2e_config,
        imap_account,
    )
    assert [t["requester"] for t in tickets(e2e_config)] == ["zhang@example.cn", "li@example.cn"]
    mails = smtp_server.wait_for(2)
    assert sorted(m.rcpt_tos[0] for m in mails) == ["li@example.cn", "zhang@example.cn"]
    for mail in mails:
        check_sent(mail)
    assert all(status == "sent" for status, _, _ in _outbox(e2e_config))


def test_a_row_that_can_never_be_sent_fails_once_and_the_rest_go(
    e2e_config: Path, imap_account: ImapAccount, smtp_server: SmtpServer
) -> None:
    """A row stored before addresses were checked (the mail of point 1, as an older mailflow
    queued it) and a recipient the server refuses for good each fail once, with the reason;
    the mails queued after them are delivered in the same pass, and later passes succeed."""
    smtp_server.rcpt_reply["gone@example.cn"] = "550 5.1.1 no such user"
    for sender in ("poisoned@example.cn", "gone@example.cn", "fine@example.cn"):
        imap_account.append(
            raw_mail([("From", sender), ("To", imap_account.user), ("Subject", "x")], "问题")
        )
    # Queue everything, send nothing, then poison the first row as an older version stored it.
    result = run_mailflow(e2e_config, "run", "--once")
    assert result.returncode == 0
    smtp_server.messages.clear()
    sql(
        e2e_config,
        "UPDATE outbox SET status='pending', attempts=0, recipients=?",
        (json.dumps(["zhang@example.cn\r\nBcc: victim@evil.test"]),),
    )
    sql(e2e_config, "UPDATE outbox SET recipients=? WHERE id=2", (json.dumps(["gone@example.cn"]),))
    sql(e2e_config, "UPDATE outbox SET recipients=? WHERE id=3", (json.dumps(["fine@example.cn"]),))
    result = run_mailflow(e2e_config, "run", "--once")
    assert result.returncode == 0, result.stderr
    assert [m.rcpt_tos for m in smtp_server.wait_for(1)] == [["fine@example.cn"]]
    [poisoned, gone, fine] = _outbox(e2e_config)
    assert poisoned[0] == "failed" and "U+000D" in poisoned[2]
    assert gone[0] == "failed" and "550" in gone[2]
    assert fine[0] == "sent"
    again = run_mailflow(e2e_config, "run", "--once")
    assert again.returncode == 0 and len(smtp_server.messages) == 1
    number = today_prefix() + "001"
    assert [e["kind"] for e in _events(e2e_config, number)].count("mail_failed") == 1


@pytest.mark.parametrize("way", WAYS)
def test_no_sender_value_can_add_a_header_or_a_recipient(
    way: str, e2e_config: Path, imap_account: ImapAccount, smtp_server: SmtpServer
) -> None:
    """Point 2: CR/LF hidden in the From name, the From address and a service desk's
    `Requester:` line never reach our headers or the SMTP envelope."""
    e2e_config.write_text(e2e_config.read_text() + PEOPLE + DESK)
    support = imap_account.user
    name = "=?utf-8?q?Li=0D=0ABcc=3A_victim=40evil.test?="
    mails = [
        raw_mail([("From", f"{name} <li@example.cn>"), ("To", support), ("Subject", "a")], "1"),
        raw_mail(
            [
                ("From", f"<{b64_word('x' + chr(13) + chr(10) + 'Bcc: v@' + EVIL)}@example.cn>"),
                ("Sender", "wu@example.cn"),
                ("To", support),
                ("Subject", "b"),
            ],
            "2",
        ),
        raw_mail(
            [("From", "前台小刘 <desk.liu@example.com>"), ("To", support), ("Subject", "电话报修")],
            "需求方：=?utf-8?q?Zhang=0D=0ABcc=3A_victim=40evil.test?= <zhang@example.cn>\n"
            "部门：财务部\n\n打印机坏了",
        ),
        raw_mail(
            [("From", "前台小刘 <desk.liu@example.com>"), ("To", support), ("Subject", "电话报修")],
            f"需求方：<{b64_word('z' + chr(10) + 'Bcc: v@' + EVIL)}@example.cn>\n\n显示器坏了",
        ),
        # A raw colon inside the word: Python versions read this line differently (3.11.2
        # finds no address, 3.11.7 finds zhang's); either way nobody else is written to.
        raw_mail(
            [("From", "前台小刘 <desk.liu@example.com>"), ("To", support), ("Subject", "电话报修")],
            f"需求方：=?utf-8?q?Zhang=0D=0ABcc:_victim@{EVIL}?= <zhang@example.cn>\n\n键盘坏了",
        ),
    ]
    for raw in mails:
        deliver(way, raw, e2e_config, imap_account)
    listed = tickets(e2e_config)
    assert [t["requester"] for t in listed[:4]] == [
        "li@example.cn",
        "wu@example.cn",
        "zhang@example.cn",
        "desk.liu@example.com",
    ]
    assert listed[4]["requester"] in ("zhang@example.cn", "desk.liu@example.com")
    sent = smtp_server.wait_for(len(listed) * 2)
    assert sent
    for mail in sent:
        check_sent(mail)
    first = next(m for m in sent if m.rcpt_tos == ["li@example.cn"])
    to = email.parser.BytesParser(policy=email.policy.default).parsebytes(first.data)["To"]
    assert to.addresses[0].display_name == f"Li Bcc: victim@{EVIL}"


@pytest.mark.parametrize("way", WAYS)
def test_staff_html_mail_shows_requester_markup_as_text(
    way: str, e2e_config: Path, imap_account: ImapAccount, smtp_server: SmtpServer
) -> None:
    """Point 3: a requester's name, text and department and an engineer's bad command value
    reach the assignment, supervisor-alert and command-error mails escaped."""
    e2e_config.write_text(e2e_config.read_text() + PEOPLE + DESK)
    support = imap_account.user
    deliver(
        way,
        raw_mail(
            [
                ("From", "前台小刘 <desk.liu@example.com>"),
                ("To", support),
                ("Subject", "[紧急] ERP"),
            ],
            '需求方："<b onmouseover=alert(1)>Zhang</b>" <zhang@example.cn>\n'
            "部门：<form action=https://evil.test><input name=p></form>\n\n"
            "ERP 全部瘫痪 <script>alert(2)</script> <x-evil onclick=1>",
        ),
        e2e_config,
        imap_account,
    )
    number = today_prefix() + "001"
    deliver(
        way,
        raw_mail(
            [
                ("From", "周杰 <zhou.jie@example.com>"),
                ("To", support),
                ("Subject", f"Re: [{number}]"),
            ],
            "Status: <img src=x onerror=alert(3)>\n\n好的",
        ),
        e2e_config,
        imap_account,
    )
    sent = smtp_server.wait_for(4)
    staff = [m for m in sent if m.rcpt_tos[0].endswith("@example.com")]
    assert len(staff) >= 3  # assignment, supervisor alert, command error
    for mail in sent:
        check_sent(mail)
        html = html_part(mail.data)
        assert html and not markup_in(html), markup_in(html)
    assignment = html_part(staff[0].data)
    assert "&lt;b onmouseover=alert(1)&gt;Zhang&lt;/b&gt;" in assignment
    assert "&lt;script&gt;alert(2)&lt;/script&gt;" in assignment
    assert "&lt;form action=https://evil.test&gt;" in assignment


@pytest.mark.parametrize("way", WAYS)
def test_only_our_borders_aligned_verdict_gives_authority(
    way: str, e2e_config: Path, imap_account: ImapAccount, smtp_server: SmtpServer
) -> None:
    """Point 4: a pass written below our border's fail, a pass for a public suffix, a quoted
    mailfrom that reads like a pass, and headers hidden in the body of an LF mail are all
    refused; our border's aligned pass on top is believed."""
    e2e_config.write_text(e2e_config.read_text() + PEOPLE + AUTHSERV)
    support = imap_account.user
    deliver(
        way,
        raw_mail([("From", "w@example.cn"), ("To", support), ("Subject", "VPN 断开")], "经常断"),
        e2e_config,
        imap_account,
    )
    number = today_prefix() + "001"
    engineer = [("From", "王伟 <wang.wei@example.com>"), ("To", support)]
    fail = f"{BORDER}; dkim=fail header.d=example.com; spf=fail smtp.mailfrom=example.com"
    received = "from mail.evil.test by mx.example.test; Tue, 1 Dec 2026 10:00:00 +0800"
    forged = [
        [
            ("Authentication-Results", fail),
            ("Received", received),
            ("Authentication-Results", f"{BORDER}; dkim=pass header.d=example.com"),
        ],
        [("Authentication-Results", f"{BORDER}; dkim=pass header.d=com")],
        [
            (
                "Authentication-Results",
                f'{BORDER}; spf=pass smtp.mailfrom="x;dkim=pass header.d=example.com"@{EVIL}',
            )
        ],
    ]
    for index, extra in enumerate(forged):
        raw = raw_mail(
            [*extra, *engineer, ("Subject", f"Re: [{number}] {index}")], "Status: resolved\n\n好"
        )
        deliver(way, raw, e2e_config, imap_account)
    # Bare LF headers with a body that holds a "header" and a CRLF CRLF further down.
    lf_trick = (
        f"From: 王伟 <wang.wei@example.com>\nTo: {support}\nSubject: Re: [{number}] lf\n"
        "Message-ID: <lf-trick@example.com>\n\nStatus: resolved\n\n"
        f"Authentication-Results: {BORDER}; dkim=pass header.d=example.com\r\n\r\nend\n"
    ).encode()
    if way == "ingest-lf":
        result = run_mailflow(e2e_config, "ingest", stdin=lf_trick)
        assert result.returncode == 0, result.stderr
    else:
        deliver(way, lf_trick, e2e_config, imap_account)
    events = _events(e2e_config, number)
    assert [e["kind"] for e in events].count("commands_not_trusted") == 4
    assert show(e2e_config, number)["status"] == "assigned"
    genuine = raw_mail(
        [
            ("Authentication-Results", f"{BORDER}; dkim=pass header.d=mail.example.com"),
            ("Received", received),
            *engineer,
            ("Subject", f"Re: [{number}]"),
        ],
        "Status: resolved\n\n已解决",
    )
    deliver(way, genuine, e2e_config, imap_account)
    assert show(e2e_config, number)["status"] == "resolved"


@pytest.mark.parametrize("way", WAYS)
def test_a_forged_service_desk_mail_registers_nobody_else(
    way: str, e2e_config: Path, imap_account: ImapAccount, smtp_server: SmtpServer
) -> None:
    """Point 4, service desk: without our border's pass the `Requester:` line is not obeyed;
    the ticket is the desk address's own, the event says why, the named address gets nothing."""
    e2e_config.write_text(e2e_config.read_text() + PEOPLE + DESK + AUTHSERV)
    support = imap_account.user
    desk = [("From", "前台小刘 <desk.liu@example.com>"), ("To", support), ("Subject", "电话报修")]
    body = f"需求方：victim@{EVIL}\n电话：13812345678\n\n请处理"
    deliver(way, raw_mail(desk, body), e2e_config, imap_account)
    genuine = raw_mail(
        [("Authentication-Results", f"{BORDER}; spf=pass smtp.mailfrom=example.com"), *desk],
        "需求方：张三 <zhang.san@example.cn>\n\n请处理",
    )
    deliver(way, genuine, e2e_config, imap_account)
    forged, real = tickets(e2e_config)
    assert forged["requester"] == "desk.liu@example.com"
    assert real["requester"] == "zhang.san@example.cn"
    kinds = [e["kind"] for e in _events(e2e_config, str(forged["number"]))]
    assert "intake_not_trusted" in kinds and "registered_for_caller" not in kinds
    for mail in smtp_server.wait_for(4):
        check_sent(mail)
    assert not any(EVIL in r for m in smtp_server.messages for r in m.rcpt_tos)


@pytest.fixture
def smtp_utf8() -> Iterator[SmtpServer]:
    server = SmtpServer(username="mailer", password="smtp-pass", smtputf8=True)
    server.start()
    yield server
    server.stop()


def _eai_mails(support: str) -> list[bytes]:
    return [
        raw_mail(
            [
                ("From", "张三 <张三@例子.测试>".encode()),
                ("To", support),
                ("Subject", "报销系统打不开"),
                ("Message-ID", "<邮件-1@例子.测试>".encode()),
            ],
            "报销系统打不开",
        ),
        raw_mail(
            [
                ("From", "li@例子.测试".encode()),
                ("To", support),
                ("Subject", "Re: 打印机"),
                ("Message-ID", "<8bit-\xe9@client.example>".encode("latin-1")),
                ("In-Reply-To", "<前一封@client.example>".encode()),
                ("References", "<前一封@client.example> <ascii@client.example>".encode()),
            ],
            "打印机又坏了",
        ),
    ]


@pytest.mark.parametrize("way", WAYS)
def test_internationalised_senders_and_8bit_ids_get_tickets_and_answers(
    way: str, e2e_config: Path, imap_account: ImapAccount, smtp_utf8: SmtpServer
) -> None:
    """Point 5, with SMTPUTF8 offered: both mails make tickets; the EAI requester is answered
    over SMTPUTF8, the IDN one at its A-label address without it; 8-bit ids stay out of our
    headers."""
    e2e_config.write_text(
        e2e_config.read_text().replace(
            f"port = {_smtp_port(e2e_config)}", f"port = {smtp_utf8.port}"
        )
    )
    for raw in _eai_mails(imap_account.user):
        deliver(way, raw, e2e_config, imap_account)
    assert [t["requester"] for t in tickets(e2e_config)] == ["张三@例子.测试", "li@例子.测试"]
    mails = smtp_utf8.wait_for(2)
    assert sorted(m.rcpt_tos[0] for m in mails) == ["li@xn--fsqu00a.xn--0zwm56d", "张三@例子.测试"]
    for mail in mails:
        check_sent(mail)
    ascii_ack = next(m for m in mails if m.rcpt_tos[0].startswith("li@"))
    assert ascii_ack.data.isascii()
    parsed = email.parser.BytesParser(policy=email.policy.default).parsebytes(ascii_ack.data)
    assert parsed["References"] == "<ascii@client.example>"
    assert json.loads(run_mailflow(e2e_config, "quarantine", "list", "--json").stdout) == []


@pytest.mark.parametrize("way", WAYS)
def test_without_smtputf8_the_ticket_is_made_and_the_event_says_why(
    way: str, e2e_config: Path, imap_account: ImapAccount, smtp_server: SmtpServer
) -> None:
    """Point 5, without SMTPUTF8: the ticket exists, its acknowledgement failed once with the
    reason in a `mail_failed` event, and the IDN requester is still answered."""
    for raw in _eai_mails(imap_account.user):
        deliver(way, raw, e2e_config, imap_account)
    first, second = tickets(e2e_config)
    [failed] = [e for e in _events(e2e_config, str(first["number"])) if e["kind"] == "mail_failed"]
    assert "SMTPUTF8" in json.dumps(failed["data"], ensure_ascii=False)
    assert [m.rcpt_tos for m in smtp_server.wait_for(1)] == [["li@xn--fsqu00a.xn--0zwm56d"]]
    assert second["requester"] == "li@例子.测试"


def _smtp_port(config: Path) -> int:
    text = config.read_text()
    section = text[text.index("[smtp]") :]
    return int(section.split("port = ", 1)[1].split()[0])


@pytest.mark.parametrize("way", WAYS)
def test_an_attachment_name_cannot_grow_a_second_parameter(
    way: str, e2e_config: Path, imap_account: ImapAccount, smtp_server: SmtpServer
) -> None:
    """Point 6: the engineer's client reads the same file name as the ticket stores."""
    e2e_config.write_text(e2e_config.read_text() + PEOPLE)
    name = 'invoice.pdf"; filename="invoice.pdf.exe'
    encoded = "utf-8''invoice.pdf%22%3B%20filename%3D%22invoice.pdf.exe"
    raw = (
        f"From: 王芳 <w@example.cn>\r\nTo: {imap_account.user}\r\nSubject: 键盘坏了\r\n"
        "Message-ID: <attach-quote@example.cn>\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/mixed; boundary="b"\r\n\r\n'
        '--b\r\nContent-Type: text/plain; charset="utf-8"\r\n\r\n键盘坏了\r\n'
        f"--b\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; "
        f"filename*={encoded}\r\nContent-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQK\r\n--b--\r\n"
    ).encode()
    deliver(way, raw, e2e_config, imap_account)
    number = today_prefix() + "001"
    stored = show(e2e_config, number)["messages"][0]["attachments"][0]["filename"]  # type: ignore[index]
    assert stored == name
    sent = smtp_server.wait_for(2)
    assignment = next(m for m in sent if m.rcpt_tos == ["zhou.jie@example.com"])
    check_sent(assignment)
    message = email.parser.BytesParser(policy=email.policy.default).parsebytes(assignment.data)
    [part] = list(message.iter_attachments())  # type: ignore[attr-defined]
    assert part.get_filename() == stored
    assert part.get_param("name", header="content-type") == stored
