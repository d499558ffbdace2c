"""The support mailbox over its IMAP quota (a real Dovecot with the quota plugin).

Measured: Dovecot lets MOVE through on a mailbox over quota (a move adds nothing), so with MOVE
mailflow works on unhindered. A server without MOVE makes mailflow COPY and expunge, and the COPY
is refused: then mail is still turned into tickets and answered once, the log says the mailbox
is over its quota, nothing is handled twice while it stays full, and once there is room the
next pass finishes moving it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import ImapAccount, run_mailflow, write_config
from tests.mails import build
from tests.servers import Dovecot, ServerMissing, SmtpServer

QUOTA = """
mail_plugins = $mail_plugins quota
plugin {{
  quota = maildir:User quota
  quota_rule = *:storage={limit}
}}
"""


@pytest.fixture
def quota_dovecot() -> Iterator[Dovecot]:
    try:
        server = Dovecot.create({"desk@example.test": "s3cret"}, _quota("1M"), tls=False)
    except ServerMissing as exc:
        pytest.fail(str(exc), pytrace=False)
    yield server
    server.close()


@pytest.mark.parametrize("move", [True, False], ids=["with-move", "copy-only"])
def test_a_full_support_mailbox_is_named_and_nothing_is_handled_twice(
    move: bool, tmp_path: Path, quota_dovecot: Dovecot, smtp_server: SmtpServer
) -> None:
    """Over quota: with MOVE all works on; copy-only, the quota is named, nothing is handled
    twice, and
    mail moves once there is room."""
    account = ImapAccount(quota_dovecot, "desk@example.test", "s3cret")
    for i in range(3):
        account.append(build(f"u{i}@example.cn", account.user, f"打印机 {i}", "卡纸" * 250))
    # The quota shrinks below what the mailbox holds: it is over quota, as a full one is.
    _restart(quota_dovecot, _quota("2K", move=move))
    config = write_config(
        tmp_path,
        f"""
        [support]
        address = "{account.user}"
        [mailbox]
        kind = "imap"
        host = "127.0.0.1"
        port = {quota_dovecot.port}
        security = "none"
        username = "{account.user}"
        password_env = "TEST_IMAP_PASSWORD"
        first_run = "all"
        processed_folder = "Processed"
        [smtp]
        kind = "smtp"
        host = "127.0.0.1"
        port = {smtp_server.port}
        security = "none"
        username = "mailer"
        password_env = "TEST_SMTP_PASSWORD"
        """,
    )
    first = run_mailflow(config, "run", "--once")
    if move:
        assert first.returncode == 0 and "quota" not in first.stderr, first.stderr
        assert account.messages("INBOX") == {} and len(account.messages("Processed")) == 3
        return
    assert "over its quota" in first.stderr, first.stderr
    assert "Traceback" not in first.stderr
    listed = json.loads(run_mailflow(config, "tickets", "--json").stdout)
    assert len(listed) == 3
    assert len(smtp_server.wait_for(3)) == 3
    again = run_mailflow(config, "run", "--once")
    assert "over its quota" in again.stderr
    assert len(json.loads(run_mailflow(config, "tickets", "--json").stdout)) == 3
    assert len(smtp_server.wait_for(4, timeout=1)) == 3  # nobody is answered twice
    # The operator makes room (here: the quota goes); the next pass moves the mail.
    _restart(quota_dovecot, _quota("1M"))
    done = run_mailflow(config, "run", "--once")
    assert done.returncode == 0 and "over its quota" not in done.stderr, done.stderr
    assert account.messages("INBOX") == {} and len(account.messages("Processed")) == 3
    assert len(json.loads(run_mailflow(config, "tickets", "--json").stdout)) == 3


def _restart(server: Dovecot, extra_config: str) -> None:
    server.stop()
    server.extra_config = extra_config
    server._write_config()
    for user in server.users:  # the quota is recounted from the files
        (server.maildir(user) / "maildirsize").unlink(missing_ok=True)
    server.start()


# Dovecot 2.3's own list without MOVE: clients then COPY and expunge.
NO_MOVE = (
    "imap_capability = IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE LITERAL+ UIDPLUS "
    "NAMESPACE CHILDREN UNSELECT LIST-EXTENDED SPECIAL-USE"
)


def _quota(limit: str, move: bool = True) -> str:
    return QUOTA.format(limit=limit) + ("" if move else NO_MOVE + "\n")
