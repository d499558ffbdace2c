"""Build test mails the way real clients write them."""

from __future__ import annotations

import datetime as dt
import email.policy
import email.utils
import itertools
from email.message import EmailMessage
from pathlib import Path

MAIL = Path(__file__).resolve().parent / "mail"
_ids = itertools.count(1)


def fixture(name: str) -> bytes:
    return (MAIL / name).read_bytes()


def build(
    sender: str,
    to: str,
    subject: str,
    body: str,
    *,
    message_id: str | None = None,
    in_reply_to: str | None = None,
    references: tuple[str, ...] = (),
    date: dt.datetime | None = None,
    attachments: tuple[tuple[str, str, bytes], ...] = (),
    headers: tuple[tuple[str, str], ...] = (),
    html: str | None = None,
) -> bytes:
    """A MIME mail; attachments are (filename, content type, bytes)."""
    msg = EmailMessage(policy=email.policy.SMTP)
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = email.utils.format_datetime(date or dt.datetime.now(dt.UTC))
    msg["Message-ID"] = (
        message_id or f"<test-{next(_ids)}-{dt.datetime.now().timestamp()}@client.example>"
    )
    if in_reply_to:
        msg["In-Reply-To"] = in_reply_to
    if references:
        msg["References"] = " ".join(references)
    for name, value in headers:
        msg[name] = value
    msg.set_content(body)
    if html:
        msg.add_alternative(html, subtype="html")
    for filename, content_type, data in attachments:
        main, _, sub = content_type.partition("/")
        msg.add_attachment(data, maintype=main, subtype=sub, filename=filename)
    return msg.as_bytes()
