"""Crash safety: SIGKILL at random moments loses nothing, duplicates nothing, re-sends at most once.

A real `mailflow run` ingests a few hundred mails from Dovecot and is killed again and again
(bounded in count and time) while fetching, parsing, committing or sending. Then one clean pass
finishes the work, and the mailbox, the database and what the SMTP server received are compared.
"""

from __future__ import annotations

import collections
import contextlib
import email
import email.policy
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.conftest import ImapAccount, mailflow_env, run_mailflow
from tests.mails import build
from tests.servers import SmtpServer

MAILS = 400
MAX_KILLS = 25
TIME_BUDGET = 75.0  # seconds of killing, at most


def test_sigkill_at_random_moments(
    e2e_config: Path, imap_account: ImapAccount, smtp_server: SmtpServer
) -> None:
    """A real daemon SIGKILLed at random moments while ingesting: every mail one ticket, every
    requester acknowledged, re-sends no more than kills."""
    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    print(f"crash test seed {seed}")
    e2e_config.write_text(
        e2e_config.read_text().replace('first_run = "all"', 'first_run = "all"\npoll_seconds = 1')
    )
    client = imap_account.client()
    for i in range(MAILS):
        attachments = (
            (("log.txt", "text/plain", b"x" * rng.randint(0, 50_000)),) if i % 7 == 0 else ()
        )
        client.append(
            "INBOX",
            build(
                f"User {i} <user{i}@example.com>",
                imap_account.user,
                f"Problem {i:03d}",
                f"details {i}",
                attachments=attachments,
                message_id=f"<crash-{i}@client.example>",
            ),
        )
    client.logout()

    kills = 0
    started = time.monotonic()
    log = e2e_config.parent / "daemon.log"
    while kills < MAX_KILLS and time.monotonic() - started < TIME_BUDGET:
        proc = subprocess.Popen(
            [sys.executable, "-m", "mailflow", "-c", str(e2e_config), "run"],
            stdout=subprocess.DEVNULL,
            stderr=open(log, "ab"),  # noqa: SIM115
            env=mailflow_env(),
        )
        time.sleep(rng.uniform(0.05, 0.9))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        kills += 1
        if _done(e2e_config):
            break
    result = run_mailflow(e2e_config, "run", "--once", now=None)  # after a real-time daemon
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in log.read_text()

    # Every mail is exactly one ticket.
    listed = json.loads(run_mailflow(e2e_config, "tickets", "--json").stdout)
    subjects = [t["subject"] for t in listed]
    assert sorted(subjects) == [f"Problem {i:03d}" for i in range(MAILS)], (seed, kills)

    # Every mail in the mailbox is marked handled.
    client = imap_account.client()
    client.select_folder("INBOX", readonly=True)
    assert client.search(["UNSEEN"]) == []
    assert len(client.search(["ALL"])) == MAILS
    client.logout()

    # Every requester got an acknowledgement; a crash re-sent any one mail at most once.
    received = smtp_server.wait_for(MAILS, timeout=20)
    per_id = collections.Counter(
        email.message_from_bytes(m.data, policy=email.policy.default)["Message-ID"]
        for m in received
    )
    assert len(per_id) == MAILS, (seed, kills)
    assert max(per_id.values()) <= 2, (seed, kills)
    duplicates = sum(n - 1 for n in per_id.values())
    assert duplicates <= kills, (seed, kills, duplicates)
    print(f"{kills} kills, {duplicates} re-sent acknowledgements, {MAILS} tickets")


def _done(config: Path, count: int = MAILS) -> bool:
    result = run_mailflow(config, "tickets", "--json")
    if result.returncode != 0:
        return False
    return len(json.loads(result.stdout)) == count


HELPER_MAILS = 300


def test_killed_helpers_cost_speed_not_mail(
    e2e_config: Path, imap_account: ImapAccount, smtp_server: SmtpServer
) -> None:
    """SIGKILL the parse worker or the sending process (never the main process) at random
    moments: the daemon carries on, every mail is one ticket, a killed sender re-sends at most
    the one mail it was killed over."""
    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    e2e_config.write_text(
        e2e_config.read_text().replace('first_run = "all"', 'first_run = "all"\npoll_seconds = 1')
        + "\n[performance]\nparse_workers = 1\n"
    )
    client = imap_account.client()
    for i in range(HELPER_MAILS):
        client.append(
            "INBOX",
            build(
                f"user{i}@example.com",
                imap_account.user,
                f"Helper {i:03d}",
                f"details {i}",
                message_id=f"<helper-{i}@client.example>",
            ),
        )
    client.logout()
    log = e2e_config.parent / "daemon.log"
    proc = subprocess.Popen(
        [sys.executable, "-m", "mailflow", "-c", str(e2e_config), "run"],
        stdout=subprocess.DEVNULL,
        stderr=open(log, "ab"),  # noqa: SIM115
        env=mailflow_env(),
    )
    kills = 0
    try:
        deadline = time.monotonic() + 60
        while kills < 8 and time.monotonic() < deadline and not _done(e2e_config, HELPER_MAILS):
            time.sleep(rng.uniform(0.02, 0.2))
            children = _children(proc.pid)
            if children:
                try:
                    os.kill(rng.choice(children), signal.SIGKILL)
                    kills += 1
                except ProcessLookupError:
                    pass
        assert proc.poll() is None, "the main process must survive its helpers"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    result = run_mailflow(e2e_config, "run", "--once", now=None)  # after a real-time daemon
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in log.read_text()

    listed = json.loads(run_mailflow(e2e_config, "tickets", "--json").stdout)
    assert sorted(t["subject"] for t in listed) == [f"Helper {i:03d}" for i in range(HELPER_MAILS)]
    received = smtp_server.wait_for(HELPER_MAILS, timeout=20)
    per_rcpt = collections.Counter(m.rcpt_tos[0] for m in received)
    assert len(per_rcpt) == HELPER_MAILS, (seed, kills)
    duplicates = sum(n - 1 for n in per_rcpt.values())
    assert duplicates <= kills, (seed, kills, duplicates)
    print(f"{kills} helpers killed, {duplicates} re-sent acknowledgements")


def _children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(FileNotFoundError):
            found += [int(p) for p in (task / "children").read_text().split()]
    return found
