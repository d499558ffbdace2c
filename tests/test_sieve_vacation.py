"""Against a real auto-responder: Dovecot's Sieve vacation on a requester's mailbox.

The requester's mailbox runs ``vacation``. Our acknowledgement is delivered to it with Dovecot's
own LDA: the responder must stay silent (we mark our mail ``Auto-Submitted``). A mail that is not
marked (as a person's reply would be) does get a vacation reply; that reply, delivered to the
support mailbox, must end up as an event on its ticket: no new ticket, no acknowledgement.
"""

from __future__ import annotations

import email
import email.policy
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import mailflow_env, run_mailflow, write_config
from tests.helpers import show, tickets
from tests.mails import build
from tests.servers import Dovecot, SmtpServer

LDA = "/usr/lib/dovecot/dovecot-lda"
SIEVE_PLUGIN = "/usr/lib/dovecot/modules/lib90_sieve_plugin.so"
SUPPORT = "desk@example.test"
REQUESTER = "away@example.test"


@pytest.fixture
def vacation_server(tmp_path: Path) -> Iterator[Dovecot]:
    for needed, package in ((LDA, "dovecot-core"), (SIEVE_PLUGIN, "dovecot-sieve")):
        if not Path(needed).exists():
            pytest.fail(f"{needed} is missing: apt-get install {package}", pytrace=False)
    spool = Path(os.environ.get("TMPDIR", "/tmp")) / f"mailflow-vacation-{os.getpid()}"
    spool.mkdir(exist_ok=True)
    spool.chmod(0o777)  # the responder runs as the mail user (nobody)
    sendmail = spool / "sendmail.sh"
    sendmail.write_text(f'#!/bin/sh\ncat > "{spool}/reply-$$-$(date +%s%N).eml"\n')
    sendmail.chmod(0o755)
    server = Dovecot.create(
        {SUPPORT: "pw", REQUESTER: "pw"},
        extra_config=f"""
sendmail_path = {sendmail}
postmaster_address = postmaster@example.test
protocol lda {{
  mail_plugins = $mail_plugins sieve
}}
plugin {{
  sieve = file:~/sieve;active=~/.dovecot.sieve
}}
""",
    )
    home = server.root / "home" / REQUESTER
    home.mkdir(parents=True)
    (home / ".dovecot.sieve").write_text(
        'require ["vacation"];\n'
        'vacation :days 1 :subject "Out of office" "I am away until Monday. 我周一回来。";\n'
    )
    subprocess.run(["chown", "-R", "nobody:nogroup", str(home)], check=True)
    server.spool = spool  # type: ignore[attr-defined]
    yield server
    server.close()
    subprocess.run(["rm", "-rf", str(spool)], check=False)


def deliver(server: Dovecot, user: str, sender: str, raw: bytes) -> None:
    """Deliver like an MTA would: through Dovecot's LDA, which runs the user's Sieve script."""
    result = subprocess.run(
        [LDA, "-c", str(server.config_path), "-d", user, "-f", sender],
        input=raw,
        capture_output=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, result.stderr.decode()


def replies(server: Dovecot, timeout: float = 3.0) -> list[bytes]:
    spool: Path = server.spool  # type: ignore[attr-defined]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = sorted(spool.glob("reply-*.eml"))
        if found:
            time.sleep(0.2)
            return [p.read_bytes() for p in found]
        time.sleep(0.1)
    return []


def test_vacation_responder_is_not_triggered_and_its_replies_are_recorded(
    tmp_path: Path, vacation_server: Dovecot
) -> None:
    """A real Sieve vacation responder (Dovecot LDA) is never answered, and its replies are
    recorded on
    the ticket."""
    smtp = SmtpServer()
    smtp.start()
    try:
        config = write_config(
            tmp_path,
            f"""
            [support]
            address = "{SUPPORT}"
            [mailbox]
            kind = "imap"
            host = "127.0.0.1"
            port = {vacation_server.port}
            security = "none"
            username = "{SUPPORT}"
            password = "pw"
            first_run = "all"
            [smtp]
            kind = "smtp"
            host = "127.0.0.1"
            port = {smtp.port}
            security = "none"
        """,
        )
        request = build(
            f"Away Person <{REQUESTER}>",
            SUPPORT,
            "Laptop will not boot",
            "It shows a black screen.",
        )
        deliver(vacation_server, SUPPORT, REQUESTER, request)
        assert run_mailflow(config, "run", "--once", env=mailflow_env()).returncode == 0
        [ack] = smtp.wait_for(1)
        [number] = [t["number"] for t in tickets(config)]

        # Our acknowledgement reaches the requester's mailbox: the responder stays silent.
        deliver(vacation_server, REQUESTER, ack.mail_from, ack.data)
        assert replies(vacation_server, timeout=2) == []

        # The same mail after a relay stripped both of our markers does get a vacation reply ...
        stripped = email.message_from_bytes(ack.data, policy=email.policy.default)
        del stripped["Auto-Submitted"]
        del stripped["X-Auto-Response-Suppress"]
        deliver(vacation_server, REQUESTER, SUPPORT, stripped.as_bytes())
        [reply] = replies(vacation_server)
        assert b"Auto-Submitted: auto-replied" in reply

        # ... which, arriving at the support mailbox, is recorded on the ticket and not answered.
        deliver(vacation_server, SUPPORT, "", reply)
        result = run_mailflow(config, "run", "--once", env=mailflow_env())
        assert result.returncode == 0, result.stderr
        assert len(tickets(config)) == 1
        assert len(smtp.wait_for(2, timeout=1)) == 1
        events = [e["kind"] for e in show(config, number)["events"]]
        assert "auto_reply" in events
    finally:
        smtp.stop()
