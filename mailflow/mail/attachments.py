"""Attachments out of a parsed MIME tree: names repaired, attached mails and TNEF unpacked.

mail-parser's own attachment list loses 8-bit filenames (GBK names from Chinese clients come
out as replacement characters) and does not open ``winmail.dat``; so the tree mail-parser built
is walked here. Names: RFC 2231 (``filename*=gbk''%BC%A8``) decoded with its charset repaired,
RFC 2047 words decoded, raw 8-bit bytes decoded by ``charsets``; then sanitised. An attached
mail (``message/rfc822``) becomes a ``.eml`` file named after its subject. Outlook's TNEF
container is unpacked into the files it carries (tnefparse); if that fails it is kept as it is.
"""

from __future__ import annotations

import dataclasses
import email.message
import email.utils
import mimetypes
import re
import unicodedata
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from mailflow.mail import charsets
from mailflow.mail import headers as hdr
from mailflow.mail.spooling import SPOOL_HEADER, Spooled

BODY_TYPES = ("text/plain", "text/html")
_RESERVED = re.compile(r"^(con|prn|aux|nul|com[0-9]|lpt[0-9])(\..*)?$", re.IGNORECASE)


@dataclass(frozen=True)
class ParsedAttachment:
    """A file of a mail. Its bytes are in ``data``, or, once stored, under ``digest`` in the
    blob store (a parse worker hands back no bytes), or, for a large part the parser never
    saw, still in the raw mail at ``spool`` (``spooling``)."""

    filename: str
    content_type: str
    data: bytes
    content_id: str | None = None
    inline: bool = False
    size: int = -1  # of the decoded bytes; -1: len(data)
    digest: str = ""  # sha256 in the blob store, once stored
    spool: Spooled | None = None

    def __post_init__(self) -> None:
        if self.size < 0:
            object.__setattr__(self, "size", len(self.data))


def extract(
    message: email.message.Message,
    body_parts: set[int],
    defects: list[str],
    spools: Sequence[Spooled] = (),
) -> Iterator[ParsedAttachment]:
    """Every attachment of ``message``; ``body_parts`` are the ids of parts shown as the body,
    ``spools`` the bodies ``spooling.skeleton`` cut out (bytes left in the raw mail)."""
    stack = [message]
    while stack:
        part = stack.pop(0)
        content_type = part.get_content_type()
        if content_type == "message/rfc822":
            yield _attached_mail(part)
            continue
        if content_type == "message/delivery-status":
            # The bounce's machine-readable report; the stdlib parses it into header blocks.
            yield ParsedAttachment("delivery-status.txt", "text/plain", _report_bytes(part))
            continue
        if part.is_multipart():
            payload = part.get_payload()
            if isinstance(payload, list):
                stack[:0] = [p for p in payload if isinstance(p, email.message.Message)]
            continue
        if id(part) in body_parts:
            continue
        if (
            content_type in BODY_TYPES
            and not _filename(part)
            and (part.get_content_disposition() != "attachment")
        ):
            continue  # an unused alternative rendering, not a file
        spool = _spooled(part, spools)
        data = _payload(part) if spool is None else b""
        name = _filename(part)
        if content_type == "application/ms-tnef" or name.lower() == "winmail.dat":
            unpacked = list(_tnef(data, defects))
            if unpacked:
                yield from unpacked
                continue
        content_id = str(part.get("Content-ID", "")).strip().strip("<>") or None
        disposition = part.get_content_disposition()
        if not name and part.get("Content-Description"):
            described = str(part.get("Content-Description")).strip()
            name = described + (mimetypes.guess_extension(content_type) or "")
        yield ParsedAttachment(
            filename=sanitize_filename(name, _fallback_name(content_type, content_id)),
            content_type=content_type,
            data=data,
            content_id=content_id,
            inline=disposition == "inline" or (content_id is not None and disposition is None),
            size=-1 if spool is None else spool.size,
            spool=spool,
        )


def _spooled(part: email.message.Message, spools: Sequence[Spooled]) -> Spooled | None:
    """The cut-out body a part's spool header names, if any (a sender's own header names
    none: the key is made afresh for every parse)."""
    values = {str(v).strip() for v in part.get_all(SPOOL_HEADER) or ()}
    return next((s for s in spools if s.key in values), None)


@dataclass(frozen=True)
class Limits:
    max_each: int  # bytes
    max_total: int  # bytes
    max_count: int
    max_mail: int = 100 * 1024 * 1024  # bytes of a whole mail that is still parsed


def within_limits(
    items: tuple[ParsedAttachment, ...], limits: Limits
) -> tuple[tuple[ParsedAttachment, ...], tuple[tuple[ParsedAttachment, str], ...]]:
    """Split attachments into accepted ones and refused ones with the reason (in English
    keywords the templates translate: "too_large", "total_too_large", "too_many")."""
    accepted: list[ParsedAttachment] = []
    refused: list[tuple[ParsedAttachment, str]] = []
    total = 0
    for item in items:
        size = item.size
        if size > limits.max_each:
            refused.append((item, "too_large"))
        elif len(accepted) >= limits.max_count:
            refused.append((item, "too_many"))
        elif total + size > limits.max_total:
            refused.append((item, "total_too_large"))
        else:
            accepted.append(item)
            total += size
    return tuple(accepted), tuple(refused)


