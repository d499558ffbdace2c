"""Raw bytes → ``InboundMail``: pure, tolerant, no I/O.

mail-parser does the MIME walk (guarded against hostile nesting) and the attachment extraction;
headers and text bodies are decoded by ``headers`` and ``charsets`` so that mislabelled Chinese
mail comes out right. Anything odd is collected as a defect instead of raised; ``ParseError`` is
raised only when there is no mail to speak of, and the caller quarantines it.
"""

from __future__ import annotations

import datetime as dt
import email.message
import email.parser
import email.utils
import hashlib
import re
import unicodedata
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

import mailparser

from mailflow.errors import ParseError
from mailflow.mail import attachments, auth_results, charsets, spooling
from mailflow.mail import headers as hdr
from mailflow.mail.addresses import Address
from mailflow.mail.attachments import ParsedAttachment
from mailflow.mail.htmltext import html_to_text

# Headers later stages look at (loop detection, threading, trust); kept decoded and lower-cased.
KEPT_HEADERS = (
    "auto-submitted",
    "precedence",
    "list-id",
    "list-unsubscribe",
    "x-autoreply",
    "x-autorespond",
    "x-auto-response-suppress",
    "x-mailflow-ticket",
    "x-mailflow-loop",
    "return-path",
    "content-type",
)


@dataclass(frozen=True)
class InboundMail:
    sender: Address | None
    to: tuple[Address, ...]
    cc: tuple[Address, ...]
    reply_to: tuple[Address, ...]
    subject: str
    message_id: str
    in_reply_to: tuple[str, ...]
    references: tuple[str, ...]
    date: dt.datetime | None
    text: str
    html: str | None
    attachments: tuple[ParsedAttachment, ...]
    headers: Mapping[str, str] = field(default_factory=dict)
    defects: tuple[str, ...] = ()
    raw_sha256: str = ""
    raw_size: int = 0
    # From attached or quoted original mails (bounces, forwards): their Message-IDs and our
    # X-Mailflow-Ticket header, for tying a bounce or an auto-reply to its ticket.
    related_ids: tuple[str, ...] = ()
    related_tickets: tuple[str, ...] = ()
    # Recipients a delivery status notification reports as failed for good.
    bounced: tuple[str, ...] = ()
    # The topmost run of Authentication-Results headers (``auth_results.top_block``): only
    # those can have been written by our own border (RFC 8601 section 5).
    auth_results: tuple[tuple[str, ...], ...] = ()
    # The header the sender address came from: "from", or "sender"/"reply-to" when From held
    # no usable address. Authority (staff commands, service-desk intake) needs "from".
    sender_header: str = "from"

    @property
    def dedupe_key(self) -> str:
        """Identity for exactly-once ingest.

        The Message-ID together with the sender: the same message delivered twice (two aliases,
        a retried delivery) carries both unchanged, while two different mails that a broken
        client gave one Message-ID are told apart by their senders. No Message-ID: the raw bytes.
        """
        if self.message_id:
            sender = self.sender.email if self.sender else ""
            return f"mid:{self.message_id}|{sender}"
        return f"sha256:{self.raw_sha256}"

    @property
    def reply_address(self) -> Address | None:
        """Where a reply to the sender goes: Reply-To if given, else From."""
        return self.reply_to[0] if self.reply_to else self.sender


