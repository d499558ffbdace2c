"""Which outbox rows a delivery takes: the due ones, re-checked as still pending, or on
PostgreSQL claimed one at a time with ``FOR UPDATE SKIP LOCKED`` so several daemons deliver
side by side."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import peewee as pw

from mailflow.store.database import claim, transaction
from mailflow.store.models import Outbox, utc


def due(now: dt.datetime) -> Any:
    """The condition of a row to send at ``now``."""
    return (Outbox.status == "pending") & (Outbox.next_attempt_at <= utc(now))


def claimed(db: pw.Database, now: dt.datetime, limit: int) -> Iterator[Outbox]:
    """PostgreSQL: due rows one at a time, each locked by its own transaction with ``FOR
    UPDATE SKIP LOCKED`` while the caller sends and marks it, so every daemon delivers and
    none sends a row another holds. A daemon that dies mid-send rolls back and the row is
    free again at once (the server drops the lock with the connection)."""
    for _ in range(limit):
        with transaction(db):
            row = claim(
                Outbox.select().where(due(now)).order_by(Outbox.next_attempt_at, Outbox.id)
            ).first()
            if row is None:
                return
            yield row  # sent and marked inside this transaction


def pending(ids: list[int], chunk: int = 50) -> Iterator[Outbox]:
    """The rows of ``ids``, a chunk at a time (bounded memory), re-checked as still pending."""
    for start in range(0, len(ids), chunk):
        part = ids[start : start + chunk]
        rows = {
            r.id: r
            for r in Outbox.select().where(Outbox.id.in_(part) & (Outbox.status == "pending"))
        }
        for row_id in part:
            if row_id in rows:
                yield rows[row_id]
