"""Real servers for the end-to-end tests: a private Dovecot and an aiosmtpd SMTP server.

Both listen on 127.0.0.1 on free high ports, keep everything in their own temporary folder, and
never touch a system-wide service or config. A missing Dovecot raises ``ServerMissing`` with
the install command: tests fail loudly, they never skip.

Dovecot does not run mail processes as root, so the private instance serves its users as
``nobody`` from a world-traversable temp folder, with its own base_dir, passwd-file and TLS
certificate (issued by a throw-away CA, so clients can verify it like a real one).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

DOVECOT = shutil.which("dovecot") or "/usr/sbin/dovecot"


class ServerMissing(RuntimeError):
    """A server the tests need is not installed."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(
    port: int,
    timeout: float = 15.0,
    proc: subprocess.Popen[bytes] | None = None,
    log: Path | None = None,
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            text = log.read_text(errors="replace") if log and log.exists() else ""
            raise RuntimeError(f"server exited with {proc.returncode}:\n{text}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listening on 127.0.0.1:{port} after {timeout}s")


def make_tls(folder: Path) -> tuple[Path, Path, Path]:
    """A throw-away CA and a certificate for 127.0.0.1/localhost signed by it."""
    if shutil.which("openssl") is None:
        raise ServerMissing("openssl is not installed (apt-get install openssl)")
    folder.mkdir(parents=True, exist_ok=True)
    ca_key, ca_crt = folder / "ca.key", folder / "ca.crt"
    key, csr, crt = folder / "server.key", folder / "server.csr", folder / "server.crt"
    ext = folder / "ext.cnf"
    ext.write_text(
        "subjectAltName=IP:127.0.0.1,DNS:localhost\n"
        "basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\n"
        "extendedKeyUsage=serverAuth\n"
    )

    def run(*args: str) -> None:
        subprocess.run(["openssl", *args], check=True, capture_output=True)

    run(
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "2",
        "-subj",
        "/CN=mailflow test CA",
        "-keyout",
        str(ca_key),
        "-out",
        str(ca_crt),
    )
    run(
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        "/CN=localhost",
        "-keyout",
        str(key),
        "-out",
        str(csr),
    )
    run(
        "x509",
        "-req",
        "-in",
        str(csr),
        "-CA",
        str(ca_crt),
        "-CAkey",
        str(ca_key),
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        str(ext),
        "-out",
        str(crt),
    )
    return ca_crt, crt, key


