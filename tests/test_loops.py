"""No loops: automatic mail is recognised, never answered, and recorded where it belongs."""

from __future__ import annotations

import email
import email.policy
import json
from pathlib import Path

import pytest

from mailflow.config import from_dict
from mailflow.errors import ConfigError
from mailflow.mail.loops import classify
from mailflow.mail.parsing import parse
from tests.conftest import ImapAccount, run_mailflow
from tests.helpers import run_once, show, tickets, today_prefix
from tests.mails import build
from tests.servers import SmtpServer

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus" / "zammad-mail"
SUPPORT = "support@example.com"


@pytest.mark.parametrize(
    ("headers", "sender", "kind"),
    [
        ((("Auto-Submitted", "auto-replied"),), "a@example.com", "auto_reply"),
        ((("Auto-Submitted", "auto-generated"),), "alerts@example.com", "auto_generated"),
        ((("Auto-Submitted", "no"),), "a@example.com", ""),
        ((("X-Autoreply", "yes"),), "a@example.com", "auto_reply"),
        ((("X-Autorespond", "x"),), "a@example.com", "auto_reply"),
        ((("Precedence", "bulk"),), "a@example.com", "bulk"),
        ((("Precedence", "junk"),), "a@example.com", "bulk"),
        ((("Precedence", "list"),), "a@example.com", "list"),
        ((("List-Id", "<it.lists.example.com>"),), "a@example.com", "list"),
        ((("List-Unsubscribe", "<mailto:u@example.com>"),), "a@example.com", "list"),
        ((), "no-reply@example.com", "system"),
        ((), "noreply@github.example", "system"),
        ((), "MAILER-DAEMON@example.com", "system"),
        ((("X-Mailflow-Loop", SUPPORT),), "a@example.com", "own"),
        ((), SUPPORT, "own"),
        ((), "wang.fang@example.cn", ""),
    ],
)
def test_classify(headers: tuple[tuple[str, str], ...], sender: str, kind: str) -> None:
    """Which mails may never be answered: auto-replies, bounces, lists, machine senders, our own
    mail."""
    mail = parse(build(sender, SUPPORT, "subject", "body", headers=headers))
    assert classify(mail, {SUPPORT}).kind == kind


def test_corpus_bounces_are_recognised() -> None:
    """The corpus's real bounces are classified as bounces and their failed recipients found."""
    if not CORPUS.is_dir():
        pytest.fail(f"the shared mail corpus is missing: expected it at {CORPUS}", pytrace=False)
    for name, failed in [
        ("mail033-undelivered-mail-returned-to-sender", "not_existing@znuny.com"),
        ("mail055", "ticket-bounce-trigger2@example.com"),
        ("mail092", "receiver@example.org"),
    ]:
        mail = parse((CORPUS / f"{name}.box").read_bytes())
        assert classify(mail, {SUPPORT}).kind == "bounce", name
        assert failed in mail.bounced, name


def test_config_that_would_read_our_own_mail_is_refused(tmp_path: Path) -> None:
    """A config under which mailflow would read its own sent mail is refused at start."""
    with pytest.raises(ConfigError, match=r"smtp\.path: is the incoming Maildir"):
        from_dict({"mailbox": {"path": "box"}, "smtp": {"path": "box"}}, tmp_path)
    with pytest.raises(ConfigError, match=r"mailbox\.folder: 'Sent Items' looks like a sent"):
        from_dict(
            {"mailbox": {"kind": "imap", "host": "h", "username": "u", "folder": "Sent Items"}},
            tmp_path,
        )


def _ack_of(smtp: SmtpServer, index: int = 0) -> email.message.EmailMessage:
    return email.message_from_bytes(
        smtp.wait_for(index + 1)[index].data, policy=email.policy.default
    )  # type: ignore[return-value]


