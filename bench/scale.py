"""How far one daemon goes, on SQLite and on PostgreSQL, and what more daemons add.

    .venv/bin/python bench/scale.py [--mails 900] [--repeat 2]

Each case starts from an empty database and Maildir mailboxes holding the same generated mails
(bench/ingest.py's mix: Chinese and English, a sixth with attachments), and times `mailflow
run --once` processes from start to exit: every mail read, parsed, stored, made a ticket,
acknowledged and the acknowledgement written out (a Maildir "SMTP", so that no SMTP server's
speed is measured). Cases:

* sqlite, 1 mailbox, 1 process;
* postgresql (a private cluster, fsync on, as a server would run it), 1 mailbox, 1 process;
* postgresql, 3 mailboxes (a third of the mails each), 1 process reading all three;
* postgresql, 3 mailboxes, 3 processes at once (each takes the mailbox no other holds).

The floor is the same as bench/ingest.py's idea, without a server: reading and parsing every
mail with mail-parser in one process. Figures are mails per second and the ratio to the floor
measured in the same run; best of --repeat.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from ingest import generate  # noqa: E402

from tests.postgres import Postgres  # noqa: E402

PYTHON = str(REPO / ".venv" / "bin" / "python") if (REPO / ".venv").exists() else sys.executable


def floor(mails: list[bytes]) -> float:
    """Seconds for a fresh Python to import mail-parser and parse every mail."""
    with tempfile.TemporaryDirectory() as folder:
        for n, raw in enumerate(mails):
            (Path(folder) / f"{n}.eml").write_bytes(raw)
        code = (
            "import sys, pathlib, mailparser\n"
            "for p in sorted(pathlib.Path(sys.argv[1]).iterdir()):\n"
            "    mailparser.parse_from_bytes(p.read_bytes())\n"
        )
        started = time.perf_counter()
        subprocess.run([PYTHON, "-c", code, folder], check=True)
        return time.perf_counter() - started


def desk(root: Path, mails: list[bytes], boxes: int, url: str) -> Path:
    """A config with ``boxes`` Maildir mailboxes sharing ``mails`` between them."""
    tables = []
    for b in range(boxes):
        path = root / f"box{b}"
        for sub in ("new", "cur", "tmp"):
            (path / sub).mkdir(parents=True)
        for n, raw in enumerate(mails[b::boxes]):
            (path / "new" / f"{n:05d}.eml").write_bytes(raw)
        tables.append(
            f'[[mailbox]]\nkind = "maildir"\npath = "{path}"\nfirst_run = "all"\n'
            f'address = "desk{b}@example.com"\n'
        )
    config = root / "config.toml"
    config.write_text(
        textwrap.dedent(f"""
        [database]
        url = "{url}"
        [smtp]
        kind = "maildir"
        """)
        + "\n".join(tables)
    )
    return config


def run(config: Path, processes: int) -> float:
    """Seconds for ``processes`` `run --once` started together to all finish."""
    env = dict(os.environ, PYTHONPATH=str(REPO))
    command = [PYTHON, "-m", "mailflow", "-c", str(config), "run", "--once"]
    started = time.perf_counter()
    running = [subprocess.Popen(command, env=env, stderr=subprocess.PIPE) for _ in range(processes)]
    for p in running:
        _, err = p.communicate()
        if p.returncode != 0:
            raise SystemExit(f"mailflow failed:\n{err.decode()[-2000:]}")
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mails", type=int, default=900)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    mails = generate(args.mails)
    size = sum(len(m) for m in mails) / 1024 / 1024
    cluster = Postgres.create()
    # A server keeps fsync on; the test cluster turns it off.
    (cluster.root / "data" / "postgresql.auto.conf").write_text(
        (cluster.root / "data" / "postgresql.auto.conf").read_text().replace("fsync = off", "")
    )
    cluster.stop()
    cluster.start()
    cases = [("sqlite", 1, 1), ("postgresql", 1, 1), ("postgresql", 3, 1), ("postgresql", 3, 3)]
    best: dict[tuple[str, int, int], float] = {}
    floors: list[float] = []
    try:
        for attempt in range(args.repeat):
            floors.append(floor(mails))
            for n, (kind, boxes, processes) in enumerate(cases):
                with tempfile.TemporaryDirectory(prefix="mailflow-scale-") as folder:
                    root = Path(folder)
                    url = f"sqlite:///{root}/mailflow.db"
                    if kind == "postgresql":
                        url = cluster.create_database(f"scale_{attempt}_{n}")
                    took = run(desk(root, mails, boxes, url), processes)
                key = (kind, boxes, processes)
                best[key] = min(best.get(key, took), took)
    finally:
        cluster.close()
    base = args.mails / min(floors)
    print(f"{args.mails} mails, {size:.1f} MB; floor (parse only): {base:.0f} mails/s\n")
    print("| database | mailboxes | processes | mails/s | against the floor |")
    print("|---|---:|---:|---:|---:|")
    for (kind, boxes, processes), took in best.items():
        rate = args.mails / took
        print(f"| {kind} | {boxes} | {processes} | {rate:.0f} | {rate / base:.2f} |")


if __name__ == "__main__":
    main()
