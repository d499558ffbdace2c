"""Parsing: bytes → InboundMail, pure and tolerant."""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mailflow.errors import ParseError
from mailflow.mail.attachments import sanitize_filename
from mailflow.mail.parsing import parse
from mailflow.pipeline.routing import Lookups, route
from tests.mails import build, fixture

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus" / "zammad-mail"


def test_gbk_text_labelled_gb2312_decodes_without_mojibake() -> None:
    mail = parse(fixture("foxmail_gbk_labelled_gb2312.eml"))
    assert mail.subject == "用友U8无法登录，朱镕"
    assert "朱镕和李喆" in mail.text and "张堃" in mail.text
    assert "\ufffd" not in mail.text
    assert mail.sender is not None and mail.sender.name == "刘洋"


def test_encoded_word_split_mid_character() -> None:
    data = "打印机".encode()
    subject = (
        f"=?utf-8?B?{base64.b64encode(data[:4]).decode()}?= "
        f"=?utf-8?B?{base64.b64encode(data[4:]).decode()}?="
    )
    raw = f"From: a@example.com\r\nSubject: {subject}\r\n\r\nbody\r\n".encode()
    assert parse(raw).subject == "打印机"


def test_raw_8bit_gbk_header_without_charset() -> None:
    raw = (
        b"From: "
        + "张三".encode("gbk")
        + b" <zs@example.cn>\r\nSubject: "
        + "网络中断".encode("gbk")
        + b"\r\n\r\n"
        + "全部断网".encode("gbk")
        + b"\r\n"
    )
    mail = parse(raw)
    assert mail.subject == "网络中断"
    assert mail.sender is not None and mail.sender.name == "张三"
    assert mail.text.strip() == "全部断网"


def test_html_only_mail_becomes_readable_text() -> None:
    mail = parse(fixture("outlook_zh_html_only.eml"))
    assert mail.text.splitlines()[0] == "各位好："
    assert "<" not in mail.text and mail.html is not None


def test_ids_and_threading_headers() -> None:
    raw = build(
        "a@example.com",
        "s@example.com",
        "x",
        "y",
        message_id="<m1@x>",
        in_reply_to="<m0@y>",
        references=("<r1@y>", "<m0@y>"),
    )
    mail = parse(raw)
    assert mail.message_id == "<m1@x>"
    assert mail.in_reply_to == ("<m0@y>",)
    assert mail.references == ("<r1@y>", "<m0@y>")
    assert mail.dedupe_key == "mid:<m1@x>|a@example.com"


def test_mail_without_message_id_is_identified_by_its_bytes() -> None:
    raw = b"From: a@example.com\r\nSubject: x\r\n\r\nbody\r\n"
    assert parse(raw).dedupe_key.startswith("sha256:")


@pytest.mark.parametrize(
    ("name", "safe"),
    [
        ("../../etc/passwd", "passwd"),
        ("..\\..\\windows\\system.ini", "system.ini"),
        ("CON.txt", "_CON.txt"),
        ("report\x00\x1b[31m.pdf", "report[31m.pdf"),
        (".bashrc", "bashrc"),
        ("  ", "attachment"),
        ("a" * 300 + ".docx", "a" * 145 + ".docx"),
        ("截图 2026-11-25.png", "截图 2026-11-25.png"),
    ],
)
def test_filenames_are_sanitized(name: str, safe: str) -> None:
    assert sanitize_filename(name) == safe


@pytest.mark.parametrize("raw", [b"", b"   \r\n", b"\x00\x01\x02 no headers here"])
def test_not_a_mail_raises_parse_error(raw: bytes) -> None:
    with pytest.raises(ParseError):
        parse(raw)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=2000))
def test_parse_never_raises_anything_but_parse_error(data: bytes) -> None:
    """Mangled mails (hypothesis) make parse return or raise ParseError, nothing else."""
    with contextlib.suppress(ParseError):
        parse(b"From: a@example.com\r\nSubject: fuzz\r\n" + data)


def lookups(
    exists: bool = True, stored: bool = False, participant: bool = True, thread: str | None = None
) -> Lookups:
    return Lookups(
        ticket_exists=lambda n: exists,
        already_stored=lambda k: stored,
        ticket_for_ids=lambda ids: thread if list(ids) else None,
        may_follow_up=lambda n, a: participant,
    )


