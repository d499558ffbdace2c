"""Charsets as real mail gets them wrong: the text comes out right, never a crash."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from mailflow.mail.charsets import decode
from mailflow.mail.parsing import parse

CASES = [
    # (text, bytes encoding, declared label)
    ("財務部朱镕和李喆反映，用友U8无法登录", "gbk", "gb2312"),  # GBK-only characters, GB2312 label
    ("𠮷野家的发票", "gb18030", "gb2312"),  # a four-byte GB18030 character
    ("網路中斷，請協助處理", "big5", "big5"),
    ("香港的客戶：恒生銀行", "big5hkscs", "big5"),
    ("会議室のプロジェクター", "iso2022_jp", "iso-2022-jp"),
    ("会議室のプロジェクター", "cp932", "shift_jis"),
    ("Привет, не работает принтер", "cp1251", "windows-1251"),
    ("Grüße aus Köln – Drucker defekt", "cp1252", "iso-8859-1"),  # en dash is cp1252 only
    ("Zażółć gęślą jaźń", "cp1250", "windows-1250"),
    ("Ünïcödé ✓ 中文", "utf-8", "us-ascii"),  # UTF-8 labelled ASCII
]


@pytest.mark.parametrize(("text", "encoding", "label"), CASES)
def test_labelled_and_mislabelled(text: str, encoding: str, label: str) -> None:
    decoded, _ = decode(text.encode(encoding), label)
    assert decoded == text


@pytest.mark.parametrize(
    ("text", "encoding"),
    [
        ("打印机卡纸，请尽快处理", "gbk"),
        ("会議室のプロジェクターが映らない", "cp932"),
        ("Grüße aus Köln", "cp1252"),
        ("会議室のプロジェクター", "iso2022_jp"),
        ("中文 and English", "utf-8"),
    ],
)
def test_unlabelled(text: str, encoding: str) -> None:
    """Unlabelled 8-bit text in the charsets real mail uses decodes right."""
    decoded, _ = decode(text.encode(encoding), None)
    assert decoded == text


@pytest.mark.parametrize(("text", "encoding", "label"), CASES)
def test_whole_mail_body_subject_and_name(text: str, encoding: str, label: str) -> None:
    """A mislabelled mail comes out right in its body, subject and sender name at once."""
    data = text.encode(encoding)
    word = f"=?{label}?B?{base64.b64encode(data).decode()}?="
    raw = (
        f"From: {word} <x@example.com>\r\nSubject: {word}\r\nMIME-Version: 1.0\r\n"
        f"Content-Type: text/plain; charset={label}\r\n"
        "Content-Transfer-Encoding: base64\r\n\r\n"
    ).encode() + base64.encodebytes(data)
    mail = parse(raw)
    assert mail.text.strip() == text
    assert mail.subject == text
    assert mail.sender is not None and mail.sender.name == text


def test_nothing_decodable_still_returns_text() -> None:
    """Bytes no charset reads still give text (with replacement characters), never an error."""
    decoded, note = decode(b"\xff\xfe\xfa\x00\x81", "no-such-charset")
    assert isinstance(decoded, str) and note


SAMPLES = Path(__file__).resolve().parent / "mail" / "charsets"


@pytest.mark.parametrize(
    ("name", "encoding"),
    [("traditional.txt", "big5"), ("simplified.txt", "gb18030"), ("traditional.txt", "gb18030")],
)
def test_unlabelled_big5_and_gb18030_are_told_apart(name: str, encoding: str) -> None:
    """Every sample line, unlabelled, decodes to its own text: Big5 is no longer taken for
    GB18030, and GB18030 (simplified, or traditional characters written in GBK) stays GB18030.
    The samples are the evidence behind ``charsets._reads_as_big5``."""
    lines = (SAMPLES / name).read_text(encoding="utf-8").splitlines()
    wrong = [line for line in lines if decode(line.encode(encoding), None)[0] != line]
    assert not wrong, wrong


@pytest.mark.parametrize(
    "text", ["Temperatur 25°C bitte", "Ärger über Öl", "À côté de la gare", "±5 µm Toleranz"]
)
def test_western_text_with_high_bytes_is_not_taken_for_big5(text: str) -> None:
    """Latin-1/cp1252 bytes in Big5's lead range (°, Ä, À, ±) between letters stay Western."""
    assert decode(text.encode("cp1252"), None)[0] == text
