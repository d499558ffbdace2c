"""Where each mailbox stands (highest UID seen, the first run's backlog), written like every
other row: inside a write transaction, through the write lock."""

from __future__ import annotations

from typing import Any

from mailflow.store.database import transaction
from mailflow.store.models import MailboxCursor, database_proxy


def load(source: str) -> MailboxCursor | None:
    """The cursor of mailbox ``source``, if it has been read before."""
    row: MailboxCursor | None = MailboxCursor.get_or_none(MailboxCursor.source == source)
    return row


def create(**values: Any) -> MailboxCursor:
    """Record a mailbox's first cursor."""
    with transaction(database_proxy.obj):
        row: MailboxCursor = MailboxCursor.create(**values)
    return row


def save(cursor: MailboxCursor) -> None:
    """Store a moved cursor."""
    with transaction(database_proxy.obj):
        cursor.save()


def forget(cursor: MailboxCursor) -> None:
    """Drop a cursor (the server renumbered the folder)."""
    with transaction(database_proxy.obj):
        cursor.delete_instance()
