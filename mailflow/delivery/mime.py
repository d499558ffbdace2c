"""Build the MIME bytes of a mail we send.

Every mail we send carries: its own Message-ID, In-Reply-To/References pointing at the mail it
answers (so clients thread it), ``Auto-Submitted: auto-replied`` or ``auto-generated`` (RFC 3834,
so well-behaved responders do not answer us), ``X-Auto-Response-Suppress`` (Exchange's switch for
the same), and ``X-Mailflow-Loop`` naming our address, by which we recognise our own mail.

The structure is always the same (text, optionally with an HTML alternative), so it is written
directly with the stdlib's header and transfer encoders: ``email.message.EmailMessage`` with
``policy.SMTP`` produces the same bytes but spends ~5 ms a mail folding headers, which was a third
of the ingest cost per mail.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import email.header
import email.utils
import re
import secrets
from dataclasses import dataclass, field

from mailflow.mail import addresses
from mailflow.mail.addresses import Address

LOOP_HEADER = "X-Mailflow-Loop"
_ATOM_PHRASE = re.compile(r"[A-Za-z0-9!#$%&'*+/^_`{|}~ -]+")
_MSGID = re.compile(r"<[^<>@]+@[^<>@]+>")
_HEADER_NAME = re.compile(r"[\x21-\x39\x3b-\x7e]+")
_PLAIN_NAME = re.compile(r"[A-Za-z0-9 !#$%&'()*+,\-.:;<=>?@\[\]^_`{|}~]{1,150}")
_MIME_TYPE = re.compile(r"[a-z0-9][a-z0-9!#$&^_.+-]*/[a-z0-9][a-z0-9!#$&^_.+-]*")
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
    attachments: tuple[tuple[str, str, bytes], ...] = ()  # filename, content type, bytes
    # Images the HTML shows by "cid:<id>" (PNG charts): sent with it as multipart/related.
    images: tuple[tuple[str, bytes], ...] = ()  # content id, PNG bytes


def make_message_id(token: str, domain: str, ticket_number: str | None) -> str:
    """``<TS20261125001.abcd1234@example.com>``: the ticket number helps threading fallback."""
    left = f"{ticket_number}.{token}" if ticket_number else token
    return f"<{left}@{domain}>"


def _encode_text(value: str, name: str) -> str:
    """A header value: plain ASCII as is, anything else as RFC 2047 UTF-8 words, folded.

    Line breaks and other control characters never survive: whatever a value holds, it stays
    one header.
    """
    value = one_line(value)
    if value.isascii() and len(value) + len(name) < 76:
        return value
    return email.header.Header(value, "utf-8", header_name=name).encode(linesep="\r\n")


def one_line(value: str) -> str:
    """``value`` without control characters, its whitespace runs made single spaces."""
    return " ".join(
        "".join(" " if ch.isspace() or not ch.isprintable() else ch for ch in value).split()
    )


def _address(address: Address) -> str:
    """One address for a header: the name RFC 2047-encoded or quoted, the addr-spec checked.

    ``email.utils.formataddr`` neither refuses CR/LF in a name nor takes an internationalised
    address (RFC 6531), so the address is normalized here (``AddressError`` if unfit) and
    written as its A-label form when it has one, else as UTF-8 (the sender then needs SMTPUTF8).
    """
    canonical = addresses.normalize(address.email)
    spec = addresses.ascii_form(canonical) or canonical
    name = addresses.clean_name(address.name)
    if not name:
        return spec
    if not name.isascii() or "=?" in name:
        # A name that looks like an encoded word is encoded too: clients decode "=?...?="
        # even inside quoted strings, and it must read as the characters it is.
        encoded = email.header.Header(name, "utf-8").encode(linesep="\r\n")
        return f"{encoded} <{spec}>"
    if _ATOM_PHRASE.fullmatch(name):
        return f"{name} <{spec}>"
    quoted = name.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{quoted}" <{spec}>'


def _addresses(name: str, addresses: tuple[Address, ...]) -> str:
    return f"{name}: " + ",\r\n ".join(_address(a) for a in addresses)


def _ids(values: list[str]) -> list[str]:
    """Message-IDs fit for our headers: ASCII ``<...>`` without spaces or controls.

    An 8-bit id (RFC 6532) stays on record and still threads inbound mail; it is left out of
    what we write, where it would force SMTPUTF8 on a mail that otherwise needs none.
    """
    return [
        v
        for v in values
        if v.isascii() and v.isprintable() and " " not in v and _MSGID.fullmatch(v)
    ]


def _part(subtype: str, body: str) -> bytes:
    data = body.replace("\r\n", "\n").replace("\n", "\r\n").encode("utf-8")
    encoded = binascii.b2a_qp(data, istext=True, header=False)
    # b2a_qp keeps CRLF line ends as they are and soft-wraps at 76 characters.
    return (
        f'Content-Type: text/{subtype}; charset="utf-8"\r\n'
        "Content-Transfer-Encoding: quoted-printable\r\n\r\n"
    ).encode("ascii") + encoded.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


_CONTENT_ID = re.compile(r"[A-Za-z0-9._-]{1,64}@[A-Za-z0-9.-]{1,200}")


def build(mail: OutgoingMail, message_id: str, date: dt.datetime) -> bytes:
    """The mail as RFC 5322 bytes (CRLF line ends, UTF-8 bodies, encoded headers)."""
    return b"".join(pieces(mail, message_id, date))


def pieces(mail: OutgoingMail, message_id: str, date: dt.datetime) -> list[bytes]:
    """``build``'s bytes in pieces, for writing a large mail out without joining it."""
    head = [
        f"From: {_address(mail.sender)}",
        _addresses("To", mail.to),
    ]
    if mail.cc:
        head.append(_addresses("Cc", mail.cc))
    head += [
        f"Subject: {_encode_text(mail.subject, 'Subject')}",
        f"Date: {email.utils.format_datetime(date.astimezone(dt.UTC))}",
        f"Message-ID: {message_id}",
    ]
    in_reply_to = _ids([mail.in_reply_to])
    if in_reply_to:
        head.append(f"In-Reply-To: {in_reply_to[0]}")
    references = _ids([r for r in mail.references if r])
    if in_reply_to and in_reply_to[0] not in references:
        references.append(in_reply_to[0])
    if references:
        # Keep the thread root and the most recent ids: some servers refuse very long headers.
        trimmed = references if len(references) <= 20 else references[:1] + references[-19:]
        head.append("References: " + "\r\n ".join(trimmed))
    head += [
        f"Auto-Submitted: {mail.auto_submitted}",
        "X-Auto-Response-Suppress: All",
        f"{LOOP_HEADER}: {mail.sender.email}",
    ]
    if mail.ticket_number:
        head.append(f"{TICKET_HEADER}: {mail.ticket_number}")
    for name, value in mail.extra_headers:
        if not _HEADER_NAME.fullmatch(name):
            raise ValueError(f"not a header name: {name!r}")
        head.append(f"{name}: {_encode_text(value, name)}")
    head.append("MIME-Version: 1.0")
    # UTF-8 only where an internationalised address demands it (RFC 6532); then the mail
    # is not ASCII and the transport asks the server for SMTPUTF8.
    header_bytes = "\r\n".join(head).encode("utf-8") + b"\r\n"
    body = _body(mail)
    if not mail.attachments:
        return [header_bytes, body]
    boundary = f"=_mailflow_mixed_{secrets.token_hex(12)}"
    delimiter = f"--{boundary}\r\n".encode("ascii")
    # One join of many pieces: a file is in memory as its bytes, its encoded pieces and the
    # mail, never as further whole copies on the way.
    result = [
        header_bytes,
        f'Content-Type: multipart/mixed; boundary="{boundary}"\r\n\r\n'.encode("ascii"),
        delimiter,
        body,
        b"\r\n",
    ]
    for name, kind, data in mail.attachments:
        result += [delimiter, *_file(name, kind, data), b"\r\n"]
    result.append(f"--{boundary}--\r\n".encode("ascii"))
    return result


