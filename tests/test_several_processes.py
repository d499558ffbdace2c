"""Several mailflow processes on one database (SQLite, PostgreSQL) and one mailbox (the
daemon plus a cron `run --once`, or a second instance started by mistake): one reads the
mailbox at a time, and the outbox is delivered by one at a time (SQLite) or by all with each
row claimed once (PostgreSQL), so every mail is one ticket and every requester gets one
acknowledgement."""

from __future__ import annotations

import collections
import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mailflow.store.database import open_database, transaction
from mailflow.store.models import Ticket
from mailflow.store.schema import init_schema
from tests.conftest import NOW, mailflow_env, run_mailflow, smtp_table, write_config
from tests.helpers import deliver, tickets
from tests.mails import build
from tests.postgres import Postgres
from tests.servers import SmtpServer

MAILS = 60


def _config(tmp_path: Path, url: str, smtp_server: SmtpServer, extra: str = "") -> Path:
    """A Maildir desk on ``url`` sending to the test SMTP server."""
    return write_config(
        tmp_path,
        f'[database]\nurl = "{url}"\n[mailbox]\nkind = "maildir"\n'
        + smtp_table(smtp_server)
        + extra,
    )


def _three_passes_at_once(config: Path) -> list[str]:
    """Three `run --once` processes started together; their logs (each must succeed)."""
    command = [sys.executable, "-m", "mailflow", "-c", str(config), "run", "--once", "--now", NOW]
    processes = [
        subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=mailflow_env()
        )
        for _ in range(3)
    ]
    logs = [p.communicate(timeout=300)[1].decode() for p in processes]
    assert all(p.returncode == 0 for p in processes), logs
    return logs


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_three_processes_at_once_make_each_mail_one_ticket_and_one_ack(
    tmp_path: Path, smtp_server: SmtpServer, database: str, request: pytest.FixtureRequest
) -> None:
    """On SQLite one process reads and one delivers (flock); on PostgreSQL one reads (an
    advisory lock held in a transaction) and all three deliver (rows claimed with SKIP
    LOCKED)."""
    url = "sqlite:///var/mailflow.db"
    if database == "postgresql":
        url = request.getfixturevalue("postgres").create_database(f"three_{os.getpid()}")
    config = _config(tmp_path, url, smtp_server, "[performance]\nparse_workers = 0\n")
    for n in range(MAILS):
        raw = build(f"user{n}@example.cn", "support@example.com", f"问题 {n}", "打印机坏了")
        deliver(tmp_path / "var" / "maildir", f"mail{n:03d}", raw)
    logs = _three_passes_at_once(config)
    assert any("another mailflow process is at it" in log for log in logs), logs
    final = run_mailflow(config, "run", "--once")
    assert final.returncode == 0, final.stderr
    made = tickets(config)
    assert len(made) == MAILS
    assert sorted(t["requester"] for t in made) == sorted(
        f"user{n}@example.cn" for n in range(MAILS)
    )
    acks = collections.Counter(m.rcpt_tos[0] for m in smtp_server.wait_for(MAILS, timeout=10))
    assert len(acks) == MAILS and set(acks.values()) == {1}, acks.most_common(3)


AUTO_CLOSE = 40


def test_daemons_on_postgresql_close_each_silent_ticket_once(
    tmp_path: Path, smtp_server: SmtpServer, postgres: Postgres
) -> None:
    """Every daemon runs the auto-close job; on PostgreSQL each claims the tickets it closes
    (SKIP LOCKED), so each requester gets one survey."""
    url = postgres.create_database(f"close_{os.getpid()}")
    config = _config(tmp_path, url, smtp_server)
    db = open_database(url)
    init_schema(db)
    resolved = dt.datetime(2026, 11, 20, 2, 0)
    with transaction(db):
        for n in range(AUTO_CLOSE):
            Ticket.create(
                number=f"TS20261120{n + 1:03d}", subject=f"问题 {n}", status="resolved",
                priority="medium", requester_email=f"user{n}@example.cn", language="zh_CN",
                submitted_at=resolved, created_at=resolved, updated_at=resolved,
                resolved_at=resolved,
            )  # fmt: skip
    db.close()
    _three_passes_at_once(config)
    surveys = collections.Counter(
        m.rcpt_tos[0] for m in smtp_server.wait_for(AUTO_CLOSE, timeout=10)
    )
    assert len(surveys) == AUTO_CLOSE and set(surveys.values()) == {1}, surveys.most_common(3)
    assert {t["status"] for t in tickets(config)} == {"closed"}
