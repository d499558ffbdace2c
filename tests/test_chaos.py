"""Three daemons on one database (PostgreSQL, SQLite) and one Dovecot mailbox while mail keeps
arriving, one of them SIGKILLed at random every second or two and started again: every mail becomes
exactly one ticket, every requester gets an acknowledgement and every handler a notice (a
re-send only for what a killed process had in flight, counted), and the numbers have no gap."""

from __future__ import annotations

import collections
import email
import email.header
import random
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.conftest import ImapAccount, mailflow_env, run_mailflow
from tests.helpers import PEOPLE, sql
from tests.mails import build
from tests.postgres import Postgres
from tests.servers import SmtpServer

MAILS = 500
DAEMONS = 3
HANDLER = "zhou.jie@example.com"  # the 硬件支持组 engineer every printer ticket goes to


def _append_slowly(account: ImapAccount, seed: int, done: threading.Event) -> None:
    """APPEND the mails one by one, 0-0.16 s apart, on one IMAP connection."""
    pace = random.Random(seed)
    client = account.client()
    try:
        for n in range(MAILS):
            raw = build(f"user{n}@example.cn", account.user, f"打印机坏了 {n}", "打印机卡纸")
            client.append("INBOX", raw)
            time.sleep(pace.uniform(0, 0.16))
    finally:
        client.logout()
        done.set()


class Daemons:
    """``DAEMONS`` running ``mailflow run`` processes, each logging to a file of its own."""

    def __init__(self, config: Path, logs: Path) -> None:
        self.command = [sys.executable, "-m", "mailflow", "-c", str(config), "run"]
        self.logs = logs
        self.started = 0
        self.processes = [self._start() for _ in range(DAEMONS)]

    def _start(self) -> tuple[subprocess.Popen[bytes], Path]:
        self.started += 1
        path = self.logs / f"daemon{self.started}.log"
        with path.open("wb") as log:
            process = subprocess.Popen(
                self.command, stdout=subprocess.DEVNULL, stderr=log, env=mailflow_env()
            )
        return process, path

    def kill_one(self, chance: random.Random) -> None:
        at = chance.randrange(DAEMONS)
        self.processes[at][0].send_signal(signal.SIGKILL)
        self.processes[at][0].wait()
        self.processes[at] = self._start()

    def stop(self) -> None:
        """SIGTERM each once it runs (one still starting up would die of it, nothing in hand)."""
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not all(
            "mailflow running" in log.read_text() for _, log in self.processes
        ):
            time.sleep(0.1)
        for process, _ in self.processes:
            process.send_signal(signal.SIGTERM)
        codes = [process.wait(timeout=60) for process, _ in self.processes]
        assert codes == [0] * DAEMONS, (codes, self.tail())

    def tail(self) -> str:
        return "\n".join(p.read_text()[-1500:] for p in sorted(self.logs.glob("*.log")))


def _numbers_by_subject(messages: list[object], to: str) -> collections.Counter[str]:
    """How many mails to ``to`` named each ticket number in their subject."""
    counts: collections.Counter[str] = collections.Counter()
    for message in messages:
        if message.rcpt_tos != [to]:  # type: ignore[attr-defined]
            continue
        parsed = email.message_from_bytes(message.data)  # type: ignore[attr-defined]
        subject = str(email.header.make_header(email.header.decode_header(parsed["Subject"])))
        counts.update(re.findall(r"TS\d{11}", subject)[:1])
    return counts


@pytest.mark.parametrize("database", ["postgresql", "sqlite"])
def test_three_daemons_killed_at_random_lose_and_double_nothing(
    e2e_config: Path,
    imap_account: ImapAccount,
    smtp_server: SmtpServer,
    tmp_path: Path,
    database: str,
    request: pytest.FixtureRequest,
) -> None:
    """PostgreSQL: one daemon reads (a server-held lock), all deliver (rows claimed). SQLite
    (the daemon under systemd plus a cron pass, or a second one started by mistake): one
    reads and one delivers (flock), the others wait their turn."""
    url = "sqlite:///var/mailflow.db"
    if database == "postgresql":
        server: Postgres = request.getfixturevalue("postgres")
        url = server.create_database(f"chaos_{imap_account.user.split('@')[0]}")
    text = re.sub(r'url = "[^"]*"', f'url = "{url}"', e2e_config.read_text(), count=1)
    text = text.replace("[mailbox]\n", "[mailbox]\npoll_seconds = 2\n", 1)
    e2e_config.write_text(text + PEOPLE)
    assert run_mailflow(e2e_config, "init-db").returncode == 0
    chance = random.Random(13)
    arrived = threading.Event()
    appender = threading.Thread(
        target=_append_slowly, args=(imap_account, 13, arrived), daemon=True
    )
    daemons = Daemons(e2e_config, tmp_path)
    appender.start()
    kills = 0
    made = 0
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        time.sleep(chance.uniform(1, 2))
        daemons.kill_one(chance)
        kills += 1
        made = int(sql(e2e_config, "SELECT COUNT(*) FROM ticket")[0][0])  # type: ignore[call-overload]
        if arrived.is_set() and made == MAILS:
            break
    while made < MAILS and time.monotonic() < deadline + 30:  # the last ones, no more kills
        time.sleep(0.2)
        made = int(sql(e2e_config, "SELECT COUNT(*) FROM ticket")[0][0])  # type: ignore[call-overload]
    daemons.stop()
    final = run_mailflow(e2e_config, "run", "--once", now=None)
    assert final.returncode == 0, final.stderr

    rows = sql(e2e_config, "SELECT number, requester_email FROM ticket ORDER BY number")
    requesters = collections.Counter(str(r[1]) for r in rows)
    assert len(rows) == MAILS and set(requesters.values()) == {1}, (len(rows), daemons.tail())
    assert set(requesters) == {f"user{n}@example.cn" for n in range(MAILS)}
    by_day: dict[str, list[int]] = collections.defaultdict(list)
    for number, _ in rows:
        by_day[str(number)[2:10]].append(int(str(number)[10:]))
    for day, serials in by_day.items():
        assert serials == list(range(1, len(serials) + 1)), f"gap in {day}"

    sent = smtp_server.wait_for(2 * MAILS, timeout=30)
    acks = collections.Counter(m.rcpt_tos[0] for m in sent if m.rcpt_tos[0] != HANDLER)
    notices = _numbers_by_subject(sent, HANDLER)
    resent = sum(acks.values()) - MAILS + sum(notices.values()) - MAILS
    print(f"{kills} kills of {daemons.started - DAEMONS} restarts; {resent} re-sends; "
          f"acks {acks.most_common(2)}, notices {notices.most_common(2)}")  # fmt: skip
    assert len(acks) == MAILS and len(notices) == MAILS, (len(acks), len(notices))
    assert resent <= kills, (acks.most_common(5), notices.most_common(5))
