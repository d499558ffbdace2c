"""Large attachments kept out of the MIME parser, decoded straight from the raw bytes.

Python's email parser holds a mail several times over while it works (the bytes decoded to a
str, every line of a part as an object of its own, the lines joined again): about nine times
the mail's size at its peak, measured (180 MB for a 20 MB mail). Nearly all of a large mail is
one or two base64 attachments the parser has no need to see. So before parsing, the MIME tree
is walked on the raw bytes (headers read by the stdlib, boundaries found with a regex, no
copies); every large leaf part that is a file (not text shown as the body, not an attached
mail, not a TNEF container) gets its body cut out and an ``X-Mailflow-Spool: N`` header
instead. The parser reads the small skeleton left; the cut bodies are decoded later, a chunk
at a time, from the raw bytes into the blob store.

The walk follows RFC 2046 (a delimiter is ``--boundary`` at the start of a line, the last one
``--boundary--``) and gives up gracefully: a part it cannot make sense of is left in the
skeleton for the parser, which then copes as it always did.
"""

from __future__ import annotations

import binascii
import email.parser
import email.policy
import re
import secrets
from collections.abc import Iterator
from dataclasses import dataclass

SPOOL_HEADER = "X-Mailflow-Spool"
SPOOL_OVER = 256 * 1024  # bodies larger than this (encoded) are cut out
MAX_DEPTH = 20
CHUNK = 1024 * 1024  # of encoded text decoded at a time

_BLANK = re.compile(rb"\r?\n\r?\n")
_B64 = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/="
_NOT_B64 = bytes(b for b in range(256) if b not in _B64)
_WHITESPACE = b" \t\r\n"
_IDENTITY = ("7bit", "8bit", "binary", "")


@dataclass(frozen=True)
class Spooled:
    """A part's body left in the raw mail: where it is and how it is encoded."""

    start: int
    end: int
    encoding: str  # "base64", or an identity encoding
    key: str  # the spool header's value: unguessable, so a sender cannot forge one
    size: int  # decoded bytes (exact for well-formed base64; storing measures it again)


def skeleton(raw: bytes, over: int = SPOOL_OVER) -> tuple[bytes, list[Spooled]]:
    """``raw`` with the bodies of its large file parts cut out, and where those bodies are."""
    if len(raw) <= over:
        return raw, []  # no part of it can be large
    walk = _Walk(raw, over, secrets.token_hex(8))
    walk.part(0, len(raw), 0)
    if not walk.cuts:
        return raw, []
    pieces: list[bytes | memoryview] = []
    view, at = memoryview(raw), 0
    for start, end, replacement in walk.cuts:
        pieces += [view[at:start], replacement]
        at = end
    pieces.append(view[at:])
    return b"".join(pieces), walk.spools


def decode(raw: bytes, spool: Spooled) -> Iterator[bytes]:
    """The decoded body of ``spool``, a chunk at a time (never the whole of it at once)."""
    view = memoryview(raw)
    if spool.encoding not in ("base64",):
        for at in range(spool.start, spool.end, CHUNK):
            yield bytes(view[at : min(at + CHUNK, spool.end)])
        return
    left = b""
    for at in range(spool.start, spool.end, CHUNK):
        text = left + bytes(view[at : min(at + CHUNK, spool.end)]).translate(None, _NOT_B64)
        whole = len(text) - len(text) % 4
        text, left = text[:whole], text[whole:]
        if text:
            yield binascii.a2b_base64(text)
    if left:  # only well-formed bodies are spooled (``_size``): nothing is left over
        yield binascii.a2b_base64(left)


def _size(raw: bytes, start: int, end: int, encoding: str) -> int | None:
    """The decoded size of a body; None for base64 that is not well formed (stray
    characters, padding inside, a length no decoder agrees on): the parser, which has its own
    ways of salvaging such a body, gets it then."""
    if encoding != "base64":
        return end - start
    view = memoryview(raw)
    chars = padding = 0
    for at in range(start, end, CHUNK):
        text = bytes(view[at : min(at + CHUNK, end)]).translate(None, _WHITESPACE)
        if text.translate(None, _B64) or (padding and text):
            return None  # a stray character, or data after the padding
        stripped = text.rstrip(b"=")
        if b"=" in stripped:
            return None
        chars += len(stripped)
        padding += len(text) - len(stripped)
    if (chars + padding) % 4 or padding > 2:
        return None
    return chars * 3 // 4


