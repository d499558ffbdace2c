"""``mailflow demo``: the whole support process on a realistic desk, with no servers at all.

A folder gets a config (SQLite, an incoming and an outgoing Maildir) with people, groups, a duty
roster and the built-in grading rules. The story is played by the real worker with a moved clock
(``run_once(now)``, as ``run --once --now`` does): four requests arrive (one registered by the
service desk), are graded, routed and assigned, the supervisor on duty is alerted for the urgent
and high ones; an engineer answers with commands and resolves; the requester confirms and rates;
a silent requester's ticket closes itself days later. Then every ticket's timeline (its events)
is printed, with the mails it wrote and where they lie.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
from collections.abc import Callable
from pathlib import Path

from mailflow import config as config_mod
from mailflow.config import Config
from mailflow.daemon import Worker, build_mailbox, build_transport, open_services
from mailflow.demo import mails
from mailflow.demo.timeline import print_timelines
from mailflow.errors import MailflowError
from mailflow.reports import html, report
from mailflow.reports.charts import ChartError
from mailflow.reports.periods import month_of
from mailflow.services import Services
from mailflow.store import ids
from mailflow.store.models import Ticket

MARKER = ".mailflow-demo"

CONFIG = """\
# Written by `mailflow demo`. Everything stays in this folder.
[support]
address = "support@example.com"
name = "IT 服务台"
timezone = "Asia/Shanghai"
language = "zh_CN"
ticket_prefix = "TS"

[database]
url = "sqlite:///var/mailflow.db"

[storage]
path = "var/store"

[mailbox]
kind = "maildir"
path = "var/maildir"

[smtp]
kind = "maildir"
path = "var/sent"

[[people]]
name = "王伟"
email = "wang.wei@example.com"
role = "engineer"
groups = ["系统运维组"]

[[people]]
name = "张强"
email = "zhang.qiang@example.com"
role = "engineer"
groups = ["系统运维组"]

[[people]]
name = "周杰"
email = "zhou.jie@example.com"
role = "engineer"
groups = ["硬件支持组"]

[[people]]
name = "李娜"
email = "li.na@example.com"
role = "supervisor"

[[people]]
name = "前台小刘"
email = "desk.liu@example.com"
role = "service_desk"

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

Step = tuple[dt.timedelta, str, Callable[[dt.datetime, Config], list[bytes]]]


def run_demo(folder: Path) -> int:
    """Play the story in ``folder``; print what happened. Exit code 0 when every pass went well."""
    config = _prepare(folder)
    services = open_services(config)
    # The story starts at 09:00 today in the support time zone.
    local = dt.datetime.now(config.support.tz).replace(hour=9, minute=0, second=0, microsecond=0)
    start = local.astimezone(dt.UTC)
    worker = Worker(
        services, build_mailbox(config, os.environ), build_transport(config, os.environ)
    )
    failed = False
    print(f"mailflow demo in {folder.resolve()}\n")
    try:
        for offset, what, make in _story():
            now = start + offset
            for index, data in enumerate(make(now, config)):
                _deliver(config.mailbox.path, f"{int(now.timestamp())}.{index}", data, now)
            report = worker.run_once(now)
            failed = failed or bool(report.errors)
            stamp = now.astimezone(config.support.tz).strftime("%m-%d %H:%M")
            print(
                f"{stamp}  {what}: {len(report.handled)} mails handled, {report.sent} sent"
                + (f"; problems: {'; '.join(report.errors)}" if report.errors else "")
            )
    finally:
        worker.close()
    print_timelines(config)
    _report(folder, config, services, now)
    first = Ticket.select().order_by(Ticket.id).first()
    if first is not None:
        print(f"\nTry: mailflow -c {folder / 'config.toml'} ticket show {first.number}")
    return 1 if failed else 0


def _report(folder: Path, config: Config, services: Services, now: dt.datetime) -> None:
    """The month's analysis report as the managers get it (charts included), as of the
    story's last moment."""
    period = month_of(now.astimezone(config.support.tz).date(), config.support.tz)
    data = report.build(services.db, config, period, now)
    try:
        page = html.standalone(data, config, config.support.language)
    except ChartError as exc:
        print(f"\nReport {period.name}: not drawn: {exc}")
        return
    path = folder / f"report-{period.name}.html"
    path.write_text(page, encoding="utf-8")
    print(f"\nReport {period.name} (open in a browser): {path.resolve()}")


