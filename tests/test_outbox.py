"""Outbox delivery through a real SMTP server: retries with backoff, permanent failures, outages."""

from __future__ import annotations

import datetime as dt
import random
from pathlib import Path

from mailflow import config as config_mod
from mailflow.daemon import Worker, build_transport, open_services
from mailflow.pipeline.handling import handle
from mailflow.sources import RawMail
from mailflow.store.models import Event, Outbox
from tests.conftest import write_config
from tests.mails import build
from tests.servers import SmtpServer

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


def test_deferred_mail_is_retried_with_backoff(tmp_path: Path, smtp_server: SmtpServer) -> None:
    worker = make_worker(tmp_path, smtp_server)
    new_ticket(worker)
    smtp_server.data_reply = "451 4.3.0 try again later"
    worker.run_once(T0)
    row = Outbox.get()
    assert row.status == "pending" and row.attempts == 1 and "451" in row.last_error
    delay = (row.next_attempt_at - T0.replace(tzinfo=None)).total_seconds()
    assert 45 <= delay <= 75  # 60 s ± jitter
    worker.run_once(T0 + dt.timedelta(seconds=10))  # not due yet: nothing is tried
    assert Outbox.get().attempts == 1
    smtp_server.data_reply = ""
    report = worker.run_once(T0 + dt.timedelta(seconds=80))
    assert report.sent == 1
    assert Outbox.get().status == "sent"
    assert len(smtp_server.messages) == 1


def test_permanent_refusal_fails_with_event(tmp_path: Path, smtp_server: SmtpServer) -> None:
    worker = make_worker(tmp_path, smtp_server)
    smtp_server.rcpt_reply["user1@example.com"] = "550 5.1.1 no such user"
    new_ticket(worker)
    worker.run_once(T0)
    row = Outbox.get()
    assert row.status == "failed" and "550" in row.last_error
    event = Event.get(Event.kind == "mail_failed")
    assert "550" in event.data["error"]


def test_attempts_run_out(tmp_path: Path, smtp_server: SmtpServer) -> None:
    worker = make_worker(tmp_path, smtp_server)
    new_ticket(worker)
    smtp_server.data_reply = "452 4.2.2 mailbox full"
    now = T0
    for _ in range(3):
        worker.run_once(now)
        now += dt.timedelta(hours=1)
    row = Outbox.get()
    assert row.status == "failed" and row.attempts == 3
    assert "gave up after 3 attempts" in row.last_error


def test_server_down_keeps_mail_queued_then_catches_up(
    tmp_path: Path, smtp_server: SmtpServer
) -> None:
    """An unreachable server costs no attempts; mail waits and goes out when it is back."""
    worker = make_worker(tmp_path, smtp_server)
    smtp_server.stop()
    new_ticket(worker, 1)
    new_ticket(worker, 2)
    report = worker.run_once(T0)
    assert report.sent == 0 and "connection refused" in report.errors[0]
    assert [r.status for r in Outbox.select()] == ["pending", "pending"]
    assert all(r.attempts == 0 for r in Outbox.select())
    assert worker.smtp_backoff.failures == 1
    smtp_server.start()
    report = worker.run_once(T0 + dt.timedelta(minutes=10))
    assert report.sent == 2
    assert len(smtp_server.wait_for(2)) == 2


def test_bad_smtp_password_is_reported_as_such(tmp_path: Path, smtp_server: SmtpServer) -> None:
    worker = make_worker(tmp_path, smtp_server, password="wrong")
    new_ticket(worker)
    report = worker.run_once(T0)
    assert "login as mailer refused" in report.errors[0]
    assert Outbox.get().status == "pending"
