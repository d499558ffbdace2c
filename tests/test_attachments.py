"""Attachments: names repaired, limits told to the requester, attached mails and TNEF opened."""

from __future__ import annotations

import base64
import email
import email.policy
import struct
from pathlib import Path

from mailflow.mail.attachments import Limits, ParsedAttachment, within_limits
from mailflow.mail.parsing import parse
from tests.conftest import ImapAccount
from tests.helpers import run_once, show, today_prefix
from tests.mails import build
from tests.servers import SmtpServer

HEAD = b"From: a@example.cn\r\nTo: s@example.com\r\nSubject: files\r\nMIME-Version: 1.0\r\n"


def multipart(*parts: bytes) -> bytes:
    body = b"".join(b"--B\r\n" + p + b"\r\n" for p in parts)
    return (
        HEAD + b'Content-Type: multipart/mixed; boundary="B"\r\n\r\n'
        b"--B\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nsee attached\r\n"
        + body
        + b"--B--\r\n"
    )


def test_gbk_filenames_rfc2231_and_raw_8bit() -> None:
    """GBK file names arrive readable whether RFC 2231-encoded or raw 8-bit."""
    rfc2231 = (
        b"Content-Type: application/octet-stream\r\n"
        b"Content-Disposition: attachment; filename*=gbk''%D6%D0%CE%C4%B1%A8%B8%E6.txt"
        b"\r\nContent-Transfer-Encoding: base64\r\n\r\naGVsbG8="
    )
    raw8 = (
        b"Content-Type: application/vnd.ms-excel\r\nContent-Disposition: attachment; "
        b'filename="' + "绩效考核表.xls".encode("gbk") + b'"\r\n'
        b"Content-Transfer-Encoding: base64\r\n\r\naGVsbG8="
    )
    mail = parse(multipart(rfc2231, raw8))
    assert [a.filename for a in mail.attachments] == ["中文报告.txt", "绩效考核表.xls"]
    assert all(a.data == b"hello" for a in mail.attachments)


def test_inline_image_keeps_its_content_id() -> None:
    image = (
        b"Content-Type: image/png\r\nContent-ID: <img001@client>\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\n" + base64.b64encode(b"\x89PNG fake")
    )
    [attachment] = parse(multipart(image)).attachments
    assert attachment.content_id == "img001@client" and attachment.inline
    assert attachment.filename == "img001.png"


def test_attached_mail_becomes_an_eml_named_after_its_subject() -> None:
    """A forwarded mail attachment is kept as a .eml file named after its subject."""
    inner = build("b@example.com", "a@example.cn", "原始问题：打印机", "inner body")
    part = b"Content-Type: message/rfc822\r\n\r\n" + inner
    [attachment] = parse(multipart(part)).attachments
    assert attachment.filename == "原始问题：打印机.eml"
    assert attachment.content_type == "message/rfc822"
    assert b"inner body" in attachment.data


def _tnef(files: list[tuple[str, bytes]]) -> bytes:
    """A minimal winmail.dat as Outlook writes it (ANSI attachment titles)."""

    def attr(level: int, attr_id: int, data: bytes) -> bytes:
        return (
            struct.pack("<BII", level, attr_id, len(data))
            + data
            + struct.pack("<H", sum(data) & 0xFFFF)
        )

    out = struct.pack("<IH", 0x223E9F78, 1) + attr(1, 0x00089006, struct.pack("<I", 0x10000))
    for name, data in files:
        out += attr(2, 0x00069002, b"\x01\x00\xff\xff\xff\xff" + b"\x00" * 8)
        out += attr(2, 0x00018010, name.encode("cp1252") + b"\x00")
        out += attr(2, 0x0006800F, data)
    return out


def test_winmail_dat_is_unpacked() -> None:
    """Outlook's winmail.dat (TNEF) is unpacked into the files it carries."""
    dat = _tnef([("report.docx", b"PK\x03\x04docx"), ("Übersicht.txt", b"hello")])
    part = (
        b"Content-Type: application/ms-tnef; name=winmail.dat\r\n"
        b"Content-Disposition: attachment; filename=winmail.dat\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\n" + base64.encodebytes(dat)
    )
    attachments = parse(multipart(part)).attachments
    assert [(a.filename, a.data) for a in attachments] == [
        ("report.docx", b"PK\x03\x04docx"),
        ("Übersicht.txt", b"hello"),
    ]
    broken = parse(
        multipart(part.replace(b"Content-Transfer-Encoding: base64\r\n\r\n", b"\r\n") + b"junk")
    )
    assert [a.filename for a in broken.attachments] == ["winmail.dat"]


def test_limits() -> None:
    """Attachments over the per-file, total or count limits are refused with the reason."""
    items = tuple(
        ParsedAttachment(f"f{i}", "x/y", b"x" * size) for i, size in enumerate([10, 50, 30, 30, 5])
    )
    accepted, refused = within_limits(items, Limits(max_each=40, max_total=70, max_count=3))
    assert [a.filename for a in accepted] == ["f0", "f2", "f3"]
    assert [(a.filename, why) for a, why in refused] == [("f1", "too_large"), ("f4", "too_many")]
    _, refused = within_limits(items, Limits(max_each=40, max_total=60, max_count=9))
    assert [(a.filename, why) for a, why in refused] == [
        ("f1", "too_large"),
        ("f3", "total_too_large"),
    ]


def test_oversized_attachment_still_makes_a_ticket_and_the_requester_is_told(
    e2e_config: Path, imap_account: ImapAccount, smtp_server: SmtpServer
) -> None:
    """An attachment over the limit costs only itself: the ticket is made and the requester told why
    the file is missing."""
    e2e_config.write_text(e2e_config.read_text() + "[limits]\nmax_attachment_mb = 1\n")
    big = ("服务器日志.zip", "application/zip", b"\x00" * (1024 * 1024 + 1))
    small = ("screenshot.png", "image/png", b"\x89PNG small")
    imap_account.append(
        build(
            "王芳 <w@example.cn>", imap_account.user, "系统很慢", "见附件", attachments=(big, small)
        )
    )
    run_once(e2e_config)
    number = today_prefix() + "001"
    detail = show(e2e_config, number)
    [message] = [m for m in detail["messages"] if m["direction"] == "in"]  # type: ignore[union-attr]
    assert [a["filename"] for a in message["attachments"]] == ["screenshot.png"]
    refused = next(e for e in detail["events"] if e["kind"] == "attachments_refused")
    assert refused["data"]["files"][0]["filename"] == "服务器日志.zip"
    ack = email.message_from_bytes(smtp_server.wait_for(1)[0].data, policy=email.policy.default)
    text = ack.get_body(("plain",)).get_content()
    assert "以下附件未被接收" in text and "服务器日志.zip" in text and "1 MB" in text

    # The same on a follow-up: the file is refused and a short notice goes out.
    imap_account.append(
        build(
            "王芳 <w@example.cn>",
            imap_account.user,
            f"回复: [{number}]",
            "再发一次",
            attachments=(big,),
        )
    )
    run_once(e2e_config)
    [_, notice] = smtp_server.wait_for(2)
    parsed = parse(notice.data)
    assert parsed.subject.startswith(f"[{number}] 附件未被接收")
    assert "服务器日志.zip" in parsed.text
