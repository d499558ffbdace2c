"""Build the MIME bytes of a mail we send.

Every mail we send carries: its own Message-ID, In-Reply-To/References pointing at the mail it
answers (so clients thread it), ``Auto-Submitted: auto-replied`` or ``auto-generated`` (RFC 3834,
so well-behaved responders do not answer us), ``X-Auto-Response-Suppress`` (Exchange's switch for
the same), and ``X-Mailflow-Loop`` naming our address, by which we recognise our own mail.
"""

from __future__ import annotations

import datetime as dt
import email.policy
import email.utils
from dataclasses import dataclass, field
from email.headerregistry import Address as HeaderAddress
from email.message import EmailMessage

from mailflow.parsing import Address

LOOP_HEADER = "X-Mailflow-Loop"
TICKET_HEADER = "X-Mailflow-Ticket"


@dataclass(frozen=True)
class OutgoingMail:
    sender: Address
    to: tuple[Address, ...]
    subject: str
    text: str
    html: str | None
    ticket_number: str | None = None
    in_reply_to: str = ""
    references: tuple[str, ...] = ()
    auto_submitted: str = "auto-replied"
    cc: tuple[Address, ...] = ()
    extra_headers: tuple[tuple[str, str], ...] = field(default_factory=tuple)


def make_message_id(token: str, domain: str, ticket_number: str | None) -> str:
    """``<TS20261125001.abcd1234@example.com>``: the ticket number helps threading fallback."""
    left = f"{ticket_number}.{token}" if ticket_number else token
    return f"<{left}@{domain}>"


def _header_address(address: Address) -> HeaderAddress:
    return HeaderAddress(display_name=address.name, addr_spec=address.email)


def build(mail: OutgoingMail, message_id: str, date: dt.datetime) -> bytes:
    """The mail as RFC 5322 bytes (CRLF line ends, UTF-8 bodies, encoded headers)."""
    msg = EmailMessage(policy=email.policy.SMTP)
    msg["From"] = _header_address(mail.sender)
    msg["To"] = [_header_address(a) for a in mail.to]
    if mail.cc:
        msg["Cc"] = [_header_address(a) for a in mail.cc]
    msg["Subject"] = mail.subject
    msg["Date"] = email.utils.format_datetime(date.astimezone(dt.UTC))
    msg["Message-ID"] = message_id
    if mail.in_reply_to:
        msg["In-Reply-To"] = mail.in_reply_to
    references = [r for r in mail.references if r]
    if mail.in_reply_to and mail.in_reply_to not in references:
        references.append(mail.in_reply_to)
    if references:
        # Keep the thread root and the most recent ids: some servers refuse very long headers.
        trimmed = references if len(references) <= 20 else references[:1] + references[-19:]
        msg["References"] = " ".join(trimmed)
    msg["Auto-Submitted"] = mail.auto_submitted
    msg["X-Auto-Response-Suppress"] = "All"
    msg[LOOP_HEADER] = mail.sender.email
    if mail.ticket_number:
        msg[TICKET_HEADER] = mail.ticket_number
    for name, value in mail.extra_headers:
        msg[name] = value
    msg.set_content(mail.text, subtype="plain", charset="utf-8", cte="quoted-printable")
    if mail.html:
        msg.add_alternative(mail.html, subtype="html", charset="utf-8", cte="quoted-printable")
    return msg.as_bytes()
