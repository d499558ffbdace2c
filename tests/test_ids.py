"""Ticket numbers: format, widening serial, tags in subjects, atomic allocation across processes."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mailflow.store import ids
from mailflow.store.database import open_database, transaction
from mailflow.store.models import DailyCounter, Ticket
from mailflow.store.schema import init_schema
from tests.conftest import REPO


def test_format_matches_spec() -> None:
    assert ids.format_number("TS", dt.date(2023, 10, 25), 1) == "TS20231025001"
    assert ids.format_number("TS", dt.date(2023, 10, 25), 999) == "TS20231025999"
    assert ids.format_number("TS", dt.date(2023, 10, 25), 1000) == "TS202310251000"


def test_day_is_taken_in_support_time_zone() -> None:
    """The ticket number's day is the support time zone's, not UTC's."""
    from zoneinfo import ZoneInfo

    late_utc = dt.datetime(2023, 10, 24, 17, 30, tzinfo=dt.UTC)  # 01:30 on the 25th in Shanghai
    assert ids.ticket_day(late_utc, ZoneInfo("Asia/Shanghai")) == dt.date(2023, 10, 25)
    assert ids.ticket_day(late_utc, ZoneInfo("Europe/Berlin")) == dt.date(2023, 10, 24)


@pytest.mark.parametrize(
    "subject",
    [
        "[TS20231025001] ERP 无法登录",
        "Re: [TS20231025001] ERP 无法登录",
        "RE: RE: [TS20231025001] ERP",
        "回复: [TS20231025001] ERP",
        "回复：[TS20231025001] ERP",
        "答复: 转发: [TS20231025001] ERP",
        "Fwd: [TS20231025001] ERP",
        "转发：【TS20231025001】ERP",
        "AW: [ts20231025001] ERP",
        "Re: 已受理 [TS20231025001]",
    ],
)
def test_tag_found_after_reply_prefixes(subject: str) -> None:
    assert ids.find_number(subject, "TS") == "TS20231025001"


@pytest.mark.parametrize(
    "subject", ["TS20231025001 without brackets", "[TS2023102501]", "[XY20231025001]", ""]
)
def test_no_tag(subject: str) -> None:
    assert ids.find_number(subject, "TS") is None


def test_wide_serial_is_found() -> None:
    """Past 999 tickets a day the serial grows a digit and tags still thread."""
    assert ids.find_number("Re: [TS202310251000] x", "TS") == "TS202310251000"


def test_thousandth_ticket_of_a_day(tmp_path: Path) -> None:
    """Serial 1000 widens the number; nothing wraps or fails."""
    db = open_database(f"sqlite:///{tmp_path}/t.db")
    init_schema(db)
    day = dt.date(2023, 10, 25)
    DailyCounter.create(day_key="TS20231025", last=998)
    with transaction(db):
        numbers = [ids.allocate("TS", day) for _ in range(3)]
    assert numbers == ["TS20231025999", "TS202310251000", "TS202310251001"]
    assert ids.allocate("TS", dt.date(2023, 10, 26)) == "TS20231026001"
    db.close()


ALLOCATOR = """
import datetime as dt, sys
from mailflow.store import ids
from mailflow.store.models import Ticket
from mailflow.store.schema import init_schema
from mailflow.store.database import open_database, transaction
db = open_database(sys.argv[1])
init_schema(db)
for _ in range(int(sys.argv[2])):
    with transaction(db):
        number = ids.allocate("TS", dt.date(2023, 10, 25))
        now = dt.datetime(2023, 10, 25, 9, 0)
        Ticket.create(number=number, subject="x", status="new", priority="medium",
                      requester_email="a@b", language="en", submitted_at=now, created_at=now,
                      updated_at=now)
"""


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_allocation_is_atomic_across_processes(
    tmp_path: Path, database: str, request: pytest.FixtureRequest
) -> None:
    """Four processes creating tickets at once get distinct, gap-free numbers (on SQLite by
    its write lock, on PostgreSQL by the counter row's lock held to the commit)."""
    url = f"sqlite:///{tmp_path}/shared.db"
    if database == "postgresql":
        url = request.getfixturevalue("postgres").create_database(f"ids_{os.getpid()}")
    db = open_database(url)
    init_schema(db)
    db.close()
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", ALLOCATOR, url, "60"], cwd=REPO, stderr=subprocess.PIPE
        )
        for _ in range(4)
    ]
    for proc in procs:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err.decode()
    db = open_database(url)
    numbers = [t.number for t in Ticket.select()]
    assert len(numbers) == 240 == len(set(numbers))
    assert sorted(numbers) == [
        ids.format_number("TS", dt.date(2023, 10, 25), i) for i in range(1, 241)
    ]
    db.close()
