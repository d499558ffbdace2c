"""PostgreSQL going away while mail arrives: the pass stops, no mail is taken out of the
mailbox that is not committed, the daemon retries with backoff and says so once per outage,
and when the server is back every mail becomes one ticket with one acknowledgement."""

from __future__ import annotations

import collections
import email
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import ImapAccount, mailflow_env
from tests.helpers import sql
from tests.mails import build
from tests.postgres import Postgres, private_cluster
from tests.servers import SmtpServer

MAILS = 30


@pytest.fixture
def own_postgres() -> Iterator[Postgres]:
    """A cluster of this test's own, since the test stops it."""
    yield from private_cluster()


def _tickets(config: Path) -> int:
    try:
        return int(sql(config, "SELECT COUNT(*) FROM ticket")[0][0])  # type: ignore[call-overload]
    except Exception:  # down, or no schema yet
        return -1


def _seen_requesters(account: ImapAccount) -> set[str]:
    """The senders of the mails flagged handled (\\Seen) in the mailbox."""
    found = set()
    for item in account.messages().values():
        if b"\\Seen" in item[b"FLAGS"]:  # type: ignore[operator]
            raw = item[b"BODY[]"]
            found.add(email.message_from_bytes(raw)["From"])  # type: ignore[arg-type]
    return found


def _wait(condition: object, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return True
        time.sleep(0.1)
    return False


def test_postgresql_going_away_mid_pass_loses_nothing_and_says_so_once(
    e2e_config: Path,
    imap_account: ImapAccount,
    smtp_server: SmtpServer,
    own_postgres: Postgres,
    tmp_path: Path,
) -> None:
    url = own_postgres.create_database("outage")
    text = re.sub(r'url = "[^"]*"', f'url = "{url}"', e2e_config.read_text(), count=1)
    e2e_config.write_text(text.replace("[mailbox]\n", "[mailbox]\npoll_seconds = 1\n", 1))
    logfile = tmp_path / "daemon.log"
    with logfile.open("wb") as log:
        daemon = subprocess.Popen(
            [sys.executable, "-m", "mailflow", "-c", str(e2e_config), "run"],
            stdout=subprocess.DEVNULL,
            stderr=log,
            env=mailflow_env(),
        )

    def arrive(first: int, last: int) -> None:
        client = imap_account.client()
        for n in range(first, last):
            client.append(
                "INBOX", build(f"user{n}@example.cn", imap_account.user, f"问题 {n}", "坏了")
            )
            time.sleep(0.1)
        client.logout()

    try:
        arrive(0, 5)
        assert _wait(lambda: len(_seen_requesters(imap_account)) == 5, 30), logfile.read_text()
        arrival = threading.Thread(target=arrive, args=(5, MAILS))
        arrival.start()
        assert _wait(lambda: _tickets(e2e_config) >= 10, 30), logfile.read_text()
        own_postgres.stop()  # mid-stream: mails keep arriving
        arrival.join()
        time.sleep(8)  # several passes and retries find the database gone
        seen = _seen_requesters(imap_account)
        daemon.send_signal(signal.SIGSTOP)  # so that what is in the database now is what was
        own_postgres.start()  # committed before the outage: nothing could commit during it
        committed = {str(r[0]) for r in sql(e2e_config, "SELECT requester_email FROM ticket")}
        daemon.send_signal(signal.SIGCONT)
        assert seen <= committed, "marked handled in the mailbox, not in the database"
        assert len(committed) < MAILS
        assert _wait(lambda: _tickets(e2e_config) == MAILS, 60), logfile.read_text()
    finally:
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(timeout=60)
    log_text = logfile.read_text()
    made = sql(e2e_config, "SELECT requester_email FROM ticket")
    assert sorted(str(r[0]) for r in made) == sorted(f"user{n}@example.cn" for n in range(MAILS))
    acks = collections.Counter(m.rcpt_tos[0] for m in smtp_server.wait_for(MAILS, timeout=20))
    assert len(acks) == MAILS and sum(acks.values()) <= MAILS + 1, acks.most_common(3)
    outage = [line for line in log_text.splitlines() if "database" in line.lower()]
    assert len([line for line in outage if "ERROR" in line]) == 1, outage
    assert any("database is back" in line for line in outage), outage
