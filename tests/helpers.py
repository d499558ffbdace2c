"""What many end-to-end tests share: the moved clock, the CLI's ticket views, a desk's people.

Every `run --once` and `ingest` a test starts through ``conftest.run_mailflow`` runs at ``NOW``
(``--now``), so ticket numbers and dates follow from the test, not from the machine's clock.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path
from zoneinfo import ZoneInfo

from mailflow import config as config_mod
from mailflow.daemon import Worker, build_transport, open_services
from mailflow.pipeline.handling import handle
from mailflow.sources import RawMail
from tests.conftest import NOW, mailflow_env, run_mailflow, write_config
from tests.mails import build
from tests.servers import SmtpServer


def today_prefix() -> str:
    """The ticket number prefix of ``NOW``'s day in the support time zone (Asia/Shanghai)."""
    moment = dt.datetime.fromisoformat(NOW).astimezone(ZoneInfo("Asia/Shanghai"))
    return "TS" + moment.strftime("%Y%m%d")


def tickets(config: Path) -> list[dict[str, object]]:
    result = run_mailflow(config, "tickets", "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def show(config: Path, number: str) -> dict[str, object]:
    result = run_mailflow(config, "ticket", "show", number, "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def run_once(config: Path, now: str = NOW) -> str:
    """One pass at ``now``; its log."""
    result = run_mailflow(config, "run", "--once", now=now)
    assert result.returncode == 0, result.stderr
    return result.stderr


# A desk of engineers, a supervisor on duty and two groups (硬件支持组 is the default).
PEOPLE = """
[[people]]
name = "王伟"
email = "wang.wei@example.com"
role = "engineer"
groups = ["系统运维组"]
[[people]]
name = "Tom Lee"
email = "tom.lee@example.com"
role = "engineer"
groups = ["系统运维组"]
away = true
[[people]]
name = "周杰"
email = "zhou.jie@example.com"
role = "engineer"
groups = ["硬件支持组"]
[[people]]
name = "李娜"
email = "li.na@example.com"
role = "supervisor"
[[groups]]
name = "系统运维组"
supervisor = "li.na@example.com"
categories = ["业务系统", "网络"]
[[groups]]
name = "硬件支持组"
supervisor = "li.na@example.com"
categories = ["外设", "终端设备"]
default = true
[[duty]]
supervisor = "li.na@example.com"
"""

# A service-desk member who registers callers' requests.
DESK = """
[[people]]
name = "前台小刘"
email = "desk.liu@example.com"
role = "service_desk"
"""


# -- a daemon as a process ----------------------------------------------------------------


def start_daemon(config: Path, log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "mailflow", "-c", str(config), "run"],
        stdout=subprocess.DEVNULL,
        stderr=open(log, "wb"),
        env=mailflow_env(),
    )


def wait_until(condition, timeout: float = 20.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError("condition not met in time")


# -- a local Maildir ----------------------------------------------------------------------


def deliver(maildir: Path, name: str, data: bytes, age_days: float = 0, seen: bool = False) -> Path:
    for sub in ("new", "cur", "tmp"):
        (maildir / sub).mkdir(parents=True, exist_ok=True)
    target = maildir / ("cur" if seen else "new") / (name + (":2,S" if seen else ""))
    target.write_bytes(data)
    when = time.time() - age_days * 86400
    os.utime(target, (when, when))
    return target


# -- an in-process worker without a mailbox, for the outbox ---------------------------------

T0 = dt.datetime(2026, 11, 25, 1, 0, tzinfo=dt.UTC)


class NoMailbox:
    def plan(self, now: dt.datetime) -> list[list[tuple[str, str]]]:
        return []

    def reader(self):  # type: ignore[no-untyped-def]
        raise AssertionError("nothing to read")

    def ack(self, source_ref: str) -> None: ...
    def owns(self, source_ref: str) -> bool:
        return False

    def close(self) -> None: ...


def make_worker(tmp_path: Path, smtp: SmtpServer, password: str = "smtp-pass") -> Worker:
    path = write_config(
        tmp_path,
        f"""
        [smtp]
        kind = "smtp"
        host = "127.0.0.1"
        port = {smtp.port}
        security = "none"
        username = "mailer"
        password = "{password}"
        retry_base_seconds = 60
        retry_max_seconds = 600
        max_attempts = 3
    """,
    )
    cfg = config_mod.load(path)
    services = open_services(cfg)
    return Worker(
        services, NoMailbox(), build_transport(cfg, {}), clock=lambda: T0, rng=random.Random(7)
    )


def new_ticket(worker: Worker, n: int = 1) -> None:
    raw = build(f"user{n}@example.com", "support@example.com", f"problem {n}", "help")
    assert handle(RawMail(raw, f"test:{n}"), T0, worker.services).action == "created"


def sql(config: Path, statement: str, params: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
    """Run one SQL statement on the config's database, SQLite or PostgreSQL (``?`` marks);
    for tests that poison a row or move a date as an older version or time would have."""
    url = config_mod.load(config).database_url
    if url.startswith("sqlite:///"):
        import sqlite3

        with contextlib.closing(sqlite3.connect(url.removeprefix("sqlite:///"))) as conn:
            rows = list(conn.execute(statement, params))
            conn.commit()
        return rows
    import psycopg2

    with contextlib.closing(psycopg2.connect(url)) as conn, conn.cursor() as cur:
        cur.execute(statement.replace("?", "%s"), params)
        rows = list(cur.fetchall()) if cur.description else []
        conn.commit()
    return rows
