"""`--now`: a pass or an ingest runs at a given moment (ISO 8601 with its offset), so tests,
backlog replays and deadline work need no real clock; a moment without an offset is refused."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import ImapAccount, run_mailflow
from tests.helpers import show, tickets
from tests.mails import build
from tests.servers import SmtpServer


def test_a_pass_and_an_ingest_run_at_the_given_moment(
    e2e_config: Path, imap_account: ImapAccount, smtp_server: SmtpServer
) -> None:
    """The ticket number's day and the recorded times come from --now, in the support zone."""
    # A first pass takes the mailbox's history by date; later ones every new mail, whenever.
    assert run_mailflow(e2e_config, "run", "--once").returncode == 0
    imap_account.append(build("li@example.cn", imap_account.user, "VPN 断开", "断"))
    ran = run_mailflow(e2e_config, "run", "--once", "--now", "2027-03-05T23:30:00Z")
    assert ran.returncode == 0, ran.stderr
    # 23:30 UTC is already the 6th in Shanghai.
    [ticket] = tickets(e2e_config)
    assert ticket["number"] == "TS20270306001"
    assert ticket["created_at"] == "2027-03-06T07:30:00+08:00"
    ingested = run_mailflow(
        e2e_config,
        "ingest",
        "--now",
        "2027-03-07T09:00:00+08:00",
        stdin=build("wu@example.cn", imap_account.user, "打印机", "卡纸"),
    )
    assert ingested.returncode == 0, ingested.stderr
    assert ingested.stdout.strip() == "created TS20270307001"
    assert show(e2e_config, "TS20270307001")["submitted_at"] == "2027-03-07T09:00:00+08:00"


def test_a_moment_without_offset_or_outside_once_is_refused(e2e_config: Path) -> None:
    """--now needs an offset and --once; otherwise exit 2 with one line, no traceback."""
    naive = run_mailflow(e2e_config, "run", "--once", "--now", "2026-12-01T10:00:00")
    assert naive.returncode == 2
    assert "has no UTC offset" in naive.stderr and "Traceback" not in naive.stderr
    garbage = run_mailflow(e2e_config, "run", "--once", "--now", "tomorrow")
    assert garbage.returncode == 2 and "not an ISO 8601" in garbage.stderr
    daemon = run_mailflow(e2e_config, "run", "--now", "2026-12-01T10:00:00+08:00")
    assert daemon.returncode == 2 and "--now needs --once" in daemon.stderr
