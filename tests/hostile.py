"""Helpers for the hostile-mail tests: raw mails written byte by byte (the stdlib's builders refuse
the very headers an attacker writes), the three ways a mail reaches mailflow, and the checks every
mail we send must pass."""

from __future__ import annotations

import base64
import email.message
import email.parser
import email.policy
import html.parser
import itertools
import re
from pathlib import Path

from tests.conftest import ImapAccount, run_mailflow
from tests.servers import Received

# IMAP (Dovecot), and `mailflow ingest` with CRLF and with bare LF line ends.
WAYS = ("imap", "ingest-crlf", "ingest-lf")
EVIL = "evil.test"
_ids = itertools.count(1)


def b64_word(text: str) -> str:
    """An RFC 2047 encoded word whose base64 text is all atext, so it fits inside an addr-spec."""
    return f"=?utf-8?b?{base64.b64encode(text.encode()).decode()}?="


def raw_mail(headers: list[tuple[str, str | bytes]], body: str | bytes) -> bytes:
    """A mail with exactly these headers (values written as given) and a UTF-8 text body."""
    lines = [
        b"%s: %s" % (n.encode(), v if isinstance(v, bytes) else v.encode()) for n, v in headers
    ]
    names = {n.lower() for n, _ in headers}
    if "message-id" not in names:
        lines.append(f"Message-ID: <hostile-{next(_ids)}@client.example>".encode())
    if "date" not in names:
        lines.append(b"Date: Tue, 01 Dec 2026 10:00:00 +0800")
    lines += [
        b"MIME-Version: 1.0",
        b'Content-Type: text/plain; charset="utf-8"',
        b"Content-Transfer-Encoding: 8bit",
    ]
    data = body if isinstance(body, bytes) else body.encode()
    return b"\r\n".join(lines) + b"\r\n\r\n" + data


def line_ends(raw: bytes, way: str) -> bytes:
    """``raw`` with the line ends of ``way``: LF for ingest-lf, CRLF otherwise."""
    lf = raw.replace(b"\r\n", b"\n")
    return lf if way == "ingest-lf" else lf.replace(b"\n", b"\r\n")


def deliver(way: str, raw: bytes, config: Path, account: ImapAccount) -> str:
    """Hand ``raw`` to mailflow the way ``way`` says; its log."""
    data = line_ends(raw, way)
    if way == "imap":
        account.append(data)
        result = run_mailflow(config, "run", "--once")
    else:
        result = run_mailflow(config, "ingest", stdin=data)
    assert result.returncode == 0, result.stderr
    return result.stderr


def check_sent(mail: Received) -> None:
    """Every mail we send parses back, has one line per header, and goes only to its To/Cc."""
    head, sep, _ = mail.data.partition(b"\r\n\r\n")
    assert sep, "no header/body separator"
    for line in head.split(b"\r\n"):
        assert b"\r" not in line and b"\n" not in line and b"\0" not in line, line
        assert re.match(rb"[\x21-\x39\x3b-\x7e]+:|[ \t]", line), f"not a header line: {line!r}"
    message = parse_sent(mail.data)
    listed: set[str] = set()
    for name in ("To", "Cc"):
        if message[name] is not None:
            listed |= {a.addr_spec.lower() for a in message[name].addresses}
            # What a reader's client shows, once decoded, is still one printable line.
            for address in message[name].addresses:
                shown = address.display_name
                assert shown.isprintable() or not any(c in shown for c in "\r\n\x00"), shown
    assert "bcc" not in {k.lower() for k in message}
    envelope = {r.lower() for r in mail.rcpt_tos}
    assert envelope <= _with_ace(listed), (envelope, listed)
    assert not any(EVIL in r for r in envelope), envelope


def _with_ace(addresses: set[str]) -> set[str]:
    out = set(addresses)
    for address in addresses:
        local, _, domain = address.rpartition("@")
        if not domain.isascii():
            out.add(f"{local}@{domain.encode('idna').decode()}")
    return out


FORBIDDEN_TAGS = {"img", "script", "form", "input", "iframe", "svg", "object", "x-evil"}


class _Tags(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.bad: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in FORBIDDEN_TAGS:
            self.bad.append(tag)
        self.bad += [f"{tag} {name}" for name, _ in attrs if name.startswith("on")]
        self.bad += [
            f"{tag} {name}={value}"
            for name, value in attrs
            if value and value.strip().lower().startswith(("javascript:", "data:"))
        ]


def markup_in(html: str) -> list[str]:
    """Tags and attributes that no template writes and only an attacker's text could."""
    parser = _Tags()
    parser.feed(html)
    return parser.bad


def parse_sent(data: bytes) -> email.message.EmailMessage:
    """A mail we sent, parsed as its reader would: UTF-8 headers (RFC 6532) read as UTF-8."""
    if data.isascii():
        return email.parser.BytesParser(policy=email.policy.default).parsebytes(data)  # type: ignore[return-value]
    return email.parser.Parser(policy=email.policy.default).parsestr(data.decode("utf-8"))  # type: ignore[return-value]


def html_part(data: bytes) -> str:
    message = parse_sent(data)
    body = message.get_body(("html",))  # type: ignore[attr-defined]
    return body.get_content() if body is not None else ""
