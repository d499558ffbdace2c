"""The new part of a reply: quoted history and signatures removed.

mail-parser-reply knows the Outlook header blocks (``From:/Sent:`` and ``发件人:/发送时间:``) and
``On … wrote:`` lines in many languages. The separators of the clients most used in China are
added here, cut before the library runs: QQ Mail and Foxmail (``------------------ 原始邮件
------------------``), 163/126 and Gmail in Chinese (``在 2023年10月25日 …，… 写道：``), Apple Mail
(``2023年10月25日 09:20，… 写道：``), Outlook's ``-----原始邮件-----`` / ``-----Original
Message-----``, a block of ``>`` quotes, and the RFC 3676 signature line ``-- ``.
"""

from __future__ import annotations

import functools
import re
from typing import Any

_SEPARATORS = [
    re.compile(
        r"^[ \t>]*-{3,}\s*(原始邮件|原始郵件|Original Message|Ursprüngliche Nachricht)\s*-{3,}"
        r"\s*$",
        re.MULTILINE | re.IGNORECASE,
    ),
    re.compile(r"^[ \t>]*(在|於|于)\s*.{0,80}?(写道|寫道)\s*[:：]\s*$", re.MULTILINE),
    re.compile(
        r"^[ \t>]*\d{4}\s*年\s*\d{1,2}\s*月\s*\d{1,2}\s*日.{0,80}?(写道|寫道)\s*[:：]\s*$",
        re.MULTILINE,
    ),
    re.compile(
        r"^[ \t]*(发件人|發件人|寄件者)\s*[:：].*\n(.*\n){0,2}"
        r"[ \t]*(发送时间|發送時間|日期|寄件日期|时间|Date)\s*[:：]",
        re.MULTILINE,
    ),
    re.compile(r"^-- $", re.MULTILINE),  # RFC 3676 signature separator (with its space)
    re.compile(r"^_{10,}\s*$", re.MULTILINE),  # Outlook's rule line before the quoted header
]
_QUOTE_BLOCK = re.compile(r"(?:^[ \t]*>.*(?:\n|$)){2,}", re.MULTILINE)


@functools.cache
def _parser() -> Any:
    # Built on first use: only follow-ups need it, and its regexes take a while to compile.
    from mailparser_reply import EmailReplyParser  # noqa: PLC0415

    return EmailReplyParser(languages=["en", "zh", "de", "ja", "fr"])


def visible_text(text: str) -> str:
    """``text`` without quoted history and signature; ``text`` itself if nothing new is left."""
    cut = len(text)
    for pattern in _SEPARATORS:
        match = pattern.search(text)
        if match and match.start() < cut:
            cut = match.start()
    quotes = _QUOTE_BLOCK.search(text)
    if quotes and quotes.start() < cut:
        cut = quotes.start()
    head = text[:cut]
    try:
        reply = _parser().parse_reply(head)
    except Exception:
        reply = head
    result = (reply if reply is not None else head).strip()
    return result or text.strip()
