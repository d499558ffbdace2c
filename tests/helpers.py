"""What many end-to-end tests share: the moved clock, the CLI's ticket views, a desk's people.

Every `run --once` and `ingest` a test starts through ``conftest.run_mailflow`` runs at ``NOW``
(``--now``), so ticket numbers and dates follow from the test, not from the machine's clock.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from zoneinfo import ZoneInfo

from tests.conftest import NOW, run_mailflow


def today_prefix() -> str:
    """The ticket number prefix of ``NOW``'s day in the support time zone (Asia/Shanghai)."""
    moment = dt.datetime.fromisoformat(NOW).astimezone(ZoneInfo("Asia/Shanghai"))
    return "TS" + moment.strftime("%Y%m%d")


def tickets(config: Path) -> list[dict[str, object]]:
    result = run_mailflow(config, "tickets", "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def show(config: Path, number: str) -> dict[str, object]:
    result = run_mailflow(config, "ticket", "show", number, "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def run_once(config: Path, now: str = NOW) -> str:
    """One pass at ``now``; its log."""
    result = run_mailflow(config, "run", "--once", now=now)
    assert result.returncode == 0, result.stderr
    return result.stderr


# A desk of engineers, a supervisor on duty and two groups (硬件支持组 is the default).
PEOPLE = """
[[people]]
name = "王伟"
email = "wang.wei@example.com"
role = "engineer"
groups = ["系统运维组"]
[[people]]
name = "Tom Lee"
email = "tom.lee@example.com"
role = "engineer"
groups = ["系统运维组"]
away = true
[[people]]
name = "周杰"
email = "zhou.jie@example.com"
role = "engineer"
groups = ["硬件支持组"]
[[people]]
name = "李娜"
email = "li.na@example.com"
role = "supervisor"
[[groups]]
name = "系统运维组"
supervisor = "li.na@example.com"
categories = ["业务系统", "网络"]
[[groups]]
name = "硬件支持组"
supervisor = "li.na@example.com"
categories = ["外设", "终端设备"]
default = true
[[duty]]
supervisor = "li.na@example.com"
"""

# A service-desk member who registers callers' requests.
DESK = """
[[people]]
name = "前台小刘"
email = "desk.liu@example.com"
role = "service_desk"
"""
