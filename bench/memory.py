"""Memory per mail: peak resident memory of every mailflow process while one large mail goes
through `mailflow run --once`, against the mail's size.

    .venv/bin/python bench/memory.py [--sizes 5,15,50] [--source imap|maildir]

For each attachment size a mail is built (a PDF-like random attachment, base64 as mail
clients send it, so the mail is about 1.37 times the attachment), put in a private Dovecot
(or a Maildir), and one `mailflow run --once` handles it with SQLite, the blob store and a
Maildir for outgoing mail. The peak RSS (VmHWM) of the main process and of each child it
forks (parse worker, sending process) is read from /proc while they run; their sum is an upper
bound of what the machine needed, since forks share the pages they did not write.

The desk has an engineer, so the assignment mail carries the file while it is within
``[limits] forward_mb`` (10 MB by default; larger files are named and kept with the ticket):
the main process reads it back from the store and builds that mail, the sending process sends
it.

The floor, measured in the same run: a Python that imports mailflow's libraries and does
nothing (what any mailflow process costs before it sees a mail). Target (issue 13): every
process at most 60 MB + 3 x the mail.
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.mails import build  # noqa: E402
from tests.servers import Dovecot  # noqa: E402

MB = 1024 * 1024
PYTHON = str(REPO / ".venv" / "bin" / "python") if (REPO / ".venv").exists() else sys.executable


def hwm_kib(pid: int) -> int | None:
    """Peak resident memory of ``pid`` so far (VmHWM), or None once it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError):
        return None
    return None


def children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except FileNotFoundError:
        return []
    return [int(p) for p in text.split()]


def watch(command: list[str], env: dict[str, str]) -> tuple[int, dict[str, int], str]:
    """Run ``command``; its exit code, the peak RSS (KiB) of it and each descendant (by
    name and pid), and its stderr."""
    process = subprocess.Popen(command, env=env, stderr=subprocess.PIPE)
    peaks: dict[int, int] = {}
    names: dict[int, str] = {}
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            tree, todo = [], [process.pid]
            while todo:
                pid = todo.pop()
                tree.append(pid)
                todo += children(pid)
            for pid in tree:
                peak = hwm_kib(pid)
                if peak is not None:
                    peaks[pid] = max(peaks.get(pid, 0), peak)
                    if pid not in names:
                        try:
                            names[pid] = Path(f"/proc/{pid}/comm").read_text().strip()
                        except FileNotFoundError:
                            names[pid] = "?"
            time.sleep(0.005)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    _, err = process.communicate()
    done.set()
    sampler.join()
    labelled = {
        ("main" if pid == process.pid else f"{names.get(pid, '?')}[{pid}]"): kib
        for pid, kib in peaks.items()
    }
    return process.returncode, labelled, err.decode("utf-8", "replace")


def attachment(size: int, seed: int) -> bytes:
    rng = random.Random(seed)
    return b"%PDF-1.7\n" + rng.randbytes(size - 9)


def config_text(source: str, port: int, user: str) -> str:
    mailbox = (
        f"""
        [mailbox]
        kind = "imap"
        host = "127.0.0.1"
        port = {port}
        security = "none"
        username = "{user}"
        password = "s3cret"
        first_run = "all"
        """
        if source == "imap"
        else '[mailbox]\nkind = "maildir"\nfirst_run = "all"\n'
    )
    return textwrap.dedent(
        mailbox
        + """
        [smtp]
        kind = "maildir"
        [limits]
        max_mail_mb = 200
        max_attachment_mb = 100
        max_attachments_total_mb = 200
        [[people]]
        name = "周杰"
        email = "zhou.jie@example.com"
        role = "engineer"
        groups = ["硬件支持组"]
        [[groups]]
        name = "硬件支持组"
        default = true
        """
    )


def floor(env: dict[str, str]) -> int:
    """Peak RSS (KiB) of a Python that imports what mailflow imports, and nothing more."""
    code = "import mailflow.cli, mailflow.daemon, mailflow.pipeline.handling, mailparser"
    _, peaks, _ = watch([PYTHON, "-c", code], env)
    return peaks["main"]


def one(
    size_mb: float,
    source: str,
    dovecot: Dovecot | None,
    user: str,
    env: dict[str, str],
    base: float,
) -> None:
    """One mail with a ``size_mb`` attachment through ``run --once``: its table row."""
    raw = build(
        "王芳 <wang.fang@example.cn>",
        "support@example.com",
        f"附件 {size_mb} MB",
        "请看附件。",
        attachments=(("报告.pdf", "application/pdf", attachment(int(size_mb * MB), 7)),),
    )
    with tempfile.TemporaryDirectory(prefix="mailflow-mem-") as folder:
        root = Path(folder)
        port = dovecot.port if dovecot else 0
        (root / "config.toml").write_text(config_text(source, port, user))
        if dovecot is not None:
            import imapclient

            client = imapclient.IMAPClient("127.0.0.1", port=port, ssl=False)
            client.login(user, "s3cret")
            client.append("INBOX", raw)
            client.logout()
        else:
            for sub in ("new", "cur", "tmp"):
                (root / "var" / "maildir" / sub).mkdir(parents=True, exist_ok=True)
            (root / "var" / "maildir" / "new" / "big.eml").write_bytes(raw)
        command = [PYTHON, "-m", "mailflow", "-c", str(root / "config.toml"), "run", "--once"]
        code, peaks, err = watch(command, env)
        if code != 0:
            raise SystemExit(f"mailflow failed:\n{err}")
        if "created" not in err:
            raise SystemExit(f"no ticket made:\n{err}")
    mail_mb = len(raw) / MB
    target = 60 + 3 * mail_mb
    worst = max(peaks.values()) / 1024
    print(
        f"| {source} | {size_mb:g} | {mail_mb:.1f} | {peaks['main'] / 1024:.0f} | "
        + ", ".join(f"{v / 1024:.0f}" for k, v in sorted(peaks.items()) if k != "main")
        + f" | {sum(peaks.values()) / 1024:.0f} | {(worst - base) / mail_mb:.1f} | {target:.0f} | "
        + ("yes" if worst <= target else "**no**")
        + " |",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="5,15,50", help="attachment sizes in MB")
    parser.add_argument("--source", choices=("imap", "maildir", "both"), default="both")
    args = parser.parse_args()
    env = dict(os.environ, PYTHONPATH=str(REPO))
    sources = ("imap", "maildir") if args.source == "both" else (args.source,)
    base = floor(env) / 1024
    print(f"floor (a Python importing mailflow's libraries): {base:.0f} MiB peak RSS\n")
    print(
        "| source | attachment MB | mail MB | main MiB | children MiB | sum MiB "
        "| (largest - floor) / mail | target MiB | met |"
    )
    print("|---|---:|---:|---:|---|---:|---:|---:|---|")
    dovecot = None
    if "imap" in sources:
        users = {f"mem{i}@example.test": "s3cret" for i in range(20)}
        dovecot = Dovecot.create(users)
    try:
        n = 0
        for source in sources:
            for size in (float(s) for s in args.sizes.split(",")):
                n += 1
                box = dovecot if source == "imap" else None
                one(size, source, box, f"mem{n}@example.test", env, base)
    finally:
        if dovecot is not None:
            dovecot.close()


if __name__ == "__main__":
    main()
