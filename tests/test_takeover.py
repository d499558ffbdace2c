"""A daemon killed (SIGKILL) in the middle of a backlog on PostgreSQL: a standby daemon takes
the mailbox over at once (the server dropped the killed one's lock with its connection), and
every mail is one ticket with one acknowledgement; what was in flight at the kill may be sent
again (one row per delivering process: its main and its sending process)."""

from __future__ import annotations

import collections
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import psycopg2

from tests.conftest import ImapAccount, mailflow_env, run_mailflow
from tests.mails import build
from tests.postgres import Postgres
from tests.servers import SmtpServer

MAILS = 150


def count(url: str) -> int:
    with psycopg2.connect(url) as con, con.cursor() as cur:
        cur.execute("SELECT to_regclass('ticket') IS NOT NULL")
        if not cur.fetchone()[0]:
            return 0  # the daemon has not made the schema yet
        cur.execute("SELECT COUNT(*) FROM ticket")
        return int(cur.fetchone()[0])


def test_standby_takes_over_from_a_killed_daemon(
    e2e_config: Path, imap_account: ImapAccount, smtp_server: SmtpServer, postgres: Postgres
) -> None:
    url = postgres.create_database(f"takeover_{imap_account.user.split('@')[0]}")
    text = re.sub(r'url = "[^"]*"', f'url = "{url}"', e2e_config.read_text(), count=1)
    e2e_config.write_text(text.replace("[mailbox]\n", "[mailbox]\npoll_seconds = 1\n", 1))
    for n in range(MAILS):
        imap_account.append(build(f"user{n}@example.cn", imap_account.user, f"问题 {n}", "坏了"))
    command = [sys.executable, "-m", "mailflow", "-c", str(e2e_config), "run"]
    first = subprocess.Popen(command, stderr=subprocess.PIPE, env=mailflow_env())
    deadline = time.monotonic() + 60
    while count(url) < 10 and time.monotonic() < deadline:
        time.sleep(0.05)
    standby = subprocess.Popen(command, stderr=subprocess.PIPE, env=mailflow_env())
    first.send_signal(signal.SIGKILL)
    first.wait()
    killed_at, done = time.monotonic(), 0
    while (done := count(url)) < MAILS and time.monotonic() < killed_at + 60:
        time.sleep(0.1)
    took = time.monotonic() - killed_at
    standby.send_signal(signal.SIGTERM)
    log = standby.communicate(timeout=60)[1].decode()
    assert done == MAILS, log[-3000:]
    final = run_mailflow(e2e_config, "run", "--once")
    assert final.returncode == 0, final.stderr
    acks = collections.Counter(m.rcpt_tos[0] for m in smtp_server.wait_for(MAILS, timeout=20))
    assert len(acks) == MAILS, len(acks)
    print(f"took over and finished in {took:.1f} s; acks per requester: {acks.most_common(3)}")
    assert took < 30 and sum(acks.values()) - MAILS <= 2, acks.most_common(5)
