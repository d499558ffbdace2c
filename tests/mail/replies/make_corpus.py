# ruff: noqa: E501, E741  (fixture data: one mail per expression reads better unwrapped)
"""Writes the reply corpus: one ``NN-client-lang-kind.eml`` per case and the visible text a person
expects from it in ``NN-client-lang-kind.expected.txt``.

    python tests/mail/replies/make_corpus.py

Each mail is a reply to mailflow's progress mail (or a forward) as that client lays it out: its
plain-text part and, where the client sends one, its HTML part, with the client's own quote
headers, separators and markup (Outlook for Windows and on the web in fourteen languages,
Gmail in seventeen, Apple Mail and iOS, Thunderbird top-, bottom- and inline-posting, Foxmail,
QQ Mail, 163/126, NeoMutt, Yandex, Mail.ru). They are reconstructions of each client's
output, written by hand; the expected texts were written by hand too, from what the writer
typed, not from mailflow's output. The files are committed; this script documents them and
regenerates them.
"""

from __future__ import annotations

import datetime as dt
import html as htmllib
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
SUPPORT = "IT Support <support@example.com>"
SUBJECT = "[TS20231025001] VPN error 809"
DATE = dt.datetime(2023, 10, 25, 10, 5, tzinfo=dt.timezone(dt.timedelta(hours=8)))
QUOTED = {
    "zh": "王芳，您好：\n\n请重启 VPN 客户端后再试一次。\n\nIT 服务台",
    "en": "Hello Anna,\n\nPlease restart the VPN client and try again.\n\nIT Support",
}

CASES: list[tuple[str, bytes, str]] = []


def html_lines(text: str) -> str:
    return "".join(
        f"<div>{htmllib.escape(line)}</div>" if line else "<div><br></div>"
        for line in text.split("\n")
    )


def quoted(text: str, prefix: str = "> ") -> str:
    return "\n".join(
        (prefix + line).rstrip() if line else prefix.rstrip() for line in text.split("\n")
    )


def add(
    name: str,
    text: str,
    expected: str,
    html: str | None = None,
    mailer: tuple[str, str] = ("X-Mailer", "test"),
    subject: str = "Re: " + SUBJECT,
    sender: str = "Anna Berg <anna@example.com>",
) -> None:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = SUPPORT
    msg["Subject"] = subject
    msg["Date"] = format_datetime(DATE)
    msg["Message-ID"] = f"<{name}@client.example>"
    if not subject.lower().startswith(("fwd", "fw:", "转发", "wg:")):
        msg["In-Reply-To"] = "<TS20231025001.abc@example.com>"
        msg["References"] = "<TS20231025001.abc@example.com>"
    msg[mailer[0]] = mailer[1]
    msg.set_content(text, charset="utf-8")
    if html is not None:
        msg.add_alternative(html, subtype="html", charset="utf-8")
    CASES.append((f"{len(CASES) + 1:02d}-{name}", bytes(msg), expected))


# -- Outlook for Windows: a header box after the reply --------------------------------------

