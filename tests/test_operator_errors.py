"""Operator errors: a clear message, nothing lost, and a retry once the cause is gone."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

from tests.conftest import ImapAccount, run_mailflow
from tests.helpers import make_worker, new_ticket, run_once, tickets
from tests.mails import build
from tests.servers import SmtpServer


def _unseen(account: ImapAccount) -> list[int]:
    client = account.client()
    client.select_folder("INBOX", readonly=True)
    try:
        return list(client.search(["UNSEEN"]))
    finally:
        client.logout()


def test_locked_database_leaves_mail_in_the_mailbox(
    e2e_config: Path, imap_account: ImapAccount, smtp_server: SmtpServer
) -> None:
    """A database locked by another writer: the pass fails clearly and the mail stays in the mailbox
    for the next one."""
    # SQLite's own lock, whatever database the other tests run on.
    e2e_config.write_text(
        re.sub(
            r'url = "[^"]*"',
            'url = "sqlite:///var/mailflow.db"\nbusy_timeout_seconds = 1',
            e2e_config.read_text(),
            count=1,
        )
    )
    assert "busy_timeout_seconds = 1" in e2e_config.read_text()
    imap_account.append(build("a@example.com", imap_account.user, "first", "x"))
    run_once(e2e_config)
    imap_account.append(build("b@example.com", imap_account.user, "second", "x"))
    holder = sqlite3.connect(e2e_config.parent / "var/mailflow.db", isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        result = run_mailflow(e2e_config, "run", "--once")
        assert result.returncode == 1
        assert "mail left in mailbox" in result.stderr
        assert "database is locked" in result.stderr
        assert "Traceback" not in result.stderr
        assert len(_unseen(imap_account)) == 1
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    run_once(e2e_config)
    assert [t["subject"] for t in tickets(e2e_config)] == ["first", "second"]
    assert _unseen(imap_account) == []


def test_unusable_storage_leaves_mail_in_the_mailbox(
    e2e_config: Path, imap_account: ImapAccount, smtp_server: SmtpServer
) -> None:
    """An unwritable store: the pass fails clearly and the mail stays in the mailbox."""
    (e2e_config.parent / "blocked").write_text("a file where the store folder should be")
    good = e2e_config.read_text()
    e2e_config.write_text(good.replace('path = "var/store"', 'path = "blocked/store"'))
    imap_account.append(build("a@example.com", imap_account.user, "hello", "x"))
    result = run_mailflow(e2e_config, "run", "--once")
    assert result.returncode == 1
    assert "storage problem, mail left in mailbox: storage:" in result.stderr
    assert "Traceback" not in result.stderr
    assert len(_unseen(imap_account)) == 1
    e2e_config.write_text(good)
    run_once(e2e_config)
    assert [t["subject"] for t in tickets(e2e_config)] == ["hello"]
    assert _unseen(imap_account) == []


def test_full_recipient_mailbox_is_named_as_such(tmp_path: Path, smtp_server: SmtpServer) -> None:
    """A 452 4.2.2 reply is reported as the recipient's full mailbox, not a network problem."""
    worker = make_worker(tmp_path, smtp_server)
    smtp_server.data_reply = "452 4.2.2 Mailbox full"
    new_ticket(worker)
    report = worker.run_once()
    assert report.sent == 0
    from mailflow.store.models import Outbox

    assert "recipient's mailbox is full" in Outbox.get().last_error


def test_storage_errors_say_what_is_wrong(tmp_path: Path) -> None:
    """Disk full and permission problems are named as such (errno mapping of the store)."""
    import errno

    from mailflow.store.blobs import _describe

    assert _describe(OSError(errno.ENOSPC, "No space left"), tmp_path) == (
        f"storage: disk full under {tmp_path}"
    )
    assert "is not writable" in _describe(OSError(errno.EACCES, "Permission denied"), tmp_path)
    assert "is not writable" in _describe(OSError(errno.EROFS, "Read-only"), tmp_path)


def test_a_second_prefix_on_one_database_is_refused(tmp_path: Path) -> None:
    """Two desks' configs with different ticket prefixes on one database: the second is
    refused at start, naming the key and both prefixes; `init-db --renumber` changes it on
    purpose."""
    first = tmp_path / "ts.toml"
    first.write_text(f'[database]\nurl = "sqlite:///{tmp_path}/shared.db"\n')
    second = tmp_path / "hr.toml"
    second.write_text(first.read_text() + '[support]\nticket_prefix = "HR"\n')
    assert run_mailflow(first, "run", "--once").returncode == 0
    refused = run_mailflow(second, "run", "--once")
    assert refused.returncode == 78
    assert "support.ticket_prefix: is 'HR' but this database numbers its tickets 'TS'" in (
        refused.stderr
    )
    assert "Traceback" not in refused.stderr
    assert run_mailflow(second, "ingest", stdin=b"From: a@b.cn\n\nx\n").returncode == 75
    assert run_mailflow(second, "init-db", "--renumber").returncode == 0
    assert run_mailflow(second, "run", "--once").returncode == 0
    assert run_mailflow(first, "run", "--once").returncode == 78
