"""The daemon tells systemd how it is doing (sd_notify over a real Unix datagram socket):
READY after the first pass, WATCHDOG every turn of the loop, STATUS lines, STOPPING; a call
that hangs stops the feeding, so systemd's watchdog would restart it."""

from __future__ import annotations

import contextlib
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import mailflow_env, write_config
from tests.mails import build
from tests.servers import free_port


@pytest.fixture
def notify_socket() -> Iterator[socket.socket]:
    """A datagram socket where systemd would listen (a short path: Unix names are limited)."""
    folder = Path(tempfile.mkdtemp(prefix="mf-", dir="/tmp"))
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(folder / "notify"))
    yield sock
    sock.close()
    (folder / "notify").unlink(missing_ok=True)
    folder.rmdir()


def _messages(sock: socket.socket, seconds: float) -> list[tuple[float, str]]:
    """What arrives within ``seconds``, each with when it arrived."""
    found, deadline = [], time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        sock.settimeout(left)
        try:
            text = sock.recv(4096).decode()
        except TimeoutError:
            break
        found.append((time.monotonic(), text))
    return found


def _messages_until(sock: socket.socket, seconds: float) -> list[tuple[float, str]]:
    """The first message to arrive within ``seconds`` (a list of one), or none."""
    sock.settimeout(seconds)
    try:
        text = sock.recv(4096).decode()
    except TimeoutError:
        return []
    return [(time.monotonic(), text)]


def _daemon(config: Path, sock: socket.socket) -> subprocess.Popen[bytes]:
    env = mailflow_env(NOTIFY_SOCKET=sock.getsockname())
    command = [sys.executable, "-m", "mailflow", "-c", str(config), "run"]
    return subprocess.Popen(command, env=env, stderr=subprocess.PIPE)


def test_ready_watchdog_status_and_stopping(tmp_path: Path, notify_socket: socket.socket) -> None:
    config = write_config(tmp_path, '[mailbox]\nkind = "maildir"\npoll_seconds = 1\n')
    maildir = tmp_path / "var" / "maildir"
    for sub in ("new", "cur", "tmp"):
        (maildir / sub).mkdir(parents=True, exist_ok=True)
    (maildir / "new" / "m1").write_bytes(build("a@example.cn", "s@example.com", "打印机", "坏了"))
    daemon = _daemon(config, notify_socket)
    try:
        first = _messages_until(notify_socket, 30)
        assert first, "no notification within 30 s"
        lines = first[0][1].splitlines()
        assert lines[0] == "READY=1"
        assert lines[1].startswith("STATUS=last pass") and "1 mails handled" in lines[1], lines
        later = [text for _, text in _messages(notify_socket, 4)]
        assert "WATCHDOG=1" in later and any(t.startswith("STATUS=") for t in later), later
    finally:
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(timeout=60)
    rest = [text for _, text in _messages(notify_socket, 2)]
    assert any(t.startswith("STOPPING=1") for t in rest), rest


@contextlib.contextmanager
def _black_hole() -> Iterator[int]:
    """A TCP port that accepts connections and never says a word (a hung server)."""
    server = socket.socket()
    server.bind(("127.0.0.1", free_port()))
    server.listen()
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            with contextlib.suppress(TimeoutError, OSError):
                held.append(server.accept()[0])

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield server.getsockname()[1]
    finally:
        stop.set()
        thread.join()
        for conn in held:
            conn.close()
        server.close()


def test_a_hung_call_stops_feeding_the_watchdog(
    tmp_path: Path, notify_socket: socket.socket
) -> None:
    """A mailbox server that accepts and never answers: the pass hangs until the IMAP timeout
    (8 s), and nothing reaches systemd meanwhile; then the pass fails, the daemon says READY
    with the reason in its status, and the feeding goes on."""
    with _black_hole() as port:
        config = write_config(
            tmp_path,
            f"""
            [mailbox]
            kind = "imap"
            host = "127.0.0.1"
            port = {port}
            security = "none"
            username = "support@example.com"
            password = "x"
            timeout_seconds = 8
            """,
        )
        started = time.monotonic()
        daemon = _daemon(config, notify_socket)
        try:
            got = _messages_until(notify_socket, 20) + _messages(notify_socket, 3)
        finally:
            daemon.send_signal(signal.SIGTERM)
            daemon.wait(timeout=60)
    assert got, "nothing reached systemd after the timeout"
    silent = got[0][0] - started
    assert silent >= 7, (f"the watchdog was fed {silent:.1f} s into a hung call", got)
    assert got[0][1].startswith("READY=1") and "mailbox unavailable" in got[0][1], got[0]
    assert any(text == "WATCHDOG=1" for _, text in got[1:]), got