OUTLOOK_HEADERS = {
    "en": ("From", "Sent", "To", "Subject", "Wednesday, October 25, 2023 9:20 AM"),
    "de": ("Von", "Gesendet", "An", "Betreff", "Mittwoch, 25. Oktober 2023 09:20"),
    "fr": ("De ", "Envoyé ", "À ", "Objet ", "mercredi 25 octobre 2023 09:20"),
    "nl": ("Van", "Verzonden", "Aan", "Onderwerp", "woensdag 25 oktober 2023 09:20"),
    "sv": ("Från", "Skickat", "Till", "Ämne", "den 25 oktober 2023 09:20"),
    "da": ("Fra", "Sendt", "Til", "Emne", "25. oktober 2023 09:20"),
    "no": ("Fra", "Sendt", "Til", "Emne", "onsdag 25. oktober 2023 09:20"),
    "pl": ("Od", "Wysłano", "Do", "Temat", "środa, 25 października 2023 09:20"),
    "ru": ("От", "Отправлено", "Кому", "Тема", "25 октября 2023 г. 9:20"),
    "zh": ("发件人", "发送时间", "收件人", "主题", "2023年10月25日 9:20"),
    "es": ("De", "Enviado", "Para", "Asunto", "miércoles, 25 de octubre de 2023 9:20"),
    "it": ("Da", "Inviato", "A", "Oggetto", "mercoledì 25 ottobre 2023 09:20"),
    "ja": ("差出人", "送信日時", "宛先", "件名", "2023年10月25日 9:20"),
    "vi": ("Từ", "Đã gửi", "Đến", "Chủ đề", "Thứ Tư, 25 tháng 10, 2023 9:20 SA"),
}
REPLIES = {
    "en": "It works again after the restart, thank you.\n\nBest regards,\nAnna Berg",
    "de": "Nach dem Neustart funktioniert es wieder, danke.\n\nViele Grüße\nAnna Berg",
    "fr": "Ça marche de nouveau après le redémarrage, merci.\n\nCordialement,\nAnna Berg",
    "nl": "Na de herstart werkt het weer, bedankt.\n\nMet vriendelijke groet,\nAnna Berg",
    "sv": "Det fungerar igen efter omstarten, tack.\n\nMed vänliga hälsningar\nAnna Berg",
    "da": "Det virker igen efter genstarten, tak.\n\nMed venlig hilsen\nAnna Berg",
    "no": "Det fungerer igjen etter omstarten, takk.\n\nMed vennlig hilsen\nAnna Berg",
    "pl": "Po ponownym uruchomieniu działa, dziękuję.\n\nPozdrawiam\nAnna Berg",
    "ru": "После перезапуска всё работает, спасибо.\n\nС уважением,\nАнна Берг",
    "zh": "重启之后可以连上了，谢谢！\n\n销售部 王芳\n分机 8801",
    "es": "Después de reiniciar funciona otra vez, gracias.\n\nSaludos,\nAnna Berg",
    "it": "Dopo il riavvio funziona di nuovo, grazie.\n\nCordiali saluti,\nAnna Berg",
    "ja": "再起動したら直りました。ありがとうございます。\n\n営業部 山田",
    "vi": "Sau khi khởi động lại thì đã chạy được, cảm ơn.\n\nTrân trọng,\nAnna Berg",
    "pt": "Depois de reiniciar voltou a funcionar, obrigada.\n\nAtenciosamente,\nAnna Berg",
    "ko": "재시작하니 다시 됩니다. 감사합니다.\n\n영업부 김민지",
    "cs": "Po restartu to zase funguje, děkuji.\n\nS pozdravem\nAnna Berg",
}


def quoted_for(lang: str) -> str:
    return QUOTED["zh" if lang == "zh" else "en"]


def outlook_block(lang: str) -> str:
    frm, sent, to, subj, when = OUTLOOK_HEADERS[lang]
    return (
        f"{frm}: IT Support <support@example.com>\n{sent}: {when}\n"
        f"{to}: Anna Berg <anna@example.com>\n{subj}: {SUBJECT}"
    )


def outlook_desktop(lang: str) -> None:
    reply, block = REPLIES[lang], outlook_block(lang)
    text = f"{reply}\n\n{block}\n\n{quoted_for(lang)}\n"
    rows = "".join(
        f"<b>{htmllib.escape(line.split(':', 1)[0])}:</b>{htmllib.escape(line.split(':', 1)[1])}<br>"
        for line in block.split("\n")
    )
    html = (
        '<html><head><meta name="Generator" content="Microsoft Word 15 (filtered medium)">'
        '<style>p.MsoNormal{margin:0cm;}</style></head><body lang="EN-US">'
        '<div class="WordSection1">'
        + "".join(
            f'<p class="MsoNormal">{htmllib.escape(line) or "&nbsp;"}</p>'
            for line in reply.split("\n")
        )
        + '<p class="MsoNormal">&nbsp;</p>'
        '<div style="border:none;border-top:solid #E1E1E1 1.0pt;padding:3.0pt 0cm 0cm 0cm">'
        f'<p class="MsoNormal">{rows}</p></div><p class="MsoNormal">&nbsp;</p>'
        + "".join(
            f'<p class="MsoNormal">{htmllib.escape(line) or "&nbsp;"}</p>'
            for line in quoted_for(lang).split("\n")
        )
        + "</div></body></html>"
    )
    add(f"outlook-{lang}-top", text, reply, html, ("X-Mailer", "Microsoft Outlook 16.0"))