def parse(raw: bytes, sha256: str = "", spool_over: int | None = None) -> InboundMail:
    """Parse one raw RFC 822 message; ``sha256``: its digest, if the caller has it already.

    ``spool_over``: file parts larger than this are not parsed but left in ``raw``
    (``spooling``); their attachments carry ``spool`` and no ``data``, for the caller to
    decode into the store."""
    if not raw or raw.isspace():  # (not strip(): that would copy a large mail whole)
        raise ParseError("empty message")
    head = hdr.raw_headers(raw)
    if not head:
        raise ParseError("no mail headers found")
    raw_for_parser, spools = spooling.skeleton(raw, spool_over) if spool_over else (raw, [])
    try:
        parsed = mailparser.parse_from_bytes(raw_for_parser)
    except Exception as exc:
        raise ParseError(f"MIME structure unreadable: {type(exc).__name__}: {exc}") from exc
    message: email.message.Message = parsed.message
    # mail-parser's own charset complaints are moot: bodies are decoded by ``charsets`` below,
    # which records its own note when a label did not fit.
    defects = [
        text for d in parsed.defects if "CharsetDecodeDefect" not in (text := _describe_defect(d))
    ]
    body, html, body_parts = _body(message, defects)
    refused: list[str] = []
    sender, sender_header = _sender(head, refused)
    to, cc, reply_to = (_addresses(head, key, refused) for key in ("to", "cc", "reply-to"))
    defects += [f"address refused: {reason}" for reason in dict.fromkeys(refused)]
    related_ids, related_tickets = _related(message)
    kept = {
        name: _clean(hdr.decode_value(value)).lower()
        for name in KEPT_HEADERS
        if (value := hdr.first(head, name)) is not None
    }
    files = attachments.unique_names(
        list(attachments.extract(message, body_parts, defects, spools))
    )
    return InboundMail(
        sender=sender,
        to=to,
        cc=cc,
        reply_to=reply_to,
        subject=_clean(hdr.decode_value(hdr.first(head, "subject") or b"")),
        message_id=(hdr.message_ids(hdr.first(head, "message-id")) or [""])[0],
        in_reply_to=tuple(hdr.message_ids(hdr.first(head, "in-reply-to"))),
        references=tuple(hdr.message_ids(hdr.first(head, "references"))),
        date=_date(hdr.first(head, "date")),
        text=_normalize_newlines(body),
        html=html,
        attachments=tuple(files),
        headers=kept,
        defects=tuple(defects),
        raw_sha256=sha256 or hashlib.sha256(raw).hexdigest(),
        raw_size=len(raw),
        related_ids=tuple(dict.fromkeys(related_ids)),
        related_tickets=tuple(dict.fromkeys(related_tickets)),
        bounced=_bounced(message, kept, sender),
        auth_results=_auth_blocks(head),
        sender_header=sender_header,
    )


def _body(message: email.message.Message, defects: list[str]) -> tuple[str, str | None, set[int]]:
    """The text of the body parts in order, the HTML ones joined, and which parts they were.

    Plain text as is; an HTML part converted to text unless it is only the alternative
    rendering of a plain part (then the plain one speaks).
    """
    pieces: list[str] = []
    htmls: list[str] = []
    body_parts: set[int] = set()
    for part, shadowed in _body_parts(message):
        body_parts.add(id(part))
        payload = part.get_payload(decode=True)
        if not isinstance(payload, bytes):
            continue
        text, note = charsets.decode(payload, part.get_content_charset())
        if note:
            defects.append(note)
        if part.get_content_subtype() == "html":
            htmls.append(text)
            if not shadowed:
                pieces.append(html_to_text(text))
        else:
            pieces.append(text)
    html = "\n".join(htmls) if htmls else None
    body = "\n\n".join(t.strip("\r\n") for t in pieces if t.strip())
    if not body and html:  # an empty plain alternative next to a real HTML one
        body = html_to_text(html)
    return body, html, body_parts


def _sender(head: list[tuple[str, bytes]], refused: list[str]) -> tuple[Address | None, str]:
    """The first usable From (some spam carries a broken one before the real one); then
    Sender; then Reply-To, the address a reply would go to anyway. With the header it came
    from."""
    for key in ("from", "sender", "reply-to"):
        for name, value in head:
            if name == key and (found := _first_address(value, refused)) is not None:
                return found, key
    return None, "from"


def _auth_blocks(head: list[tuple[str, bytes]]) -> tuple[tuple[str, ...], ...]:
    # Never decoded as encoded words: a sender-chosen envelope address that our border copies
    # into its verdict must stay one opaque value.
    return tuple(
        tuple(_clean(value.decode("utf-8", "replace")) for value in block)
        for block in auth_results.top_blocks(head)
    )


