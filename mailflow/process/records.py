"""Recording an inbound mail: the message row and its attachments (their bytes are in the store)."""

from __future__ import annotations

import datetime as dt

from mailflow.mail.attachments import ParsedAttachment
from mailflow.mail.parsing import InboundMail
from mailflow.mail.quoting import visible_text
from mailflow.store.models import Attachment, Message, Ticket, utc
from mailflow.store.rows import insert_row


def store_inbound(
    ticket: Ticket | None,
    mail: InboundMail,
    source_ref: str | None,
    now: dt.datetime,
    kind: str = "mail",
    reply: bool = False,
    accepted: tuple[ParsedAttachment, ...] = (),
    digests: tuple[str, ...] = (),
) -> int:
    """Record an inbound mail and its attachments; the message's id.

    For a ``reply`` the shown text leaves out quoted history and signature; a new request is
    shown whole (a forwarded problem report *is* its quoted part). ``full_text`` keeps all.
    """
    message_id = insert_row(
        Message,
        ticket=ticket,
        direction="in",
        kind=kind,
        dedupe_key=mail.dedupe_key,
        message_id=mail.message_id,
        in_reply_to=" ".join(mail.in_reply_to),
        references=list(mail.references),
        from_addr=mail.sender.email if mail.sender else "",
        from_name=mail.sender.name if mail.sender else "",
        to=[a.email for a in mail.to],
        cc=[a.email for a in mail.cc],
        subject=mail.subject,
        text=visible_text(mail.text, mail.html, mail.subject) if reply else mail.text,
        full_text=mail.text,
        html=mail.html,
        date_header=utc(mail.date) if mail.date else None,
        created_at=utc(now),
        raw_sha256=mail.raw_sha256,
        raw_size=mail.raw_size,
        source_ref=source_ref,
        defects=list(mail.defects),
    )
    for item, digest in zip(accepted, digests, strict=True):
        insert_row(
            Attachment,
            message=message_id,
            filename=item.filename,
            content_type=item.content_type,
            size=item.size,
            sha256=digest,
            content_id=item.content_id,
            inline=item.inline,
        )
    return message_id