for _lang in OUTLOOK_HEADERS:
    outlook_desktop(_lang)

# Older Outlook and Exchange clients: a separator line, then the header block; text only.
for _name, _sep, _lang in (
    ("en", "-----Original Message-----", "en"),
    ("de", "-----Ursprüngliche Nachricht-----", "de"),
    ("da", "-----Oprindelig meddelelse-----", "da"),
    ("de2", "-----Antwort Nachricht-----", "de"),
):
    add(
        f"outlook-old-{_name}",
        f"{REPLIES[_lang]}\n\n{_sep}\n{outlook_block(_lang)}\n\n{quoted_for(_lang)}\n",
        REPLIES[_lang],
        mailer=("X-Mailer", "Microsoft Office Outlook 12.0"),
    )

# Outlook on the web: a rule of underscores in the text, divRplyFwdMsg in the HTML.
for _lang in ("en", "zh", "sv"):
    _block = outlook_block(_lang)
    add(
        f"owa-{_lang}-top",
        f"{REPLIES[_lang]}\n\n________________________________\n{_block}\n\n{quoted_for(_lang)}\n",
        REPLIES[_lang],
        '<html><head><style type="text/css">P {margin:0;}</style></head><body dir="ltr">'
        f'<div style="font-family:Calibri">{html_lines(REPLIES[_lang])}</div>'
        '<div id="appendonsend"></div><hr style="display:inline-block;width:98%" tabindex="-1">'
        '<div id="divRplyFwdMsg" dir="ltr"><font face="Calibri, sans-serif" style="font-size:11pt">'
        + "<br>".join(
            f"<b>{htmllib.escape(l.split(':', 1)[0])}:</b>{htmllib.escape(l.split(':', 1)[1])}"
            for l in _block.split("\n")
        )
        + f"</font><div>&nbsp;</div></div><div>{html_lines(quoted_for(_lang))}</div></body></html>",
        ("X-MS-Has-Attach", ""),
    )

# -- Gmail: "On … wrote:" in a gmail_quote ---------------------------------------------------

GMAIL_ATTRIBUTION = {
    "en": "On Wed, Oct 25, 2023 at 9:20 AM IT Support <support@example.com> wrote:",
    "zh": "IT Support <support@example.com> 于2023年10月25日周三 09:20写道：",
    "de": "Am Mi., 25. Okt. 2023 um 09:20 Uhr schrieb IT Support <support@example.com>:",
    "ja": "2023年10月25日(水) 9:20 IT Support <support@example.com>:",
    "fr": "Le mer. 25 oct. 2023 à 09:20, IT Support <support@example.com> a écrit :",
    "nl": "Op wo 25 okt 2023 om 09:20 schreef IT Support <support@example.com>:",
    "sv": "Den ons 25 okt. 2023 kl 09:20 skrev IT Support <support@example.com>:",
    "da": "Den ons. 25. okt. 2023 kl. 09.20 skrev IT Support <support@example.com>:",
    "no": "ons. 25. okt. 2023 kl. 09:20 skrev IT Support <support@example.com>:",
    "pl": "śr., 25 paź 2023 o 09:20 IT Support <support@example.com> napisał(a):",
    "ru": "ср, 25 окт. 2023 г. в 09:20, IT Support <support@example.com>:",
    "vi": "Vào Th 4, 25 thg 10, 2023 vào lúc 09:20 IT Support <support@example.com> đã viết:",
    "es": "El mié, 25 oct 2023 a las 9:20, IT Support (<support@example.com>) escribió:",
    "it": "Il giorno mer 25 ott 2023 alle ore 09:20 IT Support <support@example.com> ha scritto:",
    "pt": "Em qua., 25 de out. de 2023 às 09:20, IT Support <support@example.com> escreveu:",
    "ko": "2023년 10월 25일 (수) 오전 9:20, IT Support <support@example.com>님이 작성:",
    "cs": "Dne 25. 10. 2023 v 9:20 IT Support <support@example.com> napsal(a):",
}


