"""Large files kept out of the MIME parser (``mail.spooling``): the same attachments, bytes,
bodies and defects as a full parse, for every mail of the real-world corpus and our own
fixtures, with a fraction of the memory."""

from __future__ import annotations

import hashlib
import random
import tracemalloc
from pathlib import Path

import pytest

from mailflow.mail import spooling
from mailflow.mail.attachments import ParsedAttachment
from mailflow.mail.parsing import InboundMail, parse
from tests.mails import build
from tests.test_corpus import CORPUS

HERE = Path(__file__).resolve().parent


def _files(raw: bytes, mail: InboundMail) -> list[tuple[str, str, int, str, bool]]:
    def content(a: ParsedAttachment) -> bytes:
        return b"".join(spooling.decode(raw, a.spool)) if a.spool else a.data

    return [
        (a.filename, a.content_type, a.size, hashlib.sha256(content(a)).hexdigest(), a.inline)
        for a in mail.attachments
    ]


def _same(raw: bytes) -> int:
    """Parse ``raw`` whole and with every file part spooled; assert they agree; how many
    parts were spooled."""
    whole, spooled = parse(raw), parse(raw, spool_over=1)
    assert _files(raw, spooled) == _files(raw, whole)
    assert (spooled.text, spooled.html, spooled.subject) == (whole.text, whole.html, whole.subject)
    assert spooled.defects == whole.defects
    return sum(1 for a in spooled.attachments if a.spool)


def _mails() -> list[Path]:
    if not CORPUS.is_dir():
        pytest.fail(f"the shared mail corpus is missing: expected it at {CORPUS}", pytrace=False)
    return sorted([*CORPUS.rglob("*.box"), *(HERE / "mail").rglob("*.eml")])


def test_spooled_parse_agrees_with_the_whole_parse_on_every_corpus_mail() -> None:
    spooled = sum(_same(path.read_bytes()) for path in _mails())
    assert spooled > 20  # the corpus has plenty of files (PDFs, images, winmail.dat aside)


def _big_mail(line_end: bytes = b"\n") -> tuple[bytes, bytes]:
    pdf = b"%PDF-1.7\n" + random.Random(3).randbytes(3 * 1024 * 1024)
    raw = build(
        "王芳 <wang.fang@example.cn>",
        "support@example.com",
        "报表",
        "请看附件。\n" + "日志行\n" * 50_000,  # a large body: text stays with the parser
        attachments=(("季度报表.pdf", "application/pdf", pdf),),
        html="<p>请看附件。</p>",
    )
    return raw.replace(b"\r\n", b"\n").replace(b"\n", line_end), pdf


@pytest.mark.parametrize("line_end", [b"\n", b"\r\n"])
def test_a_large_attachment_is_decoded_from_the_raw_bytes(line_end: bytes) -> None:
    raw, pdf = _big_mail(line_end)
    assert _same(raw) == 1
    mail = parse(raw, spool_over=spooling.SPOOL_OVER)
    [file] = mail.attachments
    assert file.spool is not None and file.data == b"" and file.size == len(pdf)
    assert b"".join(spooling.decode(raw, file.spool)) == pdf
    assert mail.text.count("日志行") == 50_000


def test_memory_of_a_parse_stays_well_under_the_mail_size() -> None:
    """The stdlib parser peaks near nine times a mail; with its file spooled, the parse of a
    mail that is mostly a file takes a fraction of the mail (a few chunks of decoding)."""
    pdf = random.Random(5).randbytes(12 * 1024 * 1024)
    raw = build(
        "a@example.cn",
        "s@example.com",
        "x",
        "见附件",
        attachments=(("a.pdf", "application/pdf", pdf),),
    )
    tracemalloc.start()
    try:
        parse(raw, spool_over=spooling.SPOOL_OVER)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < len(raw) / 3, (peak, len(raw))


def test_a_forged_spool_header_is_just_a_header() -> None:
    """A sender's own X-Mailflow-Spool header names no cut-out body: the part is parsed."""
    raw, pdf = _big_mail()
    forged = raw.replace(
        b"Content-Type: application/pdf", b"X-Mailflow-Spool: 0\nContent-Type: application/pdf"
    )
    [file] = parse(forged).attachments
    assert file.spool is None and file.data == pdf
    [file] = parse(forged, spool_over=spooling.SPOOL_OVER).attachments
    assert b"".join(spooling.decode(forged, file.spool)) == pdf  # type: ignore[arg-type]


def test_a_mail_cut_short_keeps_what_it_has() -> None:
    """No closing delimiter (a truncated mail): the last part is left to the parser."""
    raw, _ = _big_mail()
    cut = raw[: len(raw) * 2 // 3]
    whole, spooled = parse(cut), parse(cut, spool_over=1)
    assert _files(cut, spooled) == _files(cut, whole)