def _prepare(folder: Path) -> Config:
    if folder.exists() and any(folder.iterdir()) and not (folder / MARKER).exists():
        raise MailflowError(f"{folder} exists and is not a demo folder; choose another --dir")
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    (folder / MARKER).write_text("created by mailflow demo\n")
    (folder / "config.toml").write_text(CONFIG, encoding="utf-8")
    return config_mod.load(folder / "config.toml")


def _story() -> list[Step]:
    minutes = dt.timedelta(minutes=1)
    return [
        (0 * minutes, "four requests arrive (one by phone through the service desk)", _arrive),
        (10 * minutes, "王伟 takes the ERP login ticket (Status: in-progress)", _engineer_starts),
        (40 * minutes, "王伟 resolves it", _engineer_resolves),
        (55 * minutes, "王芳 confirms: the ticket closes, the survey goes out", _confirms),
        (60 * minutes, "王芳 rates it 非常满意", _rates),
        (120 * minutes, "周杰 resolves the printer ticket", _printer_resolved),
        (4 * 24 * 60 * minutes, "four days later: the printer requester never answered", _none),
    ]


def _arrive(now: dt.datetime, config: Config) -> list[bytes]:
    return [
        mails.foxmail_gbk(now - dt.timedelta(minutes=3)),
        mails.outlook_html(now - dt.timedelta(minutes=2)),
        mails.english_with_log(now - dt.timedelta(minutes=1)),
        mails.service_desk_call(now),
    ]


def _number_of(requester: str) -> str:
    ticket = Ticket.get(Ticket.requester_email == requester)
    return str(ticket.number)


def _engineer(number: str, body: str, now: dt.datetime, name: str, address: str) -> bytes:
    return mails.plain(
        f"{name} <{address}>",
        f"Re: {ids.tag(number)} 新工单",
        body,
        now,
        f"<{number}.{int(now.timestamp())}@example.com>",
    )


def _engineer_starts(now: dt.datetime, config: Config) -> list[bytes]:
    number = _number_of("wang.fang@example.cn")
    body = (
        "Status: in-progress\n\n王芳您好，已远程查看，正在重启数据库监听服务，预计 20 分钟内恢复。"
    )
    return [_engineer(number, body, now, "王伟", "wang.wei@example.com")]


def _engineer_resolves(now: dt.datetime, config: Config) -> list[bytes]:
    number = _number_of("wang.fang@example.cn")
    body = "Status: resolved\n\n已重启 TNS 监听器并调大连接池上限，请重新登录确认。"
    return [_engineer(number, body, now, "王伟", "wang.wei@example.com")]


def _requester(text: str, now: dt.datetime) -> bytes:
    number = _number_of("wang.fang@example.cn")
    return mails.plain(
        "王芳 <wang.fang@example.cn>",
        f"回复：{ids.tag(number)} ERP系统无法登录",
        text,
        now,
        f"<reply-{int(now.timestamp())}@example.cn>",
    )


def _confirms(now: dt.datetime, config: Config) -> list[bytes]:
    return [_requester("确认，已经可以正常登录了，谢谢！", now)]


def _rates(now: dt.datetime, config: Config) -> list[bytes]:
    return [_requester("4 非常满意，响应很快。", now)]


def _printer_resolved(now: dt.datetime, config: Config) -> list[bytes]:
    number = _number_of("emily.carter@example.com")
    body = "Status: resolved\n\nReplaced the pickup roller of tray 2; please try again."
    return [_engineer(number, body, now, "周杰", "zhou.jie@example.com")]


def _none(now: dt.datetime, config: Config) -> list[bytes]:
    return []


def _deliver(maildir: Path, name: str, data: bytes, when: dt.datetime) -> None:
    for sub in ("tmp", "new", "cur"):
        (maildir / sub).mkdir(parents=True, exist_ok=True)
    tmp = maildir / "tmp" / f"{name}.demo"
    tmp.write_bytes(data)
    stamp = when.timestamp()
    os.utime(tmp, (stamp, stamp))
    os.replace(tmp, maildir / "new" / tmp.name)
