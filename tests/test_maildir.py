"""The local Maildir source: the embedded default, and what an MTA can deliver to."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import run_mailflow, write_config
from tests.helpers import deliver
from tests.mails import build, fixture


def test_maildir_mail_becomes_ticket_and_is_marked_seen(tmp_path: Path) -> None:
    config = write_config(tmp_path, "")
    maildir = tmp_path / "var/maildir"
    deliver(maildir, "1732500000.M1P1.host", fixture("outlook_zh_html_only.eml"))
    result = run_mailflow(config, "run", "--once")
    assert result.returncode == 0, result.stderr
    assert "created from chen.jing@example.cn (maildir 1732500000.M1P1.host)" in result.stderr
    assert list((maildir / "new").iterdir()) == []
    assert [p.name for p in (maildir / "cur").iterdir()] == ["1732500000.M1P1.host:2,S"]
    sent = list((tmp_path / "var/sent/new").iterdir())
    assert len(sent) == 1 and b"chen.jing@example.cn" in sent[0].read_bytes()
    # A second pass finds nothing new.
    result = run_mailflow(config, "run", "--once")
    listed = json.loads(run_mailflow(config, "tickets", "--json").stdout)
    assert len(listed) == 1


def test_maildir_processed_folder_and_first_run_policy(tmp_path: Path) -> None:
    """First run takes only recent unread mail; later mail is taken whatever its flags; handled mail
    moves to the processed folder."""
    config = write_config(tmp_path, '[mailbox]\nprocessed_folder = "Processed"\n')
    maildir = tmp_path / "var/maildir"
    deliver(maildir, "old", build("a@example.com", "s@example.com", "old", "x"), age_days=30)
    deliver(maildir, "read", build("b@example.com", "s@example.com", "read", "x"), seen=True)
    deliver(maildir, "fresh", build("c@example.com", "s@example.com", "fresh", "x"))
    result = run_mailflow(config, "run", "--once")
    assert "3 mails present, taking 1" in result.stderr
    listed = json.loads(run_mailflow(config, "tickets", "--json").stdout)
    assert [t["subject"] for t in listed] == ["fresh"]
    assert [p.name for p in (maildir / ".Processed/cur").iterdir()] == ["fresh:2,S"]
    # Mail delivered after the first run is taken.
    deliver(maildir, "later", build("d@example.com", "s@example.com", "later", "x"))
    run_mailflow(config, "run", "--once")
    listed = json.loads(run_mailflow(config, "tickets", "--json").stdout)
    assert [t["subject"] for t in listed] == ["fresh", "later"]


def test_run_without_any_config_uses_embedded_defaults(tmp_path: Path) -> None:
    deliver(tmp_path / "var/maildir", "m1", fixture("thunderbird_en_with_log.eml"))
    result = run_mailflow(None, "run", "--once", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "using embedded defaults" in result.stderr
    assert (tmp_path / "var/mailflow.db").exists()
