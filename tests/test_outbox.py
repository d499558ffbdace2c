"""Outbox delivery through a real SMTP server: retries with backoff, permanent failures, outages."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from mailflow.store.models import Event, Outbox
from tests.helpers import T0, make_worker, new_ticket
from tests.servers import SmtpServer


def test_deferred_mail_is_retried_with_backoff(tmp_path: Path, smtp_server: SmtpServer) -> None:
    """A 4xx reply defers the row with jittered exponential backoff; it is not tried before it
    is due."""
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
    """A 5xx for the recipient fails the row at once, with a mail_failed event on the ticket."""
    worker = make_worker(tmp_path, smtp_server)
    smtp_server.rcpt_reply["user1@example.com"] = "550 5.1.1 no such user"
    new_ticket(worker)
    worker.run_once(T0)
    row = Outbox.get()
    assert row.status == "failed" and "550" in row.last_error
    event = Event.get(Event.kind == "mail_failed")
    assert "550" in event.data["error"]


def test_attempts_run_out(tmp_path: Path, smtp_server: SmtpServer) -> None:
    """A mail deferred max_attempts times fails for good."""
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
    """A refused SMTP login is named as such and costs the mail no attempt."""
    worker = make_worker(tmp_path, smtp_server, password="wrong")
    new_ticket(worker)
    report = worker.run_once(T0)
    assert "login as mailer refused" in report.errors[0]
    assert Outbox.get().status == "pending"
