"""Decide what an inbound mail is: a new ticket, a follow-up, an automatic mail, or unreadable.

Pure: the lookups it needs are passed in, so the decision is testable without a database.

Which ticket a mail belongs to: the subject tag first (``[TS20231025001]`` after any reply
prefixes); failing that, In-Reply-To/References naming a mail we stored or sent; for bounces and
auto-replies also the Message-ID or ``X-Mailflow-Ticket`` of the original attached to them. A
mail is added to a ticket only if its sender may act on it (``may_follow_up``); anyone else's
mail becomes a new ticket, and the event says why.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass
from typing import Literal

from mailflow.mail.loops import HUMAN, Verdict, classify
from mailflow.mail.parsing import InboundMail
from mailflow.store.ids import find_number

Action = Literal["new", "followup", "duplicate", "quarantine", "own", "automatic"]


@dataclass(frozen=True)
class Decision:
    action: Action
    ticket_number: str | None = None
    reason: str = ""
    verdict: Verdict = HUMAN


@dataclass(frozen=True)
class Lookups:
    """What routing needs to know from the database."""

    ticket_exists: Callable[[str], bool]
    already_stored: Callable[[str], bool]
    ticket_for_ids: Callable[[Iterable[str]], str | None]
    may_follow_up: Callable[[str, str], bool]


def route(mail: InboundMail, prefix: str, own: Collection[str], lookups: Lookups) -> Decision:
    """What to do with ``mail``."""
    if lookups.already_stored(mail.dedupe_key):
        return Decision("duplicate", reason=f"already stored as {mail.dedupe_key}")
    verdict = classify(mail, own)
    if verdict.kind == "own":
        return Decision("own", reason=verdict.reason, verdict=verdict)
    if mail.sender is None:
        refused = [d.removeprefix("address refused: ") for d in mail.defects if "refused:" in d]
        why = f": {'; '.join(refused)}" if refused else ""
        return Decision("quarantine", reason=f"no sender address in From{why}")
    number, how = _find_ticket(mail, prefix, verdict, lookups)
    if verdict.kind in ("bounce", "auto_reply"):
        # Recorded on its ticket when we can tell which; never a ticket of its own.
        return Decision("automatic", number, how or "no ticket could be identified", verdict)
    if number is None:
        return Decision("new", reason=how or "no ticket tag in subject", verdict=verdict)
    if not lookups.may_follow_up(number, mail.sender.email):
        return Decision(
            "new",
            reason=f"{how}, but {mail.sender.email} is not a participant of {number}",
            verdict=verdict,
        )
    return Decision("followup", number, how, verdict)


def _find_ticket(
    mail: InboundMail, prefix: str, verdict: Verdict, lookups: Lookups
) -> tuple[str | None, str]:
    number = find_number(mail.subject, prefix)
    if number is not None:
        if lookups.ticket_exists(number):
            return number, f"subject tag [{number}]"
        unknown = f"subject tag [{number}] names no existing ticket"
    else:
        unknown = ""
    threaded = lookups.ticket_for_ids((*mail.in_reply_to, *reversed(mail.references)))
    if threaded is not None:
        return threaded, "In-Reply-To/References name a mail of this ticket"
    if verdict.kind in ("bounce", "auto_reply"):
        for candidate in mail.related_tickets:
            if lookups.ticket_exists(candidate):
                return candidate, "the returned mail's X-Mailflow-Ticket header"
        threaded = lookups.ticket_for_ids(mail.related_ids)
        if threaded is not None:
            return threaded, "the returned mail's Message-ID"
    return None, unknown
