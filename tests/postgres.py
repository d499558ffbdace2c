"""A private PostgreSQL cluster for the tests: ``initdb`` in a temporary folder, ``pg_ctl``
on a free port of 127.0.0.1, a UTF-8 locale (C.UTF-8) and trust authentication on loopback
only. It never touches Debian's own cluster. PostgreSQL refuses to run as root: under root
the cluster belongs to ``nobody``.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tests.servers import ServerMissing, free_port


def _bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}")) or [shutil.which(name) or ""]
    if not found[-1]:
        raise ServerMissing(
            f"PostgreSQL's {name} is not installed: apt-get install postgresql "
            "(the tests start a private cluster; the system one is not used)"
        )
    return found[-1]


@dataclass
class Postgres:
    root: Path
    port: int
    user: str = "mailflow"

    @classmethod
    def create(cls) -> Postgres:
        initdb = _bin("initdb")
        root = Path(tempfile.mkdtemp(prefix="mailflow-pg-"))
        root.chmod(0o755)
        as_user: list[str] = []
        if os.geteuid() == 0:
            shutil.chown(root, "nobody", "nogroup")
            as_user = ["runuser", "-u", "nobody", "--"]
        server = cls(root, free_port())
        _run(
            [*as_user, initdb, "-D", str(root / "data"), "-U", server.user, "-A", "trust",
             "--encoding=UTF8", "--locale=C.UTF-8"]
        )  # fmt: skip
        (root / "data" / "postgresql.auto.conf").write_text(
            f"port = {server.port}\nunix_socket_directories = '{root}'\n"
            "listen_addresses = '127.0.0.1'\nfsync = off\n"
        )
        server.as_user = as_user
        server.start()
        return server

    as_user: list[str] | None = None

    def url(self, database: str) -> str:
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str, ctype: str = "C.UTF-8") -> str:
        """A new database (its own LC_CTYPE); its URL."""
        import psycopg2

        con = psycopg2.connect(self.url("postgres"))
        con.autocommit = True
        with con.cursor() as cur:
            cur.execute(
                f"CREATE DATABASE \"{name}\" TEMPLATE template0 ENCODING 'UTF8' "
                f"LC_COLLATE '{ctype}' LC_CTYPE '{ctype}'"
            )
        con.close()
        return self.url(name)

    def stop(self) -> None:
        """Stop the server at once, as a crash or a pulled cable would (no shutdown checkpoint)."""
        _run([*(self.as_user or []), _bin("pg_ctl"), "-D", str(self.root / "data"), "-m",
              "immediate", "stop"])  # fmt: skip

    def start(self) -> None:
        """Start the server again on the same port."""
        _run([*(self.as_user or []), _bin("pg_ctl"), "-D", str(self.root / "data"), "-l",
              str(self.root / "log"), "-w", "start"])  # fmt: skip

    def close(self) -> None:
        with contextlib.suppress(RuntimeError):
            self.stop()
        shutil.rmtree(self.root, ignore_errors=True)


def private_cluster() -> Iterator[Postgres]:
    """A fixture's cluster: started, yielded, removed; the test fails (never skips) with the
    install command when PostgreSQL is missing."""
    import pytest

    try:
        server = Postgres.create()
    except ServerMissing as exc:
        pytest.fail(str(exc), pytrace=False)
    yield server
    server.close()


def _run(cmd: list[str]) -> None:
    result = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{result.stdout}{result.stderr}")
