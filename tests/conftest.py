"""Shared fixtures: one private Dovecot per test session, a fresh mailbox user and a fresh SMTP
server per test, and helpers to write configs and run the real ``mailflow`` command."""

from __future__ import annotations

import itertools
import os
import re
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import imapclient
import pytest

from tests.postgres import Postgres, private_cluster
from tests.servers import Dovecot, ServerMissing, SmtpServer

REPO = Path(__file__).resolve().parent.parent
MAIL = Path(__file__).resolve().parent / "mail"
_users = itertools.count(1)


@pytest.fixture(scope="session")
def postgres() -> Iterator[Postgres]:
    """A private PostgreSQL cluster on loopback; fails (never skips) when it is missing."""
    yield from private_cluster()


@pytest.fixture(scope="session")
def dovecot() -> Iterator[Dovecot]:
    """A private Dovecot on loopback; fails the test (never skips) when it cannot start."""
    # passwd-file is re-read only when its mtime changes (second granularity), so every account a
    # session may use exists from the start.
    users = {f"support{i}@example.test": "s3cret" for i in range(1, 400)}
    users.update({f"user{i}@example.test": "s3cret" for i in range(1, 50)})
    try:
        server = Dovecot.create(users)
    except ServerMissing as exc:
        pytest.fail(str(exc), pytrace=False)
    yield server
    server.close()


@dataclass
class ImapAccount:
    server: Dovecot
    user: str
    password: str

    def client(self) -> imapclient.IMAPClient:
        client = imapclient.IMAPClient("127.0.0.1", port=self.server.port, ssl=False, timeout=10)
        client.login(self.user, self.password)
        return client

    def append(
        self, raw: bytes, folder: str = "INBOX", flags: tuple[bytes, ...] = (), when: object = None
    ) -> None:
        client = self.client()
        try:
            if not client.folder_exists(folder):
                client.create_folder(folder)
            client.append(folder, raw, flags=flags, msg_time=when)
        finally:
            client.logout()

    def messages(self, folder: str = "INBOX") -> dict[int, dict[bytes, object]]:
        client = self.client()
        try:
            if not client.folder_exists(folder):
                return {}
            client.select_folder(folder, readonly=True)
            uids = client.search(["ALL"])
            return client.fetch(uids, ["FLAGS", "BODY.PEEK[]"]) if uids else {}
        finally:
            client.logout()


def new_account(server: Dovecot) -> ImapAccount:
    """A fresh, empty mailbox on ``server``: a user no test of the session had."""
    return ImapAccount(server, f"support{next(_users)}@example.test", "s3cret")


def imap_keys(account: ImapAccount) -> str:
    """The keys of a ``[mailbox]`` or ``[[mailbox]]`` table that reads ``account`` over plain
    IMAP, taking the mail already there."""
    return textwrap.dedent(f"""\
        kind = "imap"
        host = "127.0.0.1"
        port = {account.server.port}
        security = "none"
        username = "{account.user}"
        password_env = "TEST_IMAP_PASSWORD"
        first_run = "all"
    """)


def smtp_table(server: SmtpServer) -> str:
    """An ``[smtp]`` table that sends to ``server`` (the test SMTP server, its login)."""
    return textwrap.dedent(f"""\
        [smtp]
        kind = "smtp"
        host = "127.0.0.1"
        port = {server.port}
        security = "none"
        username = "mailer"
        password_env = "TEST_SMTP_PASSWORD"
    """)


@pytest.fixture
def imap_account(dovecot: Dovecot) -> ImapAccount:
    """A fresh, empty mailbox on the session's Dovecot."""
    return new_account(dovecot)


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    server = SmtpServer(username="mailer", password="smtp-pass")
    server.start()
    yield server
    server.stop()


ON_POSTGRESQL = os.environ.get("MAILFLOW_TEST_DATABASE", "sqlite") == "postgresql"
_cluster: list[Postgres] = []  # the session's cluster, once a test on PostgreSQL asked for it


def write_config(folder: Path, body: str, follow: bool = True) -> Path:
    """A config file in ``folder``; with MAILFLOW_TEST_DATABASE=postgresql and no
    ``[database]`` of its own, on a fresh database of the session's private cluster (unless
    not ``follow``: a test of the defaults, or of SQLite's own machinery)."""
    text = textwrap.dedent(body)
    if (
        follow
        and ON_POSTGRESQL
        and _cluster
        and not re.search(r"^\s*\[database\]", text, re.MULTILINE)
    ):
        url = _cluster[0].create_database(f"test_{os.getpid()}_{next(_databases)}")
        text += f'\n[database]\nurl = "{url}"\n'
    path = folder / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture(autouse=True)
