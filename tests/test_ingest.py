"""`mailflow ingest`: one mail on stdin from an MTA pipe; 0 when kept, 75 to make the MTA retry."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import run_mailflow, write_config
from tests.mails import fixture
from tests.servers import SmtpServer


def config_for(tmp_path: Path, smtp: SmtpServer) -> Path:
    return write_config(
        tmp_path,
        f"""
        [support]
        address = "support@example.com"
        [smtp]
        kind = "smtp"
        host = "127.0.0.1"
        port = {smtp.port}
        security = "none"
        username = "mailer"
        password_env = "TEST_SMTP_PASSWORD"
    """,
    )


def test_ingest_stores_and_acknowledges_at_once(tmp_path: Path, smtp_server: SmtpServer) -> None:
    """`mailflow ingest` stores the mail and sends the acknowledgement in the same call."""
    config = config_for(tmp_path, smtp_server)
    result = run_mailflow(config, "ingest", stdin=fixture("qqmail_with_screenshot.eml"))
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("created TS")
    number = result.stdout.split()[1]
    [ack] = smtp_server.wait_for(1)
    assert ack.rcpt_tos == ["12345678@qq.com"]
    assert f"[{number}]".encode() in ack.data or b"=?utf-8?" in ack.data
    shown = json.loads(run_mailflow(config, "ticket", "show", number, "--json").stdout)
    assert shown["requester"] == "12345678@qq.com"

    again = run_mailflow(config, "ingest", stdin=fixture("qqmail_with_screenshot.eml"))
    assert again.returncode == 0 and again.stdout.strip() == "duplicate"
    assert len(smtp_server.wait_for(2, timeout=0.5)) == 1


def test_ingest_keeps_unreadable_mail_in_quarantine(
    tmp_path: Path, smtp_server: SmtpServer
) -> None:
    """Unreadable bytes piped to ingest are quarantined and the MTA told the mail was kept (exit
    0)."""
    config = config_for(tmp_path, smtp_server)
    garbage = b"\x00\x01 this is not a mail at all \xff\xfe"
    result = run_mailflow(config, "ingest", stdin=garbage)
    assert result.returncode == 0
    assert result.stdout.strip() == "quarantined"
    stored = [p for p in (tmp_path / "var/store").rglob("*") if p.is_file()]
    assert any(p.read_bytes() == garbage for p in stored)


def test_ingest_temporary_failures_exit_75(tmp_path: Path, smtp_server: SmtpServer) -> None:
    """Database unusable or config broken: EX_TEMPFAIL, so the MTA keeps the mail and retries."""
    (tmp_path / "blocker").write_text("a file where the database folder should be")
    config = write_config(tmp_path, '[database]\nurl = "sqlite:///blocker/db.sqlite"\n')
    result = run_mailflow(config, "ingest", stdin=fixture("thunderbird_en_with_log.eml"))
    assert result.returncode == 75, result.stderr
    assert "mailflow: cannot create database folder" in result.stderr
    assert "Traceback" not in result.stderr

    bad = write_config(tmp_path, "[mailbox]\nport = 0\n")
    result = run_mailflow(bad, "ingest", stdin=fixture("thunderbird_en_with_log.eml"))
    assert result.returncode == 75
    assert "mailbox.port" in result.stderr


def test_ingest_with_nothing_on_stdin(tmp_path: Path) -> None:
    result = run_mailflow(write_config(tmp_path, ""), "ingest", stdin=b"")
    assert result.returncode == 65
    assert "nothing on stdin" in result.stderr