def gmail_html(reply: str, attribution: str, quote: str) -> str:
    return (
        f'<div dir="ltr">{html_lines(reply)}</div><br><div class="gmail_quote">'
        f'<div dir="ltr" class="gmail_attr">{htmllib.escape(attribution)}<br></div>'
        '<blockquote class="gmail_quote" style="margin:0px 0px 0px 0.8ex;'
        f'border-left:1px solid rgb(204,204,204);padding-left:1ex">{html_lines(quote)}'
        "</blockquote></div>"
    )


for _lang, _attribution in GMAIL_ATTRIBUTION.items():
    _quote = quoted_for(_lang)
    add(
        f"gmail-{_lang}-top",
        f"{REPLIES[_lang]}\n\n{_attribution}\n\n{quoted(_quote)}\n",
        REPLIES[_lang],
        gmail_html(REPLIES[_lang], _attribution, _quote),
        ("Content-Language", _lang),
    )

# Gmail's plain text wraps a long attribution; this one has no HTML part (a plain-text reply).
add(
    "gmail-en-wrapped",
    "Still the same error 809, see the screenshot.\n\nOn Wed, Oct 25, 2023 at 9:20 AM IT Support "
    "Desk Shanghai Office <support@example.com>\nwrote:\n\n" + quoted(QUOTED["en"]) + "\n",
    "Still the same error 809, see the screenshot.",
)
_FORWARD = (
    "---------- Forwarded message ---------\nFrom: ERP System <erp@example.com>\n"
    "Date: Wed, Oct 25, 2023 at 9:00 AM\nSubject: Login failed\nTo: <anna@example.com>\n\n\n"
    "Database connection timeout (0x80004005) at 09:00:12.\nSession 4711 was closed."
)
add(
    "gmail-en-forward",
    "This is the error mail I got this morning.\n\n" + _FORWARD + "\n",
    "This is the error mail I got this morning.\n\n" + _FORWARD,
    '<div dir="ltr">This is the error mail I got this morning.<br><br><div class="gmail_quote">'
    '<div dir="ltr" class="gmail_attr">---------- Forwarded message ---------<br>From: '
    "<strong>ERP System</strong> <span>&lt;erp@example.com&gt;</span><br>Date: Wed, Oct 25, "
    "2023 at 9:00 AM<br>Subject: Login failed<br>To: &lt;anna@example.com&gt;<br></div><br><br>"
    "<div>Database connection timeout (0x80004005) at 09:00:12.<br>Session 4711 was closed."
    "</div></div></div>",
    subject="Fwd: Login failed",
)
add(
    "gmail-en-bottom",
    "Hi,\n\nOn Wed, Oct 25, 2023 at 9:20 AM IT Support <support@example.com> wrote:\n\n"
    + quoted(QUOTED["en"])
    + "\n\nI restarted it twice, the error stays.\n\nAnna\n",
    "Hi,\n\nI restarted it twice, the error stays.\n\nAnna",
)

# -- Apple Mail and iOS ----------------------------------------------------------------------

_APPLE_EN = "On 25 Oct 2023, at 09:20, IT Support <support@example.com> wrote:"
_APPLE_ZH = "在 2023年10月25日，09:20，IT Support <support@example.com> 写道："
for _name, _reply, _footer, _attribution, _quote in (
    ("ios-en", "Works now, thanks!", "Sent from my iPhone", _APPLE_EN, QUOTED["en"]),
    ("ios-zh", "好了，谢谢！", "发自我的iPhone", _APPLE_ZH, QUOTED["zh"]),
    ("mac-en", "Thanks, the VPN connects again.\n\nAnna", "", _APPLE_EN, QUOTED["en"]),
):
    _top = _reply + (f"\n\n{_footer}" if _footer else "")
    add(
        f"apple-{_name}-top",
        f"{_top}\n\n> {_attribution}\n> \n{quoted(_quote)}\n",
        _reply,
        '<html><head><meta http-equiv="content-type" content="text/html; charset=utf-8"></head>'
        f'<body dir="auto">{html_lines(_top)}<div dir="ltr"><br><blockquote type="cite">'
        f"{htmllib.escape(_attribution)}<br><br></blockquote></div>"
        f'<blockquote type="cite"><div dir="ltr">{html_lines(_quote)}</div></blockquote></body></html>',
        ("X-Mailer", "iPhone Mail (21A351)" if "ios" in _name else "Apple Mail (2.3731.700.6)"),
    )