class _Walk:
    """One walk of a mail's MIME tree: the cuts to make and the bodies they leave out."""

    def __init__(self, raw: bytes, over: int, nonce: str) -> None:
        self.raw = raw
        self.over = over
        self.nonce = nonce  # the spool headers' keys: unguessable, made afresh per parse
        self.cuts: list[tuple[int, int, bytes]] = []  # (from, to, replacement), in order
        self.spools: list[Spooled] = []

    def part(self, start: int, end: int, depth: int) -> None:
        """Note the cuts for the part at ``raw[start:end]`` and the parts inside it."""
        raw = self.raw
        blank = _BLANK.search(raw, start, end)
        if blank is None or depth > MAX_DEPTH or raw[start : start + 1] in (b"\r", b"\n"):
            return  # no headers: a text/plain part by default, nothing to cut
        head = email.parser.BytesHeaderParser(policy=email.policy.compat32).parsebytes(
            raw[start : blank.start()]
        )
        body = blank.end()
        content_type = head.get_content_type()
        if content_type.startswith("multipart/"):
            boundary = head.get_boundary()
            if boundary:
                self.parts(body, end, boundary, depth)
            return
        encoding = str(head.get("Content-Transfer-Encoding", "")).strip().lower()
        if end - body <= self.over or not _is_file(head, content_type, encoding):
            return
        size = _size(raw, body, end, encoding)
        if size is None:
            return
        eol = b"\r\n" if raw[blank.start() : blank.start() + 2] == b"\r\n" else b"\n"
        key = f"{self.nonce}.{len(self.spools)}"
        marker = f"{SPOOL_HEADER}: {key}".encode() + eol
        # The header goes right after the last header line; the body is left empty.
        self.cuts.append((blank.start() + len(eol), end, marker + eol))
        self.spools.append(Spooled(body, end, encoding, key, size))

    def parts(self, body: int, end: int, boundary: str, depth: int) -> None:
        """Walk each part between the delimiter lines of ``boundary``."""
        try:
            marker = b"--" + boundary.encode("ascii")
        except UnicodeEncodeError:
            return
        previous: int | None = None
        for start, stop, closing in _delimiters(self.raw, body, end, marker):
            if previous is not None:
                # The line break before a delimiter belongs to the delimiter (RFC 2046).
                cut = start - (2 if self.raw[start - 2 : start] == b"\r\n" else 1)
                self.part(previous, max(previous, cut), depth + 1)
            if closing:
                return
            previous = stop


def _delimiters(raw: bytes, body: int, end: int, marker: bytes) -> Iterator[tuple[int, int, bool]]:
    """Each delimiter line of ``marker`` (``--boundary``) in ``raw[body:end]``: where it
    starts, where the part after it starts, and whether it closes the multipart. (Plain
    ``find``: a regex per boundary would be compiled anew for every mail.)"""
    at = body if raw.startswith(marker, body) else _next_line(raw, body, end, marker)
    while at >= 0:
        tail = at + len(marker)
        closing = raw.startswith(b"--", tail)
        line_end = raw.find(b"\n", tail, end)
        stop = line_end + 1 if line_end >= 0 else end
        if not raw[tail + (2 if closing else 0) : stop].strip():  # not a longer boundary
            yield at, stop, closing
            if closing:
                return
        at = _next_line(raw, tail, end, marker)


def _next_line(raw: bytes, start: int, end: int, marker: bytes) -> int:
    """Where the next line starting with ``marker`` starts, or -1."""
    found = raw.find(b"\n" + marker, start, end)
    return found + 1 if found >= 0 else -1


def _is_file(head: email.message.Message, content_type: str, encoding: str) -> bool:
    """Whether a part is a file whose bytes only need storing (not reading by the parser)."""
    if encoding != "base64" and encoding not in _IDENTITY:
        return False  # quoted-printable, uuencode: the parser decodes those
    if content_type.startswith(("message/", "multipart/")) or content_type == "application/ms-tnef":
        return False
    name = (head.get_filename() or "").strip().lower()
    if name == "winmail.dat":
        return False
    disposition = head.get_content_disposition()
    # Text that may be shown as the body stays: only text explicitly attached is a file.
    return not content_type.startswith("text/") or disposition == "attachment"
