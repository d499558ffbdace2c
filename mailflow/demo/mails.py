"""The demo's mails, written as real clients write them: Foxmail in GBK labelled GB2312, Outlook
HTML only, an English mail with a log attached, a service desk registering a caller, and the
replies of the people involved."""

from __future__ import annotations

import base64
import datetime as dt
import email.policy
import email.utils
from email.message import EmailMessage

SUPPORT = "support@example.com"


def foxmail_gbk(now: dt.datetime) -> bytes:
    body = (
        "李工您好：\r\n\r\n今天上午10点开始，ERP系统登录时提示“数据库连接超时”，"
        "同部门其他同事可以正常登录。\r\n已经重启过客户端，问题依旧。\r\n\r\n"
        "销售部 王芳\r\n分机 8801\r\n"
    ).encode("gbk")
    subject = (
        "=?gb2312?B?"
        + base64.b64encode("ERP系统无法登录，提示数据库连接超时".encode("gbk")).decode()
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


def outlook_html(now: dt.datetime) -> bytes:
    html = (
        "<html><body><div>您好，</div><div>&nbsp;</div><div>今天在家无法连接公司 VPN，"
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


def english_with_log(now: dt.datetime) -> bytes:
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


def service_desk_call(now: dt.datetime) -> bytes:
    """The service desk registers a phone call: an urgent outage of the finance ERP."""
    return plain(
        "前台小刘 <desk.liu@example.com>",
        "[紧急] 财务部 ERP 全部瘫痪，无法开票",
        "需求方：陈静 <chen.jing@example.cn>\n电话：13812345678\n部门：财务部\n渠道：phone\n\n"
        "陈静来电：财务部所有人 ERP 都打不开，月底开票受影响。",
        now,
        "<desk-20261201-0001@example.com>",
    )


def plain(
    sender: str,
    subject: str,
    body: str,
    now: dt.datetime,
    message_id: str,
    in_reply_to: str = "",
) -> bytes:
    """A plain-text UTF-8 mail as a modern client writes it."""
    message = EmailMessage(policy=email.policy.SMTP)
    message["From"] = sender
    message["To"] = SUPPORT
    message["Subject"] = subject
    message["Date"] = email.utils.format_datetime(now)
    message["Message-ID"] = message_id
    if in_reply_to:
        message["In-Reply-To"] = in_reply_to
        message["References"] = in_reply_to
    message.set_content(body)
    return message.as_bytes()