def _related(message: email.message.Message) -> tuple[list[str], list[str]]:
    """Message-IDs and X-Mailflow-Ticket values of mails attached to ``message``."""
    ids: list[str] = []
    tickets: list[str] = []
    for part in message.walk():
        content_type = part.get_content_type()
        inner: email.message.Message | None = None
        if content_type == "message/rfc822":
            payload = part.get_payload()
            if (
                isinstance(payload, list)
                and payload
                and isinstance(payload[0], email.message.Message)
            ):
                inner = payload[0]
        elif content_type == "text/rfc822-headers":
            data = part.get_payload(decode=True)
            if isinstance(data, bytes):
                inner = email.parser.BytesHeaderParser().parsebytes(data)
        if inner is None:
            continue
        ids += hdr.message_ids(str(inner.get("Message-ID", "")).encode("ascii", "replace"))
        ticket = str(inner.get("X-Mailflow-Ticket", "")).strip()
        if ticket:
            tickets.append(ticket)
    return ids, tickets


def _bounced(
    message: email.message.Message, kept: Mapping[str, str], sender: Address | None
) -> tuple[str, ...]:
    """Permanently failed recipients, when the mail is a delivery status notification."""
    local = sender.email.split("@", 1)[0].replace("-", "") if sender else ""
    if "multipart/report" not in kept.get("content-type", "") and local not in (
        "mailerdaemon",
        "postmaster",
    ):
        return ()
    # Imported here: only bounces need it, and every `mailflow` start would pay for it.
    import flufl.bounce  # noqa: PLC0415

    try:
        _temporary, permanent = flufl.bounce.all_failures(message)
    except Exception:
        return ()
    return tuple(sorted(a.decode("utf-8", "replace").lower() for a in permanent))


def _body_parts(message: email.message.Message) -> Iterator[tuple[email.message.Message, bool]]:
    """Text parts that form the body, in order: not attachments, not inside attached mails.

    Each comes with whether it is an HTML rendering shadowed by a plain alternative.
    """
    stack: list[tuple[email.message.Message, bool]] = [(message, False)]
    while stack:
        part, shadowed = stack.pop(0)
        if part.is_multipart():
            if part.get_content_type() == "message/rfc822":
                continue
            payload = part.get_payload()
            if isinstance(payload, list):
                subparts = [p for p in payload if isinstance(p, email.message.Message)]
                if part.get_content_subtype() == "alternative":
                    chosen = _best_alternative(subparts)
                    has_plain = any(p.get_content_type() == "text/plain" for p in chosen)
                    stack[:0] = [(p, has_plain) for p in chosen]
                else:
                    stack[:0] = [(p, shadowed) for p in subparts]
            continue
        if part.get_content_maintype() != "text" or part.get_content_subtype() not in (
            "plain",
            "html",
        ):
            continue
        if part.get_content_disposition() == "attachment" or part.get_filename():
            continue
        yield part, shadowed and part.get_content_subtype() == "html"


def _best_alternative(parts: list[email.message.Message]) -> list[email.message.Message]:
    """From multipart/alternative keep one plain and one HTML rendering, nothing twice."""
    chosen: dict[str, email.message.Message] = {}
    for part in parts:
        key = part.get_content_type() if not part.is_multipart() else "multipart"
        chosen.setdefault(key, part)
    return list(chosen.values())


def _addresses(head: list[tuple[str, bytes]], name: str, refused: list[str]) -> tuple[Address, ...]:
    found: list[Address] = []
    for key, value in head:
        if key == name:
            found.extend(Address(n, a) for n, a in hdr.addresses(value, refused))
    return tuple(found)


def _first_address(value: bytes | None, refused: list[str]) -> Address | None:
    pairs = hdr.addresses(value, refused)
    return Address(pairs[0][0], pairs[0][1]) if pairs else None


def _date(value: bytes | None) -> dt.datetime | None:
    if not value:
        return None
    try:
        parsed = email.utils.parsedate_to_datetime(value.decode("ascii", "replace"))
    except (TypeError, ValueError, IndexError):
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return parsed.astimezone(dt.UTC)


def _clean(text: str) -> str:
    """One line, no control characters: what a header value should have been."""
    text = re.sub(r"[\r\n\t]+", " ", text)
    return "".join(ch for ch in text if ch == " " or unicodedata.category(ch)[0] != "C").strip()


def _normalize_newlines(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _describe_defect(defect: object) -> str:
    if isinstance(defect, dict):
        return "; ".join(f"{k}: {v}" for k, v in defect.items())
    return str(defect)