_APPLE_FORWARD = (
    "Begin forwarded message:\n\nFrom: ERP System <erp@example.com>\nSubject: Login failed\n"
    "Date: 25 October 2023 at 09:00:00 CST\nTo: anna@example.com\n\n"
    "Database connection timeout (0x80004005) at 09:00:12."
)
add(
    "apple-mac-forward",
    "See the mail below.\n\n" + _APPLE_FORWARD + "\n",
    "See the mail below.\n\n" + _APPLE_FORWARD,
    subject="Fwd: Login failed",
    mailer=("X-Mailer", "Apple Mail (2.3731.700.6)"),
)

# -- Thunderbird: top, bottom and inline --------------------------------------------------------

TB_ATTRIBUTION = {
    "en": "On 25/10/2023 09:20, IT Support wrote:",
    "de": "Am 25.10.23 um 09:20 schrieb IT Support:",
    "fr": "Le 25/10/2023 à 09:20, IT Support a écrit :",
    "pl": "W dniu 25.10.2023 o 09:20, IT Support pisze:",
    "ru": "25.10.2023 09:20, IT Support пишет:",
    "nl": "Op 25-10-2023 om 09:20 schreef IT Support:",
    "sv": "Den 2023-10-25 kl. 09:20, skrev IT Support:",
    "da": "Den 25.10.2023 kl. 09.20 skrev IT Support:",
    "no": "Den 25.10.2023 09:20, skrev IT Support:",
}
BOTTOM = {
    "en": "Restarted twice, still error 809. The log is attached.",
    "de": "Zweimal neu gestartet, immer noch Fehler 809. Das Log hängt an.",
    "fr": "Redémarré deux fois, toujours l'erreur 809. Le journal est joint.",
    "pl": "Dwa razy uruchomiłam ponownie, nadal błąd 809. Log w załączniku.",
    "ru": "Перезапускала дважды, ошибка 809 осталась. Журнал во вложении.",
    "nl": "Twee keer herstart, nog steeds fout 809. Het logbestand zit erbij.",
    "sv": "Startat om två gånger, fortfarande fel 809. Loggen bifogas.",
    "da": "Genstartet to gange, stadig fejl 809. Loggen er vedhæftet.",
    "no": "Startet på nytt to ganger, fortsatt feil 809. Loggen er vedlagt.",
}
_TB = ("User-Agent", "Mozilla Thunderbird")
for _lang, _attribution in TB_ATTRIBUTION.items():
    add(
        f"thunderbird-{_lang}-bottom",
        f"{_attribution}\n{quoted(QUOTED['en'])}\n\n{BOTTOM[_lang]}\n\n-- \nAnna Berg\nFinance\n",
        BOTTOM[_lang],
        mailer=_TB,
    )
