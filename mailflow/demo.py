"""``mailflow demo``: a realistic first look with no servers at all.

Creates a folder with a config (SQLite, an incoming Maildir, an outgoing Maildir), seeds it with
mails as real clients send them (a GBK-encoded Foxmail mail mislabelled GB2312, an HTML-only
Outlook mail, an English mail with a log attached, and a reply carrying the first ticket's tag),
runs one pass of the real worker, and prints the tickets and the acknowledgements written.
"""

from __future__ import annotations

import base64
import datetime as dt
import email.utils
import os
import shutil
import time
from pathlib import Path

from mailflow import config as config_mod
from mailflow.daemon import Worker, build_mailbox, build_transport, open_services, system_clock
from mailflow.errors import MailflowError
from mailflow.mail.parsing import parse
from mailflow.store import ids
from mailflow.store.models import Message, Ticket
from mailflow.views import ticket_summary

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
"""


def _foxmail_gbk(now: dt.datetime) -> bytes:
    body = (
        "李工您好：\r\n\r\n今天上午10点开始，ERP系统登录时提示“数据库连接超时”，"
        "同部门其他同事可以正常登录。\r\n已经重启过电脑，问题依旧。\r\n\r\n"
        "销售部 王芳\r\n分机 8801\r\n"
    ).encode("gbk")
    subject = (
        "=?gb2312?B?"
        + base64.b64encode("ERP系统登录提示数据库连接超时".encode("gbk")).decode()
        + "?="
    )
    name = "=?gb2312?B?" + base64.b64encode("王芳".encode("gbk")).decode() + "?="
    head = (
        f"From: {name} <wang.fang@example.cn>\r\nTo: support@example.com\r\n"
        f"Subject: {subject}\r\nDate: {email.utils.format_datetime(now)}\r\n"
        "Message-ID: <202611250915301234567@example.cn>\r\nX-Mailer: Foxmail 7.2.25.228[cn]\r\n"
        'MIME-Version: 1.0\r\nContent-Type: text/plain; charset="gb2312"\r\n'
        "Content-Transfer-Encoding: 8bit\r\n\r\n"
    )
    return head.encode("ascii") + body


def _outlook_html(now: dt.datetime) -> bytes:
    html = (
        "<html><body><div>您好，</div><div>&nbsp;</div><div>我的笔记本今天无法连接公司 VPN，"
        "客户端提示 <b>错误 809</b>。</div><div>家里网络正常，可以上网。</div>"
        "<div>&nbsp;</div><div>市场部 赵磊</div></body></html>"
    )
    encoded = base64.encodebytes(html.encode("utf-8")).decode()
    return (
        f"From: =?utf-8?B?6LW156OK?= <zhao.lei@example.cn>\r\nTo: IT Support "
        f"<support@example.com>\r\nSubject: =?utf-8?B?VlBOIOaXoOazlei/nuaOpe+8jOmUmeivryA4MDk=?="
        f"\r\nDate: {email.utils.format_datetime(now)}\r\n"
        "Message-ID: <DM6PR11MB4321.namprd11.prod.outlook.com>\r\n"
        "X-MS-Has-Attach: \r\nMIME-Version: 1.0\r\n"
        'Content-Type: text/html; charset="utf-8"\r\nContent-Transfer-Encoding: base64\r\n\r\n'
        + encoded
    ).encode("ascii")


def _english_with_log(now: dt.datetime) -> bytes:
    log_text = base64.encodebytes(
        b"2026-11-25 08:58:02 spooler: job 4411 paper jam tray 2\n"
        b"2026-11-25 09:03:40 spooler: job 4412 paper jam tray 2\n"
    ).decode()
    return (
        f"From: Emily Carter <emily.carter@example.com>\r\nTo: support@example.com\r\n"
        f"Subject: Printer on the 3rd floor jams on every page\r\n"
        f"Date: {email.utils.format_datetime(now)}\r\n"
        "Message-ID: <CAE7x-emily-4412@mail.example.com>\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/mixed; boundary="b1"\r\n\r\n--b1\r\n'
        "Content-Type: text/plain; charset=utf-8\r\n\r\n"
        "Hi,\r\n\r\nthe HP printer next to room 305 jams on every page since this morning.\r\n"
        "The spooler log is attached.\r\n\r\nThanks,\r\nEmily\r\n--b1\r\n"
        'Content-Type: text/plain; name="spooler.log"\r\n'
        'Content-Disposition: attachment; filename="spooler.log"\r\n'
        "Content-Transfer-Encoding: base64\r\n\r\n" + log_text + "--b1--\r\n"
    ).encode("ascii")


def _reply(now: dt.datetime, number: str) -> bytes:
    body = (
        "补充一下：错误截图里的提示是 ORA-12170: TNS:Connect timeout occurred。\r\n\r\n王芳\r\n"
    ).encode()
    subject = "回复: " + ids.tag(number) + " 已受理：ERP系统登录提示数据库连接超时"
    subject_b64 = base64.b64encode(subject.encode("utf-8")).decode()
    return (
        f"From: wang.fang@example.cn\r\nTo: support@example.com\r\n"
        f"Subject: =?utf-8?B?{subject_b64}?=\r\nDate: {email.utils.format_datetime(now)}\r\n"
        "Message-ID: <202611250931001234568@example.cn>\r\n"
        "In-Reply-To: <202611250915301234567@example.cn>\r\n"
        "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
        "Content-Transfer-Encoding: 8bit\r\n\r\n"
    ).encode("ascii") + body


def _deliver(maildir: Path, name: str, data: bytes, when: float) -> None:
    for sub in ("tmp", "new", "cur"):
        (maildir / sub).mkdir(parents=True, exist_ok=True)
    tmp = maildir / "tmp" / name
    tmp.write_bytes(data)
    os.utime(tmp, (when, when))
    os.replace(tmp, maildir / "new" / name)


def run_demo(folder: Path) -> int:
    """Seed, run one pass, print what happened."""
    if folder.exists() and any(folder.iterdir()) and not (folder / MARKER).exists():
        raise MailflowError(f"{folder} exists and is not a demo folder; choose another --dir")
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    (folder / MARKER).write_text("created by mailflow demo\n")
    (folder / "config.toml").write_text(CONFIG, encoding="utf-8")
    config = config_mod.load(folder / "config.toml")
    services = open_services(config)
    now = system_clock()
    # The reply's tag names the ticket the first mail will get: read from the same counter the
    # allocation uses, on this fresh database.
    first_number = ids.peek_next(
        config.support.ticket_prefix, ids.ticket_day(now, config.support.tz)
    )
    start = time.time() - 120
    samples = [
        ("1.foxmail", _foxmail_gbk(now - dt.timedelta(minutes=2))),
        ("2.outlook", _outlook_html(now - dt.timedelta(minutes=1, seconds=30))),
        ("3.gmail", _english_with_log(now - dt.timedelta(minutes=1))),
        ("4.reply", _reply(now - dt.timedelta(seconds=30), first_number)),
    ]
    for index, (name, data) in enumerate(samples):
        _deliver(
            config.mailbox.path,
            f"{int(start) + index * 20}.demo{index}.{name}",
            data,
            start + index * 20,
        )
    worker = Worker(
        services, build_mailbox(config, os.environ), build_transport(config, os.environ)
    )
    try:
        report = worker.run_once(now)
    finally:
        worker.close()
    print(f"mailflow demo in {folder.resolve()}")
    print(f"seeded {len(samples)} mails, handled {len(report.handled)}, sent {report.sent}\n")
    print("Tickets:")

    for ticket in Ticket.select().order_by(Ticket.id):
        s = ticket_summary(ticket, config.support.tz)
        inbound = ticket.messages.where(Message.direction == "in").count()
        print(
            f"  {s['number']}  {s['priority']:<6} {s['requester']:<28} {s['subject']}  "
            f"({inbound} inbound mail{'s' if inbound != 1 else ''})"
        )
    print("\nAcknowledgements written to", config.smtp.path / "new")
    for path in sorted((config.smtp.path / "new").iterdir()):
        mail = parse(path.read_bytes())
        to = ", ".join(a.email for a in mail.to)
        print(f"\n--- To: {to}\n--- Subject: {mail.subject}\n")
        print(mail.text.rstrip())
    print(f"\nTry: mailflow -c {folder / 'config.toml'} ticket show {first_number}")
    return 0 if not report.errors else 1