def _body(mail: OutgoingMail) -> bytes:
    """The text part, or text and HTML as alternatives."""
    if not mail.html:
        return _part("plain", mail.text)
    boundary = f"=_mailflow_{secrets.token_hex(12)}"
    html = _part("html", mail.html)
    if mail.images:
        html = _related(html, mail.images)
    return b"".join(
        [
            f'Content-Type: multipart/alternative; boundary="{boundary}"\r\n\r\n'.encode("ascii"),
            f"--{boundary}\r\n".encode("ascii"),
            _part("plain", mail.text),
            f"\r\n--{boundary}\r\n".encode("ascii"),
            html,
            f"\r\n--{boundary}--\r\n".encode("ascii"),
        ]
    )


def _related_type(boundary: str) -> bytes:
    return (
        f'Content-Type: multipart/related; type="text/html"; boundary="{boundary}"\r\n\r\n'
    ).encode("ascii")


def _related(html: bytes, images: tuple[tuple[str, bytes], ...]) -> bytes:
    """The HTML part with the images it shows by cid: (RFC 2387), as every client expects."""
    boundary = f"=_mailflow_related_{secrets.token_hex(12)}"
    parts = [html]
    for content_id, data in images:
        if not _CONTENT_ID.fullmatch(content_id):
            raise ValueError(f"not a content id: {content_id!r}")
        encoded = base64.encodebytes(data).replace(b"\n", b"\r\n")
        parts.append(
            (
                "Content-Type: image/png\r\n"
                f"Content-ID: <{content_id}>\r\n"
                f'Content-Disposition: inline; filename="{content_id.split("@")[0]}.png"\r\n'
                "Content-Transfer-Encoding: base64\r\n\r\n"
            ).encode("ascii")
            + encoded
        )
    return b"".join(
        [
            _related_type(boundary),
            *(f"--{boundary}\r\n".encode("ascii") + part + b"\r\n" for part in parts),
            f"--{boundary}--\r\n".encode("ascii"),
        ]
    )


def _file(name: str, content_type: str, data: bytes) -> list[bytes]:
    """An attachment part whose name every client reads as the ticket stores it.

    A plain name goes in a quoted string; one with a quote, a backslash, a control character or
    anything not ASCII is RFC 2231-encoded (percent escapes), so no character of the name can
    end the parameter and start another.
    """
    if _PLAIN_NAME.fullmatch(name):
        param = f'="{name}"'
    else:
        param = "*=" + email.utils.encode_rfc2231(name, "utf-8")
    if not _MIME_TYPE.fullmatch(content_type):
        content_type = "application/octet-stream"
    head = (
        f"Content-Type: {content_type}; name{param}\r\n"
        f"Content-Disposition: attachment; filename{param}\r\n"
        "Content-Transfer-Encoding: base64\r\n\r\n"
    ).encode("ascii")
    view = memoryview(data)
    return [head] + [
        base64.encodebytes(view[at : at + _ENCODE_CHUNK]).replace(b"\n", b"\r\n")
        for at in range(0, len(data), _ENCODE_CHUNK)
    ]


# Bytes of a file encoded at a time: whole 76-character lines (57 bytes each), about 64 KB.
_ENCODE_CHUNK = 57 * 1150