add(
    "thunderbird-en-top-html",
    "Solved, thank you!\n\nAnna\n\n" + TB_ATTRIBUTION["en"] + "\n" + quoted(QUOTED["en"]) + "\n",
    "Solved, thank you!\n\nAnna",
    '<html><body><p>Solved, thank you!</p><p>Anna</p><div class="moz-cite-prefix">'
    f'{TB_ATTRIBUTION["en"]}<br></div><blockquote type="cite" cite="mid:TS20231025001.abc@'
    f'example.com">{html_lines(QUOTED["en"])}</blockquote></body></html>',
    _TB,
)
_INLINE_Q = [
    "Which version of the VPN client do you use?",
    "And which Windows version?",
    "Please also send a screenshot of the error.",
]
add(
    "thunderbird-en-inline",
    TB_ATTRIBUTION["en"]
    + "\n> Hello Anna,\n>\n> "
    + _INLINE_Q[0]
    + "\n\n5.2.1\n\n> "
    + _INLINE_Q[1]
    + "\n\nWindows 11 23H2\n\n> "
    + _INLINE_Q[2]
    + "\n>\n> IT Support\n\n"
    "Attached.\n",
    "> Hello Anna,\n> " + _INLINE_Q[0] + "\n\n5.2.1\n\n> " + _INLINE_Q[1] + "\n\nWindows 11 23H2"
    "\n\n> " + _INLINE_Q[2] + "\n> IT Support\n\nAttached.",
    mailer=_TB,
)
add(
    "thunderbird-de-inline",
    "Hallo,\n\n" + TB_ATTRIBUTION["de"] + "\n> Welche Version nutzen Sie?\n\n5.2.1\n\n"
    "> Seit wann tritt der Fehler auf?\n\nSeit gestern früh.\n\nGruß\nAnna\n",
    "Hallo,\n\n> Welche Version nutzen Sie?\n\n5.2.1\n\n> Seit wann tritt der Fehler auf?\n\n"
    "Seit gestern früh.\n\nGruß\nAnna",
    mailer=_TB,
)
_TB_FORWARD = (
    "-------- Forwarded Message --------\nSubject: \tLogin failed\n"
    "Date: \tWed, 25 Oct 2023 09:00:00 +0800\nFrom: \tERP System <erp@example.com>\n"
    "To: \tanna@example.com\n\n\n\nDatabase connection timeout (0x80004005) at 09:00:12."
)
add(
    "thunderbird-en-forward",
    "The ERP sent me this.\n\n" + _TB_FORWARD + "\n",
    "The ERP sent me this.\n\n" + _TB_FORWARD,
    subject="Fwd: Login failed",
    mailer=_TB,
)

# -- Chinese clients: Foxmail, QQ Mail, 163 and 126 ------------------------------------------

_FM = ("X-Mailer", "Foxmail 7.2.25.228[cn]")
add(
    "foxmail-zh-top",
    "收到，已经可以了，谢谢！\n\n\n\nwangfang@example.cn\n \n发件人： IT Support\n"
    "发送时间： 2023-10-25 09:20\n收件人： 王芳\n主题： " + SUBJECT + "\n" + QUOTED["zh"] + "\n",
    "收到，已经可以了，谢谢！\n\nwangfang@example.cn",
    '<html><body><div>收到，已经可以了，谢谢！</div><div><br></div><hr style="width: 210px; '
    'height: 1px;" color="#b5c4df" size="1" align="left"><div><span>wangfang@example.cn</span>'
    '</div><blockquote style="margin-Top: 0px; margin-Bottom: 0px; margin-Left: 0.5em"><div>&nbsp;'
    '</div><div style="border:none;border-top:solid #B5C4DF 1.0pt;padding:3.0pt 0cm 0cm 0cm">'
    "<div><b>发件人：</b>&nbsp;IT Support</div><div><b>发送时间：</b>&nbsp;2023-10-25&nbsp;09:20"
    f"</div><div><b>收件人：</b>&nbsp;王芳</div><div><b>主题：</b>&nbsp;{SUBJECT}</div></div>"
    f"<div>{html_lines(QUOTED['zh'])}</div></blockquote></body></html>",
    _FM,
)
add(
    "foxmail-en-separator",
    'OK now, thanks.\n\n------------------ Original ------------------\nFrom:  "IT Support"'
    '<support@example.com>;\nDate:  Wed, Oct 25, 2023 09:20 AM\nTo:  "Anna"<anna@example.com>;'
    "\nSubject:  " + SUBJECT + "\n\n" + QUOTED["en"] + "\n",
    "OK now, thanks.",
    mailer=_FM,
)
_QQ_BLOCK = (
    '------------------ 原始邮件 ------------------\n发件人: "IT Support"<support@example.com>;'
    '\n发送时间: 2023年10月25日(星期三) 上午9:20\n收件人: "王芳"<wangfang@qq.com>;\n'
    "主题: " + SUBJECT
)


def qq_html(reply: str, block: str, quote: str) -> str:
    first, rest = block.split("\n", 1)
    return (
        f"<div>{html_lines(reply)}</div><div><br></div><div><br></div>"
        '<div style="font-size: 12px;font-family: Arial Narrow;padding:2px 0 2px 0;">'
        f"{first.replace(' ', '&nbsp;')}</div>"
        '<div style="font-size: 12px;background:#efefef;padding:8px;">'
        + "".join(f"<div>{htmllib.escape(line)}</div>" for line in rest.split("\n"))
        + f"</div><div><br></div>{html_lines(quote)}"
    )