@dataclass
class Dovecot:
    """A private Dovecot IMAP server."""

    root: Path
    port: int = field(default_factory=free_port)
    ssl_port: int = field(default_factory=free_port)
    users: dict[str, str] = field(default_factory=dict)
    proc: subprocess.Popen[bytes] | None = None
    ca_file: Path | None = None
    extra_config: str = ""
    tls: bool = True

    @classmethod
    def create(cls, users: dict[str, str], extra_config: str = "", tls: bool = True) -> Dovecot:
        if not Path(DOVECOT).exists():
            raise ServerMissing(
                "Dovecot is not installed: the end-to-end tests need a real IMAP server "
                "(apt-get install dovecot-imapd dovecot-sieve, or run `bash .ci/run`)"
            )
        root = Path(tempfile.mkdtemp(prefix="mailflow-dovecot-"))
        root.chmod(0o755)  # mail processes run as nobody and must reach their folders
        server = cls(root=root, users=dict(users), extra_config=extra_config, tls=tls)
        server._write_config()
        server.start()
        return server

    @property
    def config_path(self) -> Path:
        return self.root / "dovecot.conf"

    @property
    def log_path(self) -> Path:
        return self.root / "dovecot.log"

    def _write_config(self) -> None:
        r = self.root
        self.ca_file, crt, key = make_tls(r / "tls")
        for sub in ("run", "state", "mail", "home"):
            (r / sub).mkdir(exist_ok=True)
        for sub in ("mail", "home"):
            shutil.chown(r / sub, "nobody", "nogroup")
        self.write_users()
        self.config_path.write_text(f"""
base_dir = {r}/run
state_dir = {r}/state
instance_name = mailflow-test-{self.port}
log_path = {self.log_path}
protocols = imap
listen = 127.0.0.1
{f"ssl = yes{chr(10)}ssl_cert = <{crt}{chr(10)}ssl_key = <{key}" if self.tls else "ssl = no"}
disable_plaintext_auth = no
auth_mechanisms = plain login
mail_location = maildir:{r}/mail/%u
default_internal_user = dovecot
default_login_user = dovenull
first_valid_uid = 1
mail_privileged_group =
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {r}/passwd
}}
userdb {{
  driver = static
  args = uid=nobody gid=nogroup home={r}/home/%u
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {self.port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {self.ssl_port if self.tls else 0}
    ssl = {"yes" if self.tls else "no"}
  }}
}}
service stats {{
  unix_listener stats-reader {{
    mode = 0666
  }}
  unix_listener stats-writer {{
    mode = 0666
  }}
}}
protocol imap {{
  mail_max_userip_connections = 200
}}
{self.extra_config}
""")

    def write_users(self) -> None:
        lines = [f"{user}:{{PLAIN}}{password}::::::" for user, password in self.users.items()]
        (self.root / "passwd").write_text("\n".join(lines) + "\n")
        (self.root / "passwd").chmod(0o644)

    def add_user(self, user: str, password: str) -> None:
        self.users[user] = password
        self.write_users()

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [DOVECOT, "-F", "-c", str(self.config_path)],
            stdout=subprocess.DEVNULL,
            stderr=open(self.root / "dovecot.stderr", "ab"),  # noqa: SIM115
            start_new_session=True,  # its own process group, so stop() takes every child along
        )
        wait_for_port(self.port, proc=self.proc, log=self.root / "dovecot.stderr")
        if self.tls:
            wait_for_port(self.ssl_port, proc=self.proc, log=self.root / "dovecot.stderr")

    def stop(self) -> None:
        # Like a server going down: the master and every imap process serving a client end, so
        # open connections drop (the master alone would leave logged-in sessions running).
        if self.proc is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline:
                try:
                    os.killpg(self.proc.pid, 0)
                except ProcessLookupError:
                    break
                time.sleep(0.05)
        self.proc = None

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    def maildir(self, user: str, folder: str = "INBOX") -> Path:
        base = self.root / "mail" / user
        return base if folder == "INBOX" else base / f".{folder}"

    def tls_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=str(self.ca_file))
        return context


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes
    received_at: float = field(default_factory=time.monotonic)  # when the server accepted it


class _Handler:
    def __init__(self, server: SmtpServer) -> None:
        self.server = server

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # type: ignore[no-untyped-def]
        code = self.server.rcpt_reply.get(address.lower())
        if code:
            return code
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # type: ignore[no-untyped-def]
        if self.server.data_reply:
            return self.server.data_reply
        with self.server.lock:
            self.server.messages.append(
                Received(envelope.mail_from, list(envelope.rcpt_tos), bytes(envelope.content))
            )
        return "250 Message accepted for delivery"


class SmtpServer:
    """aiosmtpd on loopback, recording every accepted message."""

    def __init__(self, username: str = "", password: str = "", smtputf8: bool = False) -> None:
        self.port = free_port()
        self.smtputf8 = smtputf8
        self.username = username
        self.password = password
        self.messages: list[Received] = []
        self.lock = threading.Lock()
        self.rcpt_reply: dict[str, str] = {}
        self.data_reply = ""
        self.controller: Controller | None = None

    def _authenticate(self, server, session, envelope, mechanism, auth_data):  # type: ignore[no-untyped-def]
        ok = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login.decode() == self.username
            and auth_data.password.decode() == self.password
        )
        return AuthResult(success=ok, handled=False)

    def start(self) -> None:
        kwargs: dict[str, object] = {}
        if self.username:
            kwargs = {
                "authenticator": self._authenticate,
                "auth_require_tls": False,
                "auth_required": True,
            }
        self.controller = Controller(
            _Handler(self),
            hostname="127.0.0.1",
            port=self.port,
            enable_SMTPUTF8=self.smtputf8,
            **kwargs,
        )
        self.controller.start()

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
        self.controller = None

    def wait_for(self, count: int, timeout: float = 10.0) -> list[Received]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.messages) >= count:
                    return list(self.messages)
            time.sleep(0.02)
        with self.lock:
            return list(self.messages)


def env_without_proxies() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
