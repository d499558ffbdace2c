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

from mailflow import charsets

LOCAL_ONLY = {"mailer-daemon", "postmaster"}
_FOLD = re.compile(rb"\r?\n[ \t]")
_ENCODED_WORD = re.compile(r"=\?[^?\s]+\?[bBqQ]\?[^?\s]*\?=")
_ENCODED_WORD_GAP = re.compile(r"(\?=)\s+(=\?)")


def header_block(raw: bytes) -> bytes:
    """The header section of a raw message (up to the first empty line)."""
    for sep in (b"\r\n\r\n", b"\n\n"):
        end = raw.find(sep)
        if end != -1:
            return raw[:end]
    return raw


def raw_headers(raw: bytes) -> list[tuple[str, bytes]]:
    """(lower-case name, unfolded value bytes) for every header, in order."""
    block = _FOLD.sub(b" ", header_block(raw))
    result: list[tuple[str, bytes]] = []
    for line in re.split(rb"\r?\n", block):
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


def addresses(value: bytes | None) -> list[tuple[str, str]]:
    """(display name, address) pairs of an address header; names decoded, addresses lower-case."""
    if not value:
        return []
    text = value.decode("ascii") if value.isascii() else charsets.decode(value, None)[0]
    result: list[tuple[str, str]] = []
    for raw_name, raw_addr in email.utils.getaddresses([text]):
        addr = raw_addr.strip().strip("<>").strip()
        if "=?" in addr:  # an encoded word pasted into the addr-spec by a broken client
            addr = decode_words(addr)
        # No domain is no address ("[??????]", a bare name), except the system senders that
        # some MTAs write without one ("MAILER-DAEMON (Mail Delivery System)").
        if not addr or ("@" not in addr and addr.lower() not in LOCAL_ONLY):
            continue
        name = decode_words(raw_name).strip()
        if len(name) >= 2 and name[0] == name[-1] == '"':  # quoted encoded words, decoded late
            name = name[1:-1].strip()
        result.append((name, addr.lower()))
    return result


def message_ids(value: bytes | None) -> list[str]:
    """Message-IDs in a References / In-Reply-To value, in order, with angle brackets."""
    if not value:
        return []
    text = value.decode("ascii", "replace")
    found = re.findall(r"<[^<>\s]+>", text)
    if not found and text.strip():
        found = [f"<{token.strip('<>')}>" for token in text.split() if "@" in token]
    return found