_QQ = ("X-QQ-Mailer", "QQMail 2.x")
add(
    "qq-zh-top",
    "好的，已经连上了。\n\n\n\n" + _QQ_BLOCK + "\n\n\n\n" + QUOTED["zh"] + "\n",
    "好的，已经连上了。",
    qq_html("好的，已经连上了。", _QQ_BLOCK, QUOTED["zh"]),
    _QQ,
    sender="王芳 <wangfang@qq.com>",
)
add(
    "qq-zh-mobile",
    "还是不行，截图发你了\n\n\n\n发自我的iPhone\n\n\n"
    + _QQ_BLOCK
    + "\n\n\n\n"
    + QUOTED["zh"]
    + "\n",
    "还是不行，截图发你了",
    qq_html("还是不行，截图发你了\n\n发自我的iPhone", _QQ_BLOCK, QUOTED["zh"]),
    _QQ,
    sender="王芳 <wangfang@qq.com>",
)
_QQ_FWD_BODY = "ERP 系统提示：数据库连接超时（错误 0x80004005），请联系管理员。"
add(
    "qq-zh-forward",
    "这是系统发给我的报错邮件。\n\n\n\n"
    + _QQ_BLOCK.replace(SUBJECT, "ERP 登录失败")
    + "\n\n\n\n"
    + _QQ_FWD_BODY
    + "\n",
    "这是系统发给我的报错邮件。\n\n"
    + _QQ_BLOCK.replace(SUBJECT, "ERP 登录失败")
    + "\n\n"
    + _QQ_FWD_BODY,
    subject="转发：ERP 登录失败",
    mailer=_QQ,
    sender="王芳 <wangfang@qq.com>",
)
for _domain, _reply in (("163", "已经好了，谢谢"), ("126", "还是报错 809")):
    _attribution = '在 2023-10-25 09:20:00，"IT Support" <support@example.com> 写道：'
    add(
        f"netease{_domain}-zh-top",
        f"{_reply}\n\n\n\n\n\n\n\n{_attribution}\n{quoted(QUOTED['zh'])}\n",
        _reply,
        f'<div style="line-height:1.7;color:#000000;font-size:14px;font-family:Arial">'
        f'<div>{htmllib.escape(_reply)}</div><br><br><div style="position:relative;zoom:1"></div>'
        f'<div id="divNeteaseMailCard"></div><br>{htmllib.escape(_attribution)}<br> '
        '<blockquote id="isReplyContent" style="PADDING-LEFT: 1ex; MARGIN: 0px 0px 0px 0.8ex; '
        f'BORDER-LEFT: #ccc 1px solid">{html_lines(QUOTED["zh"])}</blockquote></div>',
        ("X-Mailer", f"Coremail Webmail Server Version XT5.0.13 build 20230524({_domain})"),
        sender=f"王芳 <wangfang@{_domain}.com>",
    )
add(
    "netease163-zh-master",
    "重启后正常了\n\n发自网易邮箱大师\n\n"
    "---- 回复的原邮件 ----\n| 发件人 | IT Support<support@example.com> |\n| 日期 | 2023年10月25日 "
    "09:20 |\n| 收件人 | 王芳<wangfang@163.com> |\n| 主题 | "
    + SUBJECT
    + " |\n"
    + QUOTED["zh"]
    + "\n",
    "重启后正常了",
    mailer=("X-Mailer", "MailMasterAndroid"),
)

# -- NeoMutt, Yandex, Mail.ru ----------------------------------------------------------------

