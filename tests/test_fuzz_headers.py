"""Fuzz (hypothesis): encoded words, CR/LF, NUL, bidi controls and raw 8-bit bytes in every header
mailflow reads (From, Reply-To, Sender, To, Cc, Subject, Message-ID, In-Reply-To, References) and
in a service desk's `Requester:` line and an engineer's `Cc:` command. Every mail mailflow then
queues must parse back, have one line per header, and go only to the recipients it names, none of
them an address smuggled in by decoding (every such address is at evil.test; an address written
plainly is the sender's own choice and is at plain.test).

In-process on SQLite: the outbox rows are exactly the bytes the sender hands to SMTP, and the SMTP
path itself is covered end to end by test_hostile_mail.
"""

from __future__ import annotations

import base64
import datetime as dt
import os
import tomllib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mailflow.config import from_dict
from mailflow.daemon import open_services
from mailflow.pipeline.handling import handle
from mailflow.services import Services
from mailflow.sources import RawMail
from mailflow.store.models import Outbox
from tests.helpers import DESK, PEOPLE
from tests.hostile import check_sent, raw_mail
from tests.servers import Received

NOW = dt.datetime(2026, 12, 1, 2, 0, tzinfo=dt.UTC)
# Each holds a line break, a NUL or a bidi/format character: what must never survive decoding.
INJECTIONS = [
    "\r\nBcc: victim@evil.test",
    "\nX-Evil: 1\n",
    "\r\n\r\n<b>body</b>",
    "\x00victim@evil.test",
    "\u202eevil.test",
    "\u2028Bcc: victim@evil.test",
    "\x85Cc: victim@evil.test",
]
# Plain syntax: whoever writes these names an address of their own choosing (plain.test).
PLAIN = ["victim@plain.test", ">, victim@plain.test, <", '"; filename="x.exe']


def _word(text: str, b: bool) -> str:
    if b:
        return f"=?utf-8?b?{base64.b64encode(text.encode('utf-8', 'surrogatepass')).decode()}?="
    quoted = "".join(
        ch if ch.isalnum() and ch.isascii() else "".join(f"={x:02X}" for x in ch.encode())
        for ch in text
    )
    return f"=?utf-8?q?{quoted}?="


_text = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), max_codepoint=0x10FFFF), max_size=12
)
_piece = st.one_of(
    _text.map(lambda t: t.encode("utf-8")),
    # Written raw, an injection only makes a header of the inbound mail (that is the sender's
    # own business), so raw pieces name plain.test; only decoded values name evil.test.
    st.sampled_from(INJECTIONS).map(lambda t: t.replace("evil.test", "plain.test").encode()),
    st.sampled_from(PLAIN).map(str.encode),
    st.tuples(st.sampled_from(INJECTIONS + PLAIN) | _text, st.booleans()).map(
        lambda p: _word(*p).encode()
    ),
    st.binary(min_size=1, max_size=6).map(lambda b: bytes(x | 0x80 for x in b)),
)
_value = st.lists(_piece, min_size=1, max_size=4).map(b"".join)
_local = st.one_of(
    st.sampled_from([b"li", b"wu", b"zhang.san"]),
    _value.map(lambda v: v.replace(b"@", b"")),
)


def _address(name: bytes, local: bytes) -> bytes:
    return name + b" <" + local + b"@client.test>"


@st.composite
def hostile_mail(draw: st.DrawFn, number: str) -> bytes:
    mode = draw(st.sampled_from(["requester", "desk", "engineer"]))
    headers: list[tuple[str, str | bytes]] = []
    if mode == "requester":
        headers.append(("From", _address(draw(_value), draw(_local))))
    elif mode == "desk":
        headers.append(("From", "前台小刘 <desk.liu@example.com>"))
    else:
        headers.append(("From", "王伟 <wang.wei@example.com>"))
    for name in ("Reply-To", "Sender", "To", "Cc"):
        if draw(st.booleans()):
            headers.append((name, _address(draw(_value), draw(_local))))
    subject = draw(_value)
    headers.append(("Subject", b"Re: [" + number.encode() + b"] " + subject))
    for name in ("Message-ID", "In-Reply-To", "References"):
        if draw(st.booleans()):
            headers.append((name, b"<" + draw(_value) + b"@client.test>"))
    line = draw(_value).replace(b"\r", b"").replace(b"\n", b"")
    if mode == "desk":
        body = "需求方：".encode() + line + b"\n\n" + draw(_value)
    elif mode == "engineer":
        body = b"Cc: " + line + b"\n\n" + draw(_value)
    else:
        body = draw(_value)
    return raw_mail(headers, body)


@pytest.fixture(scope="module")
def services(tmp_path_factory: pytest.TempPathFactory) -> Services:
    folder = tmp_path_factory.mktemp("fuzz")
    config = from_dict(tomllib.loads(PEOPLE + DESK), folder)
    services = open_services(config)
    first = raw_mail([("From", "w@example.cn"), ("Subject", "VPN 断开")], "经常断")
    outcome = handle(RawMail(first, None, NOW, "fuzz"), NOW, services)
    assert outcome.action == "created"
    return services


def _number(services: Services) -> str:
    from mailflow.store.models import Ticket

    return str(Ticket.select(Ticket.number).order_by(Ticket.id).first().number)


@settings(
    max_examples=int(os.environ.get("FUZZ_EXAMPLES", "150")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_hostile_headers_never_reach_a_mail_we_send(
    services: Services, data: st.DataObject
) -> None:
    """Every queued mail parses back, keeps each header on one line, and goes only to addresses that
    were not smuggled in by decoding."""
    number = _number(services)
    raw = data.draw(hostile_mail(number))
    before = Outbox.select(Outbox.id).order_by(Outbox.id.desc()).scalar() or 0
    handle(RawMail(raw, None, NOW, "fuzz"), NOW, services)
    for row in Outbox.select().where(Outbox.id > before):
        if not row.mime:  # queued as failed: no fit recipient, nothing will ever be sent
            assert row.status == "failed" and row.last_error
            continue
        check_sent(Received(row.mail_from, list(row.recipients), bytes(row.mime)))