def test_routing_decisions() -> None:
    """Routing (pure): duplicates, own mail, automatic mail, tags, threading, participants."""
    tagged = parse(build("a@example.com", "s@example.com", "Re: [TS20231025001] x", "y"))
    assert route(tagged, "TS", {"s@example.com"}, lookups()).action == "followup"
    unknown = route(tagged, "TS", {"s@example.com"}, lookups(exists=False))
    assert unknown.action == "new" and "names no existing ticket" in unknown.reason
    assert route(tagged, "TS", {"s@example.com"}, lookups(stored=True)).action == "duplicate"
    stranger = route(tagged, "TS", {"s@example.com"}, lookups(participant=False))
    assert stranger.action == "new" and "is not a participant" in stranger.reason
    nobody = parse(b"Subject: x\r\nTo: s@example.com\r\n\r\nbody\r\n")
    assert route(nobody, "TS", {"s@example.com"}, lookups()).action == "quarantine"


def test_threading_falls_back_to_references() -> None:
    """A reply whose client dropped the tag still finds its ticket by In-Reply-To."""
    reply = parse(
        build(
            "a@example.com",
            "s@example.com",
            "Re: printer",
            "still broken",
            in_reply_to="<TS20231025001.ab@example.com>",
        )
    )
    decision = route(reply, "TS", {"s@example.com"}, lookups(thread="TS20231025001"))
    assert decision.action == "followup" and decision.ticket_number == "TS20231025001"
    assert "In-Reply-To" in decision.reason


def test_shared_corpus_parses_without_crashing() -> None:
    """Every real-world mail of the shared corpus parses (match rates are checked elsewhere)."""
    if not CORPUS.is_dir():
        pytest.fail(f"the shared mail corpus is missing: expected it at {CORPUS}", pytrace=False)
    boxes = sorted(CORPUS.rglob("*.box"))
    assert len(boxes) >= 100
    for box in boxes:
        mail = parse(box.read_bytes())
        assert mail.raw_size == box.stat().st_size


def _corpus_samples() -> list[bytes]:
    boxes = sorted(CORPUS.rglob("*.box"))[:60] if CORPUS.is_dir() else []
    return [b.read_bytes()[:30000] for b in boxes] or [fixture("qqmail_with_screenshot.eml")]


SAMPLES = _corpus_samples()


@settings(max_examples=200, deadline=None)
@given(
    st.sampled_from(range(len(SAMPLES))),
    st.lists(st.tuples(st.integers(0, 29999), st.integers(0, 255)), max_size=30),
    st.integers(0, 30000),
    st.binary(max_size=200),
)
def test_mutated_real_mails_parse_or_raise_parse_error(
    index: int, flips: list[tuple[int, int]], cut: int, junk: bytes
) -> None:
    """Real mails with flipped bytes, cut short, with junk inserted: never any other error."""
    raw = bytearray(SAMPLES[index])
    for position, value in flips:
        if position < len(raw):
            raw[position] = value
    mutated = bytes(raw[: max(cut, 1)]) + junk
    try:
        mail = parse(mutated)
    except ParseError:
        return
    assert isinstance(mail.text, str) and isinstance(mail.subject, str)
    "\n".join(a.filename for a in mail.attachments).encode("utf-8")  # names are valid text


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(range(len(SAMPLES))), st.integers(0, 3000), st.binary(max_size=100))
def test_workflow_quarantines_what_it_cannot_read(index: int, cut: int, junk: bytes) -> None:
    """Through the whole workflow a mangled mail becomes a ticket, a record, or quarantine."""
    from mailflow.pipeline.handling import handle
    from mailflow.sources import RawMail

    services = _property_services()
    raw = SAMPLES[index][:cut] + junk
    outcome = handle(RawMail(raw, None), dt.datetime.now(dt.UTC), services)
    assert outcome.action in {
        "created",
        "followup",
        "duplicate",
        "quarantined",
        "own",
        "bounce",
        "auto_reply",
    }


_SERVICES: list[object] = []


def _property_services():  # type: ignore[no-untyped-def]
    import tempfile

    from mailflow import config as config_mod
    from mailflow.daemon import open_services
    from mailflow.store.models import database_proxy

    if not _SERVICES:
        folder = Path(tempfile.mkdtemp(prefix="mailflow-prop-"))
        (folder / "config.toml").write_text("")
        _SERVICES.append(open_services(config_mod.load(folder / "config.toml")))
    services = _SERVICES[0]
    # Models are bound to one database at a time; other in-process tests may have rebound them.
    database_proxy.initialize(services.db)  # type: ignore[attr-defined]
    return services
