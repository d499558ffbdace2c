"""`mailflow run` as a long-running process: polling, reconnecting, stopping on signals."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.conftest import mailflow_env, run_mailflow, write_config
from tests.helpers import deliver, start_daemon, wait_until
from tests.mails import build
from tests.servers import Dovecot, SmtpServer


def ticket_count(config: Path) -> int:
    result = run_mailflow(config, "tickets", "--json")
    return len(json.loads(result.stdout)) if result.returncode == 0 else -1


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_daemon_polls_and_stops_cleanly_on_signal(tmp_path: Path, signum: int) -> None:
    """The first signal finishes the mail in hand and exits 0, saying which signal it was."""
    config = write_config(tmp_path, "[mailbox]\npoll_seconds = 1\n")
    log = tmp_path / "daemon.log"
    proc = start_daemon(config, log)
    try:
        wait_until(lambda: "polling every 1 s" in log.read_text())
        deliver(tmp_path / "var/maildir", "m1", build("a@example.com", "s@example.com", "hi", "x"))
        wait_until(lambda: ticket_count(config) == 1)
        proc.send_signal(signum)
        assert proc.wait(15) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    text = log.read_text()
    assert "created from a@example.com" in text
    assert f"{signal.Signals(signum).name} received: stopping after the mail in hand" in text
    assert f"mailflow stopped: {signal.Signals(signum).name} received" in text
    assert "Traceback" not in text


def test_a_second_signal_ends_the_daemon_at_once(tmp_path: Path) -> None:
    """The first SIGTERM only asks the loop to stop; a second one ends the process with the
    signal's own default action, not with an exception raised inside the interrupted code."""
    script = textwrap.dedent(
        """
        import os, signal, sys
        from mailflow.config import defaults
        from mailflow.daemon import Worker, build_mailbox, build_transport, open_services
        config = defaults(__import__("pathlib").Path(sys.argv[1]))
        mailbox, transport = build_mailbox(config, {}), build_transport(config, {})
        worker = Worker(open_services(config), mailbox, transport)
        worker.install_signal_handlers()
        os.kill(os.getpid(), signal.SIGTERM)
        print("asked:", worker.stopping.is_set(), worker.stop_reason, flush=True)
        try:
            os.kill(os.getpid(), signal.SIGTERM)
        except BaseException as exc:
            print("raised", type(exc).__name__, flush=True)
        print("still alive", flush=True)
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path)],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
        env=mailflow_env(),
    )
    assert result.stdout.splitlines() == ["asked: True SIGTERM received"], result.stderr
    assert result.returncode == -signal.SIGTERM
    assert "Traceback" not in result.stderr


def test_daemon_reconnects_after_imap_and_smtp_outage(tmp_path: Path) -> None:
    """Dovecot and the SMTP server go away and come back; the daemon catches up, losing nothing."""
    imap = Dovecot.create({"desk@example.test": "pw"})
    smtp = SmtpServer()
    smtp.start()
    proc = None
    try:
        config = write_config(
            tmp_path,
            f"""
            [support]
            address = "desk@example.test"
            [mailbox]
            kind = "imap"
            host = "127.0.0.1"
            port = {imap.port}
            security = "none"
            username = "desk@example.test"
            password = "pw"
            poll_seconds = 1
            first_run = "all"
            [smtp]
            kind = "smtp"
            host = "127.0.0.1"
            port = {smtp.port}
            security = "none"
        """,
        )
        import imapclient

        def append(subject: str) -> None:
            client = imapclient.IMAPClient("127.0.0.1", port=imap.port, ssl=False)
            client.login("desk@example.test", "pw")
            client.append("INBOX", build("r@example.com", "desk@example.test", subject, "x"))
            client.logout()

        log = tmp_path / "daemon.log"
        append("before outage")
        proc = start_daemon(config, log)
        wait_until(lambda: len(smtp.messages) == 1)

        imap.stop()
        smtp.stop()
        wait_until(lambda: "mailbox unavailable" in log.read_text())
        imap.start()
        append("during outage")
        wait_until(lambda: ticket_count(config) == 2, timeout=40)
        wait_until(lambda: "outgoing mail server unavailable" in log.read_text())
        smtp.start()
        wait_until(lambda: len(smtp.messages) == 2, timeout=40)  # the queued ack went out
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(15) == 0
        text = log.read_text()
        assert "retrying in" in text and "Traceback" not in text
    finally:
        if proc is not None and proc.poll() is None:
            proc.kill()
        smtp.stop()
        imap.close()


def test_idle_acknowledges_at_once_and_survives_a_dead_connection(tmp_path: Path) -> None:
    """With IMAP IDLE a mail is acknowledged within seconds although poll_seconds is 120; when
    the imap process serving the connection is killed, or Dovecot goes away, mid-IDLE, the
    daemon notices the dead socket, reconnects (with backoff while the server is down) and
    finds the mail that arrived meanwhile."""
    import time

    import imapclient

    imap = Dovecot.create({"desk@example.test": "pw"})
    smtp = SmtpServer()
    smtp.start()
    proc = None
    try:
        config = write_config(
            tmp_path,
            f"""
            [support]
            address = "desk@example.test"
            [mailbox]
            kind = "imap"
            host = "127.0.0.1"
            port = {imap.port}
            security = "none"
            username = "desk@example.test"
            password = "pw"
            poll_seconds = 120
            first_run = "all"
            [smtp]
            kind = "smtp"
            host = "127.0.0.1"
            port = {smtp.port}
            security = "none"
        """,
        )

        def append(subject: str) -> float:
            client = imapclient.IMAPClient("127.0.0.1", port=imap.port, ssl=False)
            client.login("desk@example.test", "pw")
            client.append("INBOX", build("r@example.com", "desk@example.test", subject, "x"))
            client.logout()
            return time.monotonic()

        log = tmp_path / "daemon.log"
        proc = start_daemon(config, log)
        wait_until(lambda: "first run on" in log.read_text(), timeout=30)
        for n in range(3):
            appended = append(f"idle {n}")
            wait_until(lambda n=n: len(smtp.messages) == n + 1, timeout=10)
            assert time.monotonic() - appended < 5, "not acknowledged within 5 s with IDLE"
        # Kill only the imap process serving the daemon's connection, while mail arrives.
        serving = f"dovecot-mailflow-test-{imap.port}/imap".encode()
        killed = 0
        for entry in Path("/proc").iterdir():  # no procps needed (Debian minbase has none)
            try:
                title = (entry / "cmdline").read_bytes().rstrip(b"\0").split(b"\0")[0]
            except (OSError, ValueError):
                continue
            if title == serving:
                os.kill(int(entry.name), signal.SIGKILL)
                killed += 1
        assert killed, "no imap process of the test Dovecot found"
        append("while the connection is cut")
        wait_until(lambda: "went silent while idling" in log.read_text(), timeout=20)
        wait_until(lambda: len(smtp.messages) == 4, timeout=20)
        imap.stop()
        wait_until(lambda: log.read_text().count("went silent while idling") == 2, timeout=20)
        imap.start()
        append("while the daemon reconnects")
        wait_until(lambda: len(smtp.messages) == 5, timeout=60)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(15) == 0
        assert "Traceback" not in log.read_text()
    finally:
        if proc is not None and proc.poll() is None:
            proc.kill()
        smtp.stop()
        imap.close()