def unique_names(items: list[ParsedAttachment]) -> list[ParsedAttachment]:
    """Two files of one mail never share a name: later ones become ``name (2).ext``."""
    seen: set[str] = set()
    result = []
    for item in items:
        name = item.filename
        stem, dot, ext = name.rpartition(".")
        if not dot:
            stem, ext = name, ""
        counter = 2
        while name.lower() in seen:
            name = f"{stem} ({counter}){dot}{ext}"
            counter += 1
        seen.add(name.lower())
        result.append(item if name == item.filename else dataclasses.replace(item, filename=name))
    return result


def _report_bytes(part: email.message.Message) -> bytes:
    payload = part.get_payload()
    if isinstance(payload, list):
        blocks = [_serialize(p) for p in payload if isinstance(p, email.message.Message)]
        return b"\n".join(blocks)
    return _payload(part)


def _serialize(message: email.message.Message) -> bytes:
    """A parsed (sub)message back to bytes, even when the generator refuses its headers."""
    try:
        return message.as_bytes()
    except Exception:
        head = "".join(f"{k}: {v}\n" for k, v in message.raw_items())
        body = message.get_payload()
        if isinstance(body, list):
            tail = b"\n".join(_serialize(p) for p in body if isinstance(p, email.message.Message))
        else:
            tail = str(body).encode("utf-8", "surrogateescape")
        return head.encode("utf-8", "surrogateescape") + b"\n" + tail


def _payload(part: email.message.Message) -> bytes:
    data = part.get_payload(decode=True)
    if isinstance(data, bytes):
        return data
    raw = part.get_payload()
    return raw.encode("utf-8", "surrogateescape") if isinstance(raw, str) else b""


def _attached_mail(part: email.message.Message) -> ParsedAttachment:
    payload = part.get_payload()
    inner = payload[0] if isinstance(payload, list) and payload else None
    if isinstance(inner, email.message.Message):
        data = _serialize(inner)
        subject = hdr.decode_words(_raw_header(inner, "subject") or "")
    else:
        data, subject = _payload(part), ""
    described = str(part.get("Content-Description", "")).strip()
    name = _filename(part) or (
        f"{(subject or described)[:100]}.eml" if subject or described else ""
    )
    return ParsedAttachment(sanitize_filename(name, "attached-mail.eml"), "message/rfc822", data)


def _filename(part: email.message.Message) -> str:
    """The part's filename (Content-Disposition, else Content-Type name), repaired."""
    for header, param in (("content-disposition", "filename"), ("content-type", "name")):
        raw = _raw_header(part, header)
        if raw is None:
            continue
        holder = email.message.Message()
        holder[header] = raw
        value = holder.get_param(param, header=header)
        if value is None:
            continue
        if isinstance(value, tuple):  # RFC 2231: (charset, language, %-unquoted latin-1 text)
            charset, _language, text = value
            name, _ = charsets.decode(text.encode("latin-1", "replace"), charset or None)
        else:
            name = email.utils.unquote(value)
            name = hdr.decode_words(name) if "=?" in name else name
        if name.strip():
            return name
    return ""


def _raw_header(part: email.message.Message, name: str) -> str | None:
    """A header as the bytes said it: 8-bit values decoded by ``charsets`` (GBK names)."""
    for key, value in part.raw_items():
        if key.lower() != name:
            continue
        text = str(value)
        if any("\udc80" <= ch <= "\udcff" for ch in text):
            text, _ = charsets.decode(text.encode("ascii", "surrogateescape"), None)
        return text
    return None


def _fallback_name(content_type: str, content_id: str | None) -> str:
    extension = mimetypes.guess_extension(content_type) or ".bin"
    stem = re.sub(r"[^\w.-]+", "_", content_id.split("@")[0]) if content_id else "attachment"
    return f"{stem}{extension}"


def _tnef(data: bytes, defects: list[str]) -> Iterator[ParsedAttachment]:
    from tnefparse import TNEF  # noqa: PLC0415 - rare (Outlook's winmail.dat); keeps start-up fast

    try:
        container = TNEF(data, do_checksum=False)
        files = [(_tnef_name(a), bytes(a.data)) for a in container.attachments]
    except Exception as exc:
        defects.append(f"winmail.dat could not be unpacked ({type(exc).__name__}); kept as is")
        return
    for raw_name, content in files:
        name = (
            charsets.decode(raw_name.rstrip(b"\x00"), None)[0]
            if isinstance(raw_name, bytes)
            else str(raw_name)
        )
        content_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
        yield ParsedAttachment(sanitize_filename(name), content_type, content)


def _tnef_name(attachment: object) -> str | bytes:
    """tnefparse decodes names as UTF-8; Outlook writes them in the ANSI code page."""
    try:
        return str(attachment.long_filename()) or "attachment"  # type: ignore[attr-defined]
    except UnicodeDecodeError:
        raw = getattr(attachment, "_name", b"")
        return raw if isinstance(raw, bytes) else "attachment"


def sanitize_filename(name: str, fallback: str = "attachment") -> str:
    """A filename safe to show and to offer for saving.

    No folders (either slash), no control or format characters, no Windows device names, no
    leading dots (hidden files), no trailing dots or spaces, at most 150 characters with the
    extension kept.
    """
    name = hdr.decode_words(name) if "=?" in name else name
    name = unicodedata.normalize("NFC", name)
    name = re.split(r"[\\\\/]", name)[-1]
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C")
    name = name.strip().lstrip(".").rstrip(". ")
    if not name:
        return fallback
    if _RESERVED.match(name):
        name = "_" + name
    if len(name) > 150:
        stem, dot, ext = name.rpartition(".")
        name = stem[: 150 - len(ext) - 1] + "." + ext if dot and len(ext) <= 16 else name[:150]
    return name