def test_automatic_mail_gets_no_answer_and_own_mail_is_not_a_ticket(
    e2e_config: Path, imap_account: ImapAccount, smtp_server: SmtpServer
) -> None:
    """End to end: automatic mail gets no acknowledgement and our own mail never becomes a
    ticket."""
    imap_account.append(
        build(
            "Dev list <dev@lists.example.com>",
            imap_account.user,
            "[dev] weekly digest",
            "digest",
            headers=(("List-Id", "<dev>"),),
        )
    )
    imap_account.append(
        build(
            "Zabbix <zabbix@example.com>",
            imap_account.user,
            "PROBLEM: disk full on db01",
            "disk 98%",
            headers=(("Auto-Submitted", "auto-generated"),),
        )
    )
    run_once(e2e_config)
    listed = tickets(e2e_config)
    assert [t["subject"] for t in listed] == ["[dev] weekly digest", "PROBLEM: disk full on db01"]
    events = [e["kind"] for e in show(e2e_config, listed[1]["number"])["events"]]
    assert "acknowledgement_suppressed" in events
    assert smtp_server.wait_for(1, timeout=0.5) == []

    # Our own acknowledgement coming back (support in Bcc, a forwarding rule) is no request.
    imap_account.append(build("Alice <alice@example.com>", imap_account.user, "VPN down", "help"))
    run_once(e2e_config)
    ack = _ack_of(smtp_server)
    imap_account.append(ack.as_bytes())
    result = run_mailflow(e2e_config, "run", "--once")
    assert "own" in result.stderr and "X-Mailflow-Loop" in result.stderr
    assert len(tickets(e2e_config)) == 3
    assert len(smtp_server.messages) == 1


def test_out_of_office_and_bounce_are_recorded_on_their_ticket(
    e2e_config: Path, imap_account: ImapAccount, smtp_server: SmtpServer
) -> None:
    """An out-of-office reply and a bounce are events on the ticket they answer, never tickets."""
    imap_account.append(build("Bob <bob@example.com>", imap_account.user, "Printer jam", "x"))
    run_once(e2e_config)
    number = today_prefix() + "001"
    ack = _ack_of(smtp_server)
    # An out-of-office reply that dropped our subject: threaded by In-Reply-To, kept as an event.
    imap_account.append(
        build(
            "Bob <bob@example.com>",
            imap_account.user,
            "Out of office: away until Monday",
            "I am away until Monday.",
            in_reply_to=ack["Message-ID"],
            headers=(("Auto-Submitted", "auto-replied"),),
        )
    )
    # A bounce of the acknowledgement, carrying its headers.
    dsn = (
        f"From: Mail Delivery System <MAILER-DAEMON@mx.example.com>\r\n"
        f"To: {imap_account.user}\r\nSubject: Undelivered Mail Returned to Sender\r\n"
        "Auto-Submitted: auto-replied\r\nMessage-ID: <dsn1@mx.example.com>\r\n"
        "MIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=delivery-status;"
        ' boundary="B"\r\n\r\n--B\r\nContent-Type: text/plain\r\n\r\nDelivery failed.\r\n'
        "--B\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example.com"
        "\r\n\r\nFinal-Recipient: rfc822; bob@example.com\r\nAction: failed\r\nStatus: 5.1.1\r\n"
        "Diagnostic-Code: smtp; 550 5.1.1 user unknown\r\n\r\n--B\r\n"
        "Content-Type: text/rfc822-headers\r\n\r\n"
        f"Message-ID: {ack['Message-ID']}\r\nX-Mailflow-Ticket: {number}\r\n"
        f"Subject: [{number}] ack\r\n\r\n--B--\r\n"
    ).encode()
    imap_account.append(dsn)
    run_once(e2e_config)
    assert len(tickets(e2e_config)) == 1
    assert len(smtp_server.wait_for(2, timeout=0.5)) == 1  # nothing answered either
    detail = show(e2e_config, number)
    kinds = [e["kind"] for e in detail["events"]]
    assert "auto_reply" in kinds and "bounce" in kinds
    bounce = next(e for e in detail["events"] if e["kind"] == "bounce")
    assert bounce["data"]["undeliverable"] == ["bob@example.com"]
    assert [m["kind"] for m in detail["messages"]] == ["mail", "mail", "auto_reply", "bounce"]


def test_loop_limit_per_address(
    e2e_config: Path, imap_account: ImapAccount, smtp_server: SmtpServer
) -> None:
    """A responder that slips through every header check still gets at most 5 mails an hour."""
    for i in range(7):
        imap_account.append(build("robot@example.net", imap_account.user, f"Ticket {i}", "x"))
    run_once(e2e_config)
    assert len(tickets(e2e_config)) == 7
    assert len(smtp_server.wait_for(7, timeout=1)) == 5
    last = show(e2e_config, today_prefix() + "007")
    suppressed = [e for e in last["events"] if e["kind"] == "acknowledgement_suppressed"]
    assert "loop limit: 5 automatic mails to robot@example.net" in suppressed[0]["data"]["reason"]
    assert json.dumps(last)  # the record stays serialisable
