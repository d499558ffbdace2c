"""Recognise mail that must never be answered automatically (RFC 3834 and practice).

Pure: looks only at the parsed mail. The workflow decides what to do with the verdict: no
acknowledgement ever goes to automatic mail, our own mail is never taken in as a request, an
out-of-office reply becomes an event on its ticket, a bounce marks its recipient undeliverable.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass
from typing import Literal

from mailflow.mail.parsing import InboundMail

Kind = Literal["", "own", "bounce", "auto_reply", "auto_generated", "bulk", "list", "system"]

# Local parts that belong to machines, not people (compared without dots, dashes, underscores).
SYSTEM_SENDERS = {
    "mailerdaemon",
    "postmaster",
    "noreply",
    "donotreply",
    "bounce",
    "bounces",
    "autoreply",
    "autoresponder",
    "notification",
    "notifications",
    "daemon",
    "nobody",
    "root",
    "listserv",
    "majordomo",
}
_SEPARATORS = re.compile(r"[-_.]")


@dataclass(frozen=True)
class Verdict:
    kind: Kind
    reason: str

    @property
    def automatic(self) -> bool:
        """True when nothing automatic may be sent in answer."""
        return self.kind != ""


HUMAN = Verdict("", "")


def classify(mail: InboundMail, own: Collection[str]) -> Verdict:
    """Why ``mail`` must not be answered automatically, or HUMAN."""
    h = mail.headers
    sender = mail.sender.email if mail.sender else ""
    if h.get("x-mailflow-loop") or sender in own:
        return Verdict("own", "our own mail (X-Mailflow-Loop or a support address as sender)")
    content_type = h.get("content-type", "")
    if "multipart/report" in content_type and "delivery-status" in content_type:
        return Verdict("bounce", "delivery status notification (multipart/report)")
    local = _SEPARATORS.sub("", sender.split("@", 1)[0]) if sender else ""
    auto = h.get("auto-submitted", "").split(";", 1)[0].strip()
    if local in ("mailerdaemon", "postmaster") and (
        auto
        or mail.subject.lower().startswith(
            (
                "undeliver",
                "delivery status",
                "returned mail",
                "mail delivery",
                "退信",
                "系统退信",
                "未送达",
            )
        )
    ):
        return Verdict("bounce", f"delivery failure notice from {sender}")
    if auto and auto != "no":
        kind: Kind = "auto_reply" if auto.startswith("auto-replied") else "auto_generated"
        return Verdict(kind, f"Auto-Submitted: {auto}")
    for name in ("x-autoreply", "x-autorespond"):
        if name in h:
            return Verdict("auto_reply", f"{name} header")
    precedence = h.get("precedence", "")
    if precedence in ("bulk", "junk", "list"):
        return Verdict("list" if precedence == "list" else "bulk", f"Precedence: {precedence}")
    if "list-id" in h or "list-unsubscribe" in h:
        return Verdict("list", "mailing list (List-Id / List-Unsubscribe)")
    if local in SYSTEM_SENDERS or local.startswith(("noreply", "donotreply", "mailerdaemon")):
        return Verdict("system", f"machine sender {sender}")
    return HUMAN
