"""Header decoding that survives real-world mail.

The stdlib decodes RFC 2047 words but meets raw 8-bit headers (common from Chinese clients) with
surrogates or replacement characters. We read header values as bytes from the raw message and
decode them ourselves: 8-bit bytes through ``charsets.decode``, encoded words joined per charset
before decoding so that a word split mid-character still yields the character.
"""

from __future__ import annotations

import email.errors
import email.header
import email.utils
import re

from mailflow.errors import AddressError
from mailflow.mail import addresses as address_rules
from mailflow.mail import charsets

LOCAL_ONLY = {"mailer-daemon", "postmaster"}
_FOLD = re.compile(rb"(?:\r\n|\r|\n)[ \t]")
_LINE_END = re.compile(rb"\r\n|\r|\n")
_ENCODED_WORD = re.compile(r"=\?[^?\s]+\?[bBqQ]\?[^?\s]*\?=")
_ENCODED_WORD_GAP = re.compile(r"(\?=)\s+(=\?)")


def header_block(raw: bytes) -> bytes:
    """The header section of a raw message: up to the first empty line, whatever the line ends.

    Lines end in CRLF, LF or a lone CR (as ``email.feedparser`` splits them), so an empty line
    is two line ends in a row, and every such pair contains LF LF, LF CR or CR CR. Searching
    for CRLF CRLF first, as this once did, let a mail with LF line ends have lines of its body
    read as headers.
    """
    if raw[:1] in (b"\r", b"\n"):
        return b""
    found = [i for i in (raw.find(b"\n\n"), raw.find(b"\n\r"), raw.find(b"\r\r")) if i != -1]
    if not found:
        return raw
    end = min(found)
    if raw[end : end + 1] == b"\n" and raw[end - 1 : end] == b"\r":
        end -= 1
    return raw[:end]


def raw_headers(raw: bytes) -> list[tuple[str, bytes]]:
    """(lower-case name, unfolded value bytes) for every header, in order.

    A line in the header section that is no header (an mbox ``From`` line, a stray sentence
    some clients put first) is passed over, not taken as the end of the headers.
    """
    block = _FOLD.sub(b" ", header_block(raw))
    result: list[tuple[str, bytes]] = []
    for line in _LINE_END.split(block):
        name, sep, value = line.partition(b":")
        if not sep or not name or b" " in name.strip():
            continue
        result.append((name.strip().decode("ascii", "replace").lower(), value.strip()))
    return result


def first(headers: list[tuple[str, bytes]], name: str) -> bytes | None:
    """The first value of header ``name``."""
    for key, value in headers:
        if key == name:
            return value
    return None


def decode_value(value: bytes) -> str:
    """Decode one header value: raw 8-bit bytes and RFC 2047 encoded words alike."""
    text, _ = charsets.decode(value, None) if not value.isascii() else (value.decode("ascii"), None)
    return decode_words(text)


def decode_words(text: str) -> str:
    """Decode RFC 2047 encoded words in ``text`` with charset repair."""
    if "=?" not in text:
        return text
    # Whitespace between two encoded words is not content (RFC 2047 §6.2); dropping it lets
    # decode_header merge the bytes of a character split across two words.
    joined = _ENCODED_WORD_GAP.sub(r"\1\2", text)
    try:
        parts = email.header.decode_header(joined)
    except (ValueError, LookupError, AssertionError, email.errors.HeaderParseError):
        # One broken word (bad base64, say) must not cost the others: decode them one by one.
        return _ENCODED_WORD.sub(_one_word, text)
    out: list[str] = []
    for chunk, charset in parts:
        if isinstance(chunk, str):
            out.append(chunk)
        else:
            decoded, _ = charsets.decode(chunk, charset)
            out.append(decoded)
    return "".join(out)


def _one_word(match: re.Match[str]) -> str:
    try:
        [(chunk, charset)] = email.header.decode_header(match.group(0))
    except (ValueError, LookupError, AssertionError, email.errors.HeaderParseError):
        return match.group(0)
    if isinstance(chunk, str):
        return chunk
    return charsets.decode(chunk, charset)[0]


def addresses(value: bytes | None, refused: list[str] | None = None) -> list[tuple[str, str]]:
    """(display name, canonical address) pairs of an address header.

    Every address passes ``addresses.normalize`` after decoding; one that fails is left out
    and its reason appended to ``refused``. Names are cleaned to one printable line.
    """
    if not value:
        return []
    text = value.decode("ascii") if value.isascii() else charsets.decode(value, None)[0]
    return address_list(text, refused)


def address_list(text: str, refused: list[str] | None = None) -> list[tuple[str, str]]:
    """``addresses`` for text already decoded (a ``Requester:`` or ``Cc:`` line of a body)."""
    result: list[tuple[str, str]] = []
    for raw_name, raw_addr in email.utils.getaddresses([text]):
        addr = raw_addr.strip().strip("<>").strip()
        if "=?" in addr:  # an encoded word pasted into the addr-spec by a broken client
            addr = decode_words(addr)
        # No domain is no address ("[??????]", a bare name), except the system senders that
        # some MTAs write without one ("MAILER-DAEMON (Mail Delivery System)").
        if not addr or ("@" not in addr and addr.lower() not in LOCAL_ONLY):
            continue
        try:
            canonical = (
                address_rules.normalize(addr)
                if "@" in addr
                else address_rules.normalize_local_only(addr)
            )
        except AddressError as exc:
            if refused is not None:
                refused.append(str(exc))
            continue
        name = decode_words(raw_name).strip()
        if len(name) >= 2 and name[0] == name[-1] == '"':  # quoted encoded words, decoded late
            name = name[1:-1].strip()
        result.append((address_rules.clean_name(name), canonical))
    return result


def message_ids(value: bytes | None) -> list[str]:
    """Message-IDs in a References / In-Reply-To value, in order, with angle brackets.

    8-bit ids (RFC 6532 allows UTF-8 in them) are decoded, not mangled, so a reply that
    quotes one back still threads; an id with a control, format or space character is no id.
    """
    if not value:
        return []
    text = value.decode("ascii") if value.isascii() else charsets.decode(value, None)[0]
    found = re.findall(r"<[^<>\s]+>", text)
    if not found and text.strip():
        found = [f"<{token.strip('<>')}>" for token in text.split() if "@" in token]
    return [mid for mid in found if len(mid) <= 998 and mid.isprintable()]
