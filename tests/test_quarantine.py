"""Quarantine: unreadable mail keeps its bytes, never blocks the rest, and can be dealt with."""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path

from mailflow import config as config_mod
from mailflow.daemon import open_services
from mailflow.store.models import Quarantine, utc
from tests.conftest import ImapAccount, run_mailflow, write_config
from tests.helpers import deliver, run_once, tickets
from tests.mails import build, fixture
from tests.servers import SmtpServer

NO_SENDER = b"To: support@example.com\r\nSubject: who am I\r\n\r\nno From header at all\r\n"


def test_bad_mail_is_set_aside_and_the_rest_goes_on(
    e2e_config: Path, imap_account: ImapAccount, smtp_server: SmtpServer
) -> None:
    """Unreadable and sender-less mail is quarantined with its bytes; the mails after it are
    handled."""
    e2e_config.write_text(
        e2e_config.read_text().replace(
            'first_run = "all"', 'first_run = "all"\nquarantine_folder = "Quarantine"'
        )
    )
    imap_account.append(NO_SENDER)
    imap_account.append(b"\x00\x01\x02 garbage")
    imap_account.append(fixture("thunderbird_en_with_log.eml"))
    log = run_once(e2e_config)
    assert "quarantined (uid 1): no sender address in From" in log
    assert [t["subject"] for t in tickets(e2e_config)] == ["VPN drops every 10 minutes"]
    assert list(imap_account.messages("INBOX")) == [3]  # the good one stays, flagged \Seen
    assert len(imap_account.messages("Quarantine")) == 2

    listed = json.loads(run_mailflow(e2e_config, "quarantine", "list", "--json").stdout)
    assert [q["error"] for q in listed] == ["no sender address in From", "no mail headers found"]
    first = listed[0]["id"]
    raw = run_mailflow(e2e_config, "quarantine", "show", str(first), "--raw")
    assert raw.stdout.encode() == NO_SENDER
    shown = run_mailflow(e2e_config, "quarantine", "show", str(first))
    assert "Subject: who am I" in shown.stdout

    retried = run_mailflow(e2e_config, "quarantine", "retry", str(listed[1]["id"]))
    assert retried.returncode == 1 and "still cannot be read" in retried.stdout
    dropped = run_mailflow(e2e_config, "quarantine", "drop", str(first))
    assert dropped.returncode == 0 and "raw bytes stay" in dropped.stdout
    assert len(json.loads(run_mailflow(e2e_config, "quarantine", "list", "--json").stdout)) == 1
    everything = json.loads(
        run_mailflow(e2e_config, "quarantine", "list", "--all", "--json").stdout
    )
    assert [q["status"] for q in everything] == ["dropped", "held"]
    missing = run_mailflow(e2e_config, "quarantine", "show", "999")
    assert missing.returncode == 1 and "no quarantine entry #999" in missing.stderr


def test_retry_after_a_fix_makes_the_ticket(tmp_path: Path) -> None:
    """An entry left by an older, buggier run is handled normally when retried."""
    (tmp_path / "config.toml").write_text("")
    config = config_mod.load(tmp_path / "config.toml")
    services = open_services(config)
    raw = build("carol@example.com", "support@example.com", "Monitor flickers", "since today")
    digest = services.store.put(raw)
    Quarantine.create(
        at=utc(dt.datetime.now(dt.UTC)),
        source_ref=None,
        raw_sha256=digest,
        size=len(raw),
        error="KeyError: 'x' (a bug since fixed)",
    )
    services.db.close()
    result = run_mailflow(tmp_path / "config.toml", "quarantine", "retry", "1")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("#1 created TS")
    listed = json.loads(
        run_mailflow(tmp_path / "config.toml", "quarantine", "list", "--all", "--json").stdout
    )
    assert listed[0]["status"] == "retried" and "created" in listed[0]["error"]


def test_a_mail_over_max_mail_mb_is_kept_whole_and_set_aside(tmp_path: Path) -> None:
    """Parsing costs several times a mail's size in memory, so a mail over the limit is not
    parsed: its bytes are kept, it is quarantined with the reason, the others go on, and an
    operator's retry parses it anyway."""
    config = write_config(tmp_path, "[limits]\nmax_mail_mb = 1\n")
    big = build(
        "dan@example.com",
        "support@example.com",
        "Scan of the contract",
        "attached",
        attachments=(("scan.pdf", "application/pdf", os.urandom(900_000)),),
    )
    assert len(big) > 1024 * 1024
    deliver(tmp_path / "var/maildir", "m1", big)
    deliver(tmp_path / "var/maildir", "m2", build("eve@example.com", "s@example.com", "hi", "x"))
    result = run_mailflow(config, "run", "--once")
    assert result.returncode == 0, result.stderr
    assert "over the limit of 1 MB ([limits] max_mail_mb); kept unread" in result.stderr
    assert len(json.loads(run_mailflow(config, "tickets", "--json").stdout)) == 1
    [entry] = json.loads(run_mailflow(config, "quarantine", "list", "--json").stdout)
    assert entry["size"] == len(big)
    raw = run_mailflow(config, "quarantine", "show", str(entry["id"]), "--raw")
    assert raw.stdout.encode() == big
    retried = run_mailflow(config, "quarantine", "retry", str(entry["id"]))
    assert retried.returncode == 0 and " created TS" in retried.stdout, retried.stderr
