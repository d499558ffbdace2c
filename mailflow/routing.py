"""Decide what an inbound mail is: a new ticket, a follow-up, a duplicate, or unreadable.

Pure: the lookups it needs are passed in, so the decision is testable without a database.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from mailflow.ids import find_number
from mailflow.parsing import InboundMail

Action = Literal["new", "followup", "duplicate", "quarantine"]


@dataclass(frozen=True)
class Decision:
    action: Action
    ticket_number: str | None = None
    reason: str = ""


def route(
    mail: InboundMail,
    prefix: str,
    ticket_exists: Callable[[str], bool],
    already_stored: Callable[[str], bool],
) -> Decision:
    """What to do with ``mail``."""
    if already_stored(mail.dedupe_key):
        return Decision("duplicate", reason=f"already stored as {mail.dedupe_key}")
    if mail.sender is None:
        return Decision("quarantine", reason="no sender address in From")
    number = find_number(mail.subject, prefix)
    if number is None:
        return Decision("new", reason="no ticket tag in subject")
    if not ticket_exists(number):
        return Decision("new", reason=f"subject tag [{number}] names no existing ticket")
    return Decision("followup", number, reason=f"subject tag [{number}]")
