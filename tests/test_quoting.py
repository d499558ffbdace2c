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


ANSWERS = {
    "bottom-posted": (
        "On Tue, Dec 1, 2026 at 10:00 AM IT Support <support@example.com> wrote:\n"
        "> 我们已收到您的技术支持请求。\n> 工单编号：{number}\n\n"
        "Restarted twice; the VPN still fails with error 809.\n\n-- \nAnna Berg\n",
        ["Restarted twice; the VPN still fails with error 809."],
        ["我们已收到您的技术支持请求", "Anna Berg"],
    ),
    "inline": (
        "IT Support wrote:\n> Which client version?\n\n5.2.1\n\n> Which Windows?\n\n"
        "Windows 11 23H2\n\n> Regards\n",
        ["> Which client version?\n\n5.2.1", "> Which Windows?\n\nWindows 11 23H2"],
        ["> Regards"],
    ),
    "forwarded": (
        "This is the error mail the ERP sent me.\n\n---------- Forwarded message ---------\n"
        "From: ERP System <erp@example.com>\nDate: Tue, Dec 1, 2026 at 9:00 AM\n"
        "Subject: Login failed\n\nDatabase connection timeout (0x80004005) at 09:00:12.\n",
        [
            "This is the error mail the ERP sent me.",
            "From: ERP System <erp@example.com>",
            "Database connection timeout (0x80004005) at 09:00:12.",
        ],
        [],
    ),
}


@pytest.mark.parametrize("kind", sorted(ANSWERS))
def test_the_handler_gets_the_requesters_whole_answer(
    kind: str, e2e_config: Path, imap_account: ImapAccount, smtp_server: SmtpServer
) -> None:
    """Bottom-posted, inline and forwarded answers reach the handler whole, through Dovecot
    and the SMTP server; the quoted history does not."""
    from mailflow.mail.parsing import parse
    from tests.helpers import PEOPLE

    e2e_config.write_text(e2e_config.read_text() + PEOPLE)
    imap_account.append(build("anna@example.cn", imap_account.user, "VPN 报错 809", "连不上"))
    run_once(e2e_config)
    number = today_prefix() + "001"
    before = len(smtp_server.wait_for(2))
    body, present, absent = ANSWERS[kind]
    imap_account.append(
        build(
            "anna@example.cn",
            imap_account.user,
            f"Re: [{number}] VPN 报错 809",
            body.format(number=number),
        )
    )
    run_once(e2e_config)
    mails = smtp_server.wait_for(before + 1)
    [notice] = [parse(m.data) for m in mails[before:] if m.rcpt_tos == ["wang.wei@example.com"]]
    assert "需求方补充信息" in notice.subject
    for text in present:
        assert text in notice.text, (text, notice.text)
    for text in absent:
        assert text not in notice.text, (text, notice.text)
    stored = show(e2e_config, number)["messages"][-2]  # type: ignore[index]
    assert stored["direction"] == "in" and all(text in stored["text"] for text in present)


def test_html_quote_blocks_go_before_conversion() -> None:
    """Gmail's quote goes as an element; a rule leaves no "* * *"; an inline answer between
    two blockquotes keeps the quoted line it answers."""
    gmail = (
        '<div dir="ltr">Works now.<hr></div><div class="gmail_quote"><div class="gmail_attr">'
        "On Wed, Oct 25, 2023 at 9:20 AM IT &lt;support@example.com&gt; wrote:</div>"
        '<blockquote class="gmail_quote">Please restart.</blockquote></div>'
    )
    assert visible_text("ignored", gmail) == "Works now."
    inline = (
        '<div>Hi,</div><blockquote type="cite">Hello<br>Which version?</blockquote>'
        '<div>5.2.1</div><blockquote type="cite">Which Windows?</blockquote><div>11</div>'
    )
    assert visible_text("ignored", inline) == (
        "Hi,\n> Hello\n> Which version?\n5.2.1\n> Which Windows?\n11"
    )
    assert "* * *" not in visible_text("x", "<p>one</p><hr><p>two</p>")
