"""What routing asks the database: does a ticket exist, was this mail stored, which ticket do
these Message-IDs belong to, may this address add to that ticket."""

from __future__ import annotations

from mailflow.config import Config
from mailflow.pipeline.routing import Lookups
from mailflow.store.models import Message, Ticket
from mailflow.store.rows import value_exists


def lookups(support_domain: str, config: Config) -> Lookups:
    return Lookups(
        ticket_exists=lambda n: value_exists(Ticket.number, n),
        already_stored=lambda key: value_exists(Message.dedupe_key, key),
        ticket_for_ids=lambda ids: _ticket_for_ids(list(ids), support_domain),
        may_follow_up=lambda number, address: _may_follow_up(number, address, config),
    )


def _ticket_for_ids(message_ids: list[str], support_domain: str) -> str | None:
    """The ticket one of these Message-IDs belongs to: a mail we stored, or one we sent."""
    if not message_ids:
        return None
    row = (
        Ticket.select(Ticket.number)
        .join(Message, on=(Message.ticket == Ticket.id))
        .where(Message.message_id.in_(message_ids))
        .order_by(Message.id.desc())
        .first()
    )
    if row is not None:
        return str(row.number)
    # Our own Message-IDs carry the ticket number (<TS20231025001.token@domain>), so a reply
    # to a mail whose row is gone still finds its ticket.
    for message_id in message_ids:
        left, _, domain = message_id.strip("<>").rpartition("@")
        number = left.split(".", 1)[0]
        if domain == support_domain and value_exists(Ticket.number, number):
            return number
    return None


def _may_follow_up(number: str, address: str, config: Config) -> bool:
    """Configured staff, the requester and everyone who was on the ticket's mails may add."""
    person = config.person(address)
    if person is not None and person.role in ("engineer", "supervisor"):
        return value_exists(Ticket.number, number)
    ticket = Ticket.get_or_none(Ticket.number == number)
    if ticket is None:
        return False
    if ticket.requester_email == address or address in ticket.cc:
        return True
    for message in Message.select(Message.from_addr, Message.to, Message.cc).where(
        (Message.ticket == ticket) & (Message.kind == "mail")
    ):
        if address == message.from_addr or address in message.to or address in message.cc:
            return True
    return False