def _database_setting(request: pytest.FixtureRequest) -> None:
    """On PostgreSQL, start the cluster before the test writes its config."""
    if ON_POSTGRESQL and not _cluster:
        _cluster.append(request.getfixturevalue("postgres"))


_databases = itertools.count(1)


@pytest.fixture
def database_url(request: pytest.FixtureRequest) -> str:
    """SQLite beside the config, or with MAILFLOW_TEST_DATABASE=postgresql a fresh database
    of the private PostgreSQL cluster."""
    if not ON_POSTGRESQL:
        return "sqlite:///var/mailflow.db"
    server: Postgres = request.getfixturevalue("postgres")
    return server.create_database(f"test_{os.getpid()}_{next(_databases)}")


@pytest.fixture
def e2e_config(
    tmp_path: Path, imap_account: ImapAccount, smtp_server: SmtpServer, database_url: str
) -> Path:
    """A config pointing at the test Dovecot (plain IMAP) and the test SMTP server."""
    return write_config(
        tmp_path,
        textwrap.dedent(f"""
        [support]
        address = "{imap_account.user}"
        name = "IT 服务台"
        timezone = "Asia/Shanghai"
        language = "zh_CN"
        ticket_prefix = "TS"
        [database]
        url = "{database_url}"
        [storage]
        path = "var/store"
        """)
        + "[mailbox]\n"
        + imap_keys(imap_account)
        + smtp_table(smtp_server)
        + "retry_base_seconds = 1\n",
    )


def mailflow_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(TEST_IMAP_PASSWORD="s3cret", TEST_SMTP_PASSWORD="smtp-pass", PYTHONPATH=str(REPO))
    env.update(extra)
    return env


# The moment every `run --once`, `ingest` and `check` of the tests runs at (``--now``), unless
# a test moves it: ticket numbers, dates and deadlines then follow from the test, never from the
# machine's clock (which could cross midnight in the support time zone mid-test).
NOW = "2026-12-01T10:00:00+08:00"


def run_mailflow(
    config: Path | None,
    *args: str,
    stdin: bytes | None = None,
    timeout: float = 120,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    now: str | None = NOW,
) -> subprocess.CompletedProcess[str]:
    """Run the real command line in a child process; a pass or an ingest at ``now``."""
    timed = args[:1] in (("ingest",), ("check",)) or (args[:1] == ("run",) and "--once" in args)
    if now is not None and timed and "--now" not in args:
        args = (*args, "--now", now)
    cmd = [sys.executable, "-m", "mailflow"]
    if config is not None:
        cmd += ["-c", str(config)]
    result = subprocess.run(  # noqa: PLW1510 - callers assert on the exit code
        [*cmd, *args],
        input=stdin,
        capture_output=True,
        timeout=timeout,
        env=env or mailflow_env(),
        cwd=cwd,
    )
    return subprocess.CompletedProcess(
        result.args,
        result.returncode,
        result.stdout.decode("utf-8", "replace"),
        result.stderr.decode("utf-8", "replace"),
    )


@pytest.fixture(autouse=True)
def _close_workers(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Stop the child processes of every in-process Worker a test made."""
    from mailflow.daemon import Worker

    made: list[Worker] = []
    original = Worker.__init__

    def tracking(self: Worker, *args: object, **kwargs: object) -> None:
        original(self, *args, **kwargs)  # type: ignore[arg-type]
        made.append(self)

    monkeypatch.setattr(Worker, "__init__", tracking)
    yield
    for worker in made:
        worker.close()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """With MAILFLOW_TEST_DATABASE=postgresql, only the modules whose databases follow that
    setting run (they use ``database_url``, ``e2e_config`` or ``write_config``): the others
    use no database, or their own, and already ran in the SQLite pass."""
    if not ON_POSTGRESQL:
        return
    follow = ("database_url", "e2e_config", "write_config(")
    keep = [
        item
        for item in items
        if any(word in Path(str(item.fspath)).read_text(encoding="utf-8") for word in follow)
        # A test of its own PostgreSQL databases (chaos, takeover, outage) ran in the first pass.
        and "postgres" not in getattr(item, "fixturenames", ())
        and "database" not in getattr(getattr(item, "callspec", None), "params", {})
    ]
    config.hook.pytest_deselected(items=[i for i in items if i not in keep])
    items[:] = keep
