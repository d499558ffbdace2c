"""What an operator does with quarantined mail: list, show, retry, drop.

A quarantined mail's raw bytes stay in the blob store whatever happens; "drop" only marks the
entry dealt with. "retry" runs the bytes through the workflow again (after a parser fix, say):
if they still cannot be read the entry stays held with the new error, otherwise it is marked
retried with what became of it.
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

from mailflow.errors import ParseError, WorkflowError
from mailflow.mail.parsing import parse
from mailflow.pipeline.handling import Outcome, handle
from mailflow.services import Services
from mailflow.sources import RawMail
from mailflow.store.database import transaction
from mailflow.store.models import Quarantine, aware, iso, utc


def entries(include_done: bool = False) -> list[Quarantine]:
    """Held entries (or all), oldest first."""
    query = Quarantine.select().order_by(Quarantine.at, Quarantine.id)
    if not include_done:
        query = query.where(Quarantine.status == "held")
    return list(query)


def describe(entry: Quarantine, tz: ZoneInfo) -> dict[str, Any]:
    return {
        "id": entry.id,
        "at": iso(entry.at, tz),
        "status": entry.status,
        "size": entry.size,
        "sha256": entry.raw_sha256,
        "source": entry.source_ref,
        "error": entry.error,
    }


def get(entry_id: int) -> Quarantine:
    entry = Quarantine.get_or_none(Quarantine.id == entry_id)
    if entry is None:
        raise WorkflowError(f"no quarantine entry #{entry_id}")
    return entry


def retry(entry: Quarantine, now: dt.datetime, services: Services) -> Outcome | str:
    """Handle the mail again; the Outcome, or the error text when it still cannot be read."""
    if entry.status != "held":
        raise WorkflowError(f"quarantine entry #{entry.id} is {entry.status}, not held")
    raw = services.store.get(entry.raw_sha256)
    try:
        parse(raw)
    except ParseError as exc:
        with transaction(services.db):
            Quarantine.update(error=str(exc)).where(Quarantine.id == entry.id).execute()
        return str(exc)
    outcome = handle(
        RawMail(raw, None, aware(entry.at), f"quarantine #{entry.id}"), now, services, any_size=True
    )
    with transaction(services.db):
        Quarantine.update(
            status="retried",
            error=f"{entry.error} | retried {utc(now):%Y-%m-%d %H:%M} UTC: {outcome.action} "
            f"{outcome.ticket_number or ''}".strip(),
        ).where(Quarantine.id == entry.id).execute()
    return outcome


def drop(entry: Quarantine, services: Services) -> None:
    """Mark the entry dealt with; its raw bytes stay in the store."""
    with transaction(services.db):
        Quarantine.update(status="dropped").where(Quarantine.id == entry.id).execute()
