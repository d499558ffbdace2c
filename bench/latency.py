"""Latency benchmark: from a mail's arrival to its acknowledgement accepted by the SMTP server,
with IMAP IDLE and with polling every 30 s, in one run.

    .venv/bin/python bench/latency.py [--mails 50] [--mean-gap 3]

Starts a private Dovecot and an aiosmtpd server, runs a real ``mailflow run`` daemon against
them, and APPENDs the mails one by one at random intervals (exponential, ``--mean-gap``
seconds on average). Arrival is the moment the APPEND returned; acknowledgement the moment the
SMTP server accepted the mail to that requester. Prints p50, p95 and max of each mode.
Target (issue 13): with IDLE, p95 ≤ 1 s (Dovecot itself waits about 0.5 s before notifying).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import imapclient

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.mails import build  # noqa: E402
from tests.servers import Dovecot, SmtpServer  # noqa: E402

USER, PASSWORD = "desk@example.test", "pw"


def run_mode(idle: bool, mails: int, mean_gap: float, seed: int) -> list[float]:
    """Seconds from each APPEND to its acknowledgement."""
    imap = Dovecot.create({USER: PASSWORD}, tls=False)
    smtp = SmtpServer()
    smtp.start()
    folder = Path(tempfile.mkdtemp(prefix="mailflow-bench-latency-"))
    config = folder / "config.toml"
    config.write_text(
        textwrap.dedent(f"""
        [support]
        address = "{USER}"
        [mailbox]
        kind = "imap"
        host = "127.0.0.1"
        port = {imap.port}
        security = "none"
        username = "{USER}"
        password = "{PASSWORD}"
        poll_seconds = 30
        idle = {"true" if idle else "false"}
        first_run = "all"
        [smtp]
        kind = "smtp"
        host = "127.0.0.1"
        port = {smtp.port}
        security = "none"
        """),
        encoding="utf-8",
    )
    env = dict(os.environ, PYTHONPATH=str(REPO))
    log = open(folder / "daemon.log", "wb")  # noqa: SIM115 - closed below
    daemon = subprocess.Popen(
        [sys.executable, "-m", "mailflow", "-c", str(config), "run"], stderr=log, env=env
    )
    rng = random.Random(seed)
    appended: dict[str, float] = {}
    try:
        time.sleep(3)  # the first pass on the empty mailbox
        client = imapclient.IMAPClient("127.0.0.1", port=imap.port, ssl=False)
        client.login(USER, PASSWORD)
        for n in range(mails):
            time.sleep(rng.expovariate(1 / mean_gap))
            requester = f"user{n}@example.cn"
            client.append("INBOX", build(requester, USER, f"问题 {n}", "打印机坏了"))
            appended[requester] = time.monotonic()
        client.logout()
        deadline = time.monotonic() + 90
        while len(smtp.messages) < mails and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        daemon.terminate()
        daemon.wait(30)
        log.close()
        smtp.stop()
        imap.close()
    latencies = []
    with smtp.lock:
        for message in smtp.messages:
            requester = message.rcpt_tos[0]
            if requester in appended:
                latencies.append(message.received_at - appended.pop(requester))
    if appended:
        print(f"{len(appended)} mails never acknowledged", file=sys.stderr)
    return latencies


def summary(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {
        "count": len(ordered),
        "p50": round(statistics.median(ordered), 2),
        "p95": round(ordered[max(0, int(0.95 * len(ordered) + 0.5) - 1)], 2),
        "max": round(ordered[-1], 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mails", type=int, default=50)
    parser.add_argument("--mean-gap", type=float, default=3.0)
    args = parser.parse_args()
    result = {
        "idle": summary(run_mode(True, args.mails, args.mean_gap, 1)),
        "polling_30s": summary(run_mode(False, args.mails, args.mean_gap, 1)),
        "mails": args.mails,
        "mean_gap_seconds": args.mean_gap,
        "python": platform.python_version(),
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