_MUTT = ("User-Agent", "NeoMutt/20220429")
add(
    "neomutt-en-top",
    "Fixed, thanks.\n\nOn Wed, Oct 25, 2023 at 09:20:00AM +0800, IT Support wrote:\n"
    + quoted(QUOTED["en"])
    + "\n\n-- \nBob Li\n",
    "Fixed, thanks.",
    mailer=_MUTT,
)
add(
    "neomutt-en-bottom",
    "* IT Support <support@example.com> [2023-10-25 09:20 +0800]:\n"
    + quoted(QUOTED["en"])
    + "\n\nDid that, no change: still 809 after the restart.\n\n-- \nBob Li\n",
    "Did that, no change: still 809 after the restart.",
    mailer=_MUTT,
)
add(
    "neomutt-en-inline",
    "* IT Support <support@example.com> [2023-10-25 09:20 +0800]:\n> Hello Bob,\n>\n"
    "> Which server do you connect to?\n\nvpn2.example.com\n\n> Does it fail on Wi-Fi too?\n\n"
    "Only on Wi-Fi; on cable it works.\n\n> IT Support\n",
    "> Hello Bob,\n> Which server do you connect to?\n\nvpn2.example.com\n\n"
    "> Does it fail on Wi-Fi too?\n\nOnly on Wi-Fi; on cable it works.",
    mailer=_MUTT,
)
_YANDEX = '25.10.2023, 09:20, "IT Support" <support@example.com>:'
add(
    "yandex-ru-top",
    "Спасибо, заработало.\n\n" + _YANDEX + "\n" + quoted(QUOTED["en"]) + "\n",
    "Спасибо, заработало.",
    f"<div>Спасибо, заработало.</div><div> </div><div>{htmllib.escape(_YANDEX)}</div>"
    f"<blockquote>{html_lines(QUOTED['en'])}</blockquote>",
    ("X-Mailer", "Yamail [ http://yandex.ru ] 5.0"),
    sender="Анна <anna@yandex.ru>",
)
add(
    "yandex-ru-date-only-text",
    "Ошибка 809 осталась.\n\n-- \nОтправлено из мобильной Яндекс Почты\n\n"
    + _YANDEX
    + "\n\n"
    + quoted(QUOTED["en"])
    + "\n",
    "Ошибка 809 осталась.",
    mailer=("X-Mailer", "Yamail [ http://yandex.ru ] 5.0"),
    sender="Анна <anna@yandex.ru>",
)
_MAILRU = "Среда, 25 октября 2023, 9:20 +03:00 от IT Support <support@example.com>:"
add(
    "mailru-ru-top",
    "Всё работает, спасибо!\n\n\n>" + _MAILRU + "\n>\n" + quoted(QUOTED["en"], ">") + "\n",
    "Всё работает, спасибо!",
    '<div>Всё работает, спасибо!</div><div>&nbsp;</div><blockquote style="border-left:1px solid '
    f'#0857A6; margin:10px; padding:0 0 0 10px;">{htmllib.escape(_MAILRU)}<br>&nbsp;'
    f'<div id=""><div class="js-helper js-readmsg-msg">{html_lines(QUOTED["en"])}</div></div>'
    "</blockquote>",
    ("X-Mailer", "Mail.Ru Mailer 1.0"),
    sender="Анна <anna@mail.ru>",
)

# -- Text of the writer's own that looks like a quote mark, and replies with none --------------

add(
    "plain-en-no-quote",
    'The dialog wrote:\n"Error 809: the network connection could not be established."\n\n'
    "I tried both servers.\n",
    'The dialog wrote:\n"Error 809: the network connection could not be established."\n\n'
    "I tried both servers.",
)
add(
    "plain-zh-no-quote",
    "补充一下：从昨天下午开始的，公司里用有线网络没问题，只有在家用 VPN 时报错。\n\n王芳\n",
    "补充一下：从昨天下午开始的，公司里用有线网络没问题，只有在家用 VPN 时报错。\n\n王芳",
)
add(
    "plain-en-dashes-list",
    "Steps I took:\n-- uninstalled the client\n-- rebooted\n-- installed 5.2.1\n\nStill 809.\n",
    "Steps I took:\n-- uninstalled the client\n-- rebooted\n-- installed 5.2.1\n\nStill 809.",
)


def main() -> None:
    for old in HERE.glob("*.eml"):
        old.unlink()
    for old in HERE.glob("*.expected.txt"):
        old.unlink()
    for name, raw, expected in CASES:
        (HERE / f"{name}.eml").write_bytes(raw)
        (HERE / f"{name}.expected.txt").write_text(expected + "\n", encoding="utf-8")
    print(f"{len(CASES)} cases written to {HERE}")


if __name__ == "__main__":
    main()
