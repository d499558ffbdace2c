"""Large files end to end through Dovecot and the SMTP server: a file the parser never saw is
stored byte for byte, forwarded to the handler from the blob store (the outbox row keeps only
its digest), and one over ``[limits] forward_mb`` is named in the handler's mail and kept with
the ticket instead of attached."""

from __future__ import annotations

import email
import email.policy
import hashlib
import random
from pathlib import Path

from tests.conftest import ImapAccount
from tests.helpers import PEOPLE, run_once, show, sql
from tests.mails import build
from tests.servers import SmtpServer

ENGINEER = "zhou.jie@example.com"  # 硬件支持组 takes printer trouble


def _file(mb: float, seed: int) -> bytes:
    return b"%PDF-1.7\n" + random.Random(seed).randbytes(int(mb * 1024 * 1024))


def test_large_files_are_stored_forwarded_or_kept(
    e2e_config: Path, imap_account: ImapAccount, smtp_server: SmtpServer
) -> None:
    e2e_config.write_text(e2e_config.read_text() + "[limits]\nforward_mb = 5\n" + PEOPLE)
    small, big = _file(3, 1), _file(8, 2)
    for n, data in enumerate((small, big)):
        imap_account.append(
            build(
                f"user{n}@example.cn",
                imap_account.user,
                f"打印机坏了 {n}",
                "错误日志见附件。",
                attachments=((f"日志{n}.pdf", "application/pdf", data),),
            )
        )
    run_once(e2e_config)
    numbers = [str(r[0]) for r in sql(e2e_config, "SELECT number FROM ticket ORDER BY number")]
    for number, data in zip(numbers, (small, big), strict=True):
        [attachment] = show(e2e_config, number)["messages"][0]["attachments"]  # type: ignore[index]
        assert attachment["size"] == len(data)
        assert attachment["sha256"] == hashlib.sha256(data).hexdigest()

    to_engineer = [m for m in smtp_server.wait_for(4, timeout=10) if m.rcpt_tos == [ENGINEER]]
    assert len(to_engineer) == 2
    mails = [email.message_from_bytes(m.data, policy=email.policy.default) for m in to_engineer]
    forwarded = {m["Subject"]: [a.get_content() for a in m.iter_attachments()] for m in mails}
    [with_file] = [files for subject, files in forwarded.items() if numbers[0] in subject]
    assert with_file == [small]
    [without] = [m for m in mails if numbers[1] in m["Subject"]]
    assert not list(without.iter_attachments())
    assert "日志1.pdf" in without.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "保存在工单中" in without.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    # The forwarded mail (over 1 MB) is in the blob store, not in its outbox row.
    rows = sql(
        e2e_config, "SELECT mime_sha256, LENGTH(mime) FROM outbox WHERE rcpt = ?", (ENGINEER,)
    )
    kept_where = sorted((bool(digest), int(size) > 0) for digest, size in rows)  # type: ignore[call-overload]
    assert kept_where == [(False, True), (True, False)]
