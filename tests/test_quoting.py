"""Follow-ups keep only what is new: quoted history and signatures go, the original stays."""

from __future__ import annotations

from pathlib import Path

import pytest

from mailflow.mail.quoting import visible_text
from tests.conftest import ImapAccount
from tests.helpers import run_once, show, today_prefix
from tests.mails import build, fixture
from tests.servers import SmtpServer

QUOTED = "您好，我们已收到您的请求。\n工单编号：TS20231025001"
Q = QUOTED.replace("\n", "\n> ")  # as a client quotes it

CLIENTS = {
    "Outlook (zh)": "好的，我试一下。\n\n发件人: IT Support <support@example.com>\n"
    "发送时间: 2023年10月25日 9:20\n收件人: 王芳 <w@example.cn>\n主题: [TS20231025001] 已受理\n\n"
    + QUOTED,
    "Outlook (en)": "Thanks, works now.\n\nFrom: IT Support <support@example.com>\n"
    "Sent: Wednesday, October 25, 2023 9:20 AM\nTo: Wang Fang <w@example.cn>\n"
    "Subject: [TS20231025001] Received\n\n" + QUOTED,
    "Outlook (old zh)": "好的\n\n-----原始邮件-----\n发件人: IT Support\n"
    "发送时间: 2023年10月25日\n\n" + QUOTED,
    "Gmail (en)": "Still broken.\n\nOn Wed, Oct 25, 2023 at 9:20 AM IT Support "
    "<support@example.com> wrote:\n> " + Q,
    "Gmail (zh)": "还是不行。\n\n在 2023年10月25日周三 09:20，"
    "IT Support <support@example.com> 写道：\n> " + Q,
    "Apple Mail (zh)": "收到\n\n> 2023年10月25日 09:20，"
    "IT Support <support@example.com> 写道：\n>\n> " + Q,
    "Thunderbird (zh)": "谢谢\n\n在 2023/10/25 9:20, IT Support 写道:\n> "
    + QUOTED.replace("\n", "\n> "),
    "Foxmail": '已经好了\n\n\n------------------ 原始邮件 ------------------\n发件人: "IT Support"'
    "<support@example.com>;\n发送时间: 2023年10月25日(星期三) 上午9:20\n\n" + QUOTED,
    "QQ Mail": "已经好了\n\n------------------&nbsp;原始邮件&nbsp;------------------".replace(
        "&nbsp;", " "
    )
    + '\n发件人: "IT Support";\n\n'
    + QUOTED,
    "163": '问题解决了\n\n在 2023-10-25 09:20:11，"IT Support" <support@example.com> 写道：\n'
    + QUOTED,
    "signature": "Works now.\n\n-- \nDaniel Brooks\nIT, ext 1234",
}
NEW = {
    "Outlook (zh)": "好的，我试一下。",
    "Outlook (en)": "Thanks, works now.",
    "Outlook (old zh)": "好的",
    "Gmail (en)": "Still broken.",
    "Gmail (zh)": "还是不行。",
    "Apple Mail (zh)": "收到",
    "Thunderbird (zh)": "谢谢",
    "Foxmail": "已经好了",
    "QQ Mail": "已经好了",
    "163": "问题解决了",
    "signature": "Works now.",
}


@pytest.mark.parametrize("client", sorted(CLIENTS))
def test_reply_without_history(client: str) -> None:
    """Quoted history and its header lines are cut from a reply in every client's style."""
    assert visible_text(CLIENTS[client]) == NEW[client]


def test_text_without_quotes_is_kept_whole() -> None:
    assert visible_text("Line one.\nLine two.") == "Line one.\nLine two."
    assert visible_text("> everything\n> is quoted") == "> everything\n> is quoted"


def test_follow_up_stores_visible_text_and_keeps_the_whole(
    e2e_config: Path, imap_account: ImapAccount, smtp_server: SmtpServer
) -> None:
    """A follow-up shows its new text; the whole text is kept beside it."""
    imap_account.append(fixture("foxmail_gbk_labelled_gb2312.eml"))
    run_once(e2e_config)
    number = today_prefix() + "001"
    imap_account.append(
        build(
            "liu.yang@example.cn", imap_account.user, f"回复：[{number}] 已受理", CLIENTS["Foxmail"]
        )
    )
    run_once(e2e_config)
    reply = show(e2e_config, number)["messages"][2]  # type: ignore[index]
    assert reply["text"] == "已经好了"
    assert "原始邮件" in reply["full_text"] and QUOTED in reply["full_text"]
