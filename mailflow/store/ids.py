"""Ticket numbers: ``TS`` + ``YYYYMMDD`` (support time zone) + daily serial.

The serial has at least three digits and simply widens past 999 (``TS202310251000``): nothing
wraps or fails on a busy day. Allocation is an upsert on a per-day counter row inside the caller's
write transaction, so the row lock serialises concurrent allocators (SQLite: the IMMEDIATE write
lock; PostgreSQL: the row lock held until commit), and the unique index on ``Ticket.number`` is
the last line of defence.
"""

from __future__ import annotations

import datetime as dt
import re
from zoneinfo import ZoneInfo

from mailflow.errors import ConfigError
from mailflow.store.database import transaction
from mailflow.store.models import Meta, database_proxy

# Reply prefixes as mail clients write them: English, Chinese (simplified and traditional, with
# ASCII or full-width colons), and the German/Nordic ones seen in real corpora.
REPLY_PREFIX = re.compile(
    r"^\s*(?:(?:re|aw|sv|vs|antw|fw|fwd|wg|tr|回复|回覆|答复|答覆|转发|轉寄|转寄)\s*(?:\[\d+\])?\s*[:：]\s*)+",
    re.IGNORECASE,
)


def format_number(prefix: str, day: dt.date, serial: int) -> str:
    """The ticket number for the ``serial``-th ticket of ``day``."""
    return f"{prefix}{day:%Y%m%d}{serial:03d}"


def ticket_day(now: dt.datetime, tz: ZoneInfo) -> dt.date:
    """The date a ticket created at ``now`` is numbered under, in the support time zone."""
    return now.astimezone(tz).date()


def allocate(prefix: str, day: dt.date) -> str:
    """Take the next number for ``day``; call inside a write transaction."""
    key = f"{prefix}{day:%Y%m%d}"
    db = database_proxy.obj
    p = db.param
    # Plain SQL (valid for SQLite >= 3.24 and PostgreSQL): this runs for every new ticket and
    # peewee's query builder would cost more than the statements themselves.
    db.execute_sql(
        f'INSERT INTO "daily_counter" ("day_key", "last") VALUES ({p}, 1) '
        f'ON CONFLICT ("day_key") DO UPDATE SET "last" = "daily_counter"."last" + 1',
        [key],
    )
    row = db.execute_sql(f'SELECT "last" FROM "daily_counter" WHERE "day_key" = {p}', [key])
    return format_number(prefix, day, int(row.fetchone()[0]))


def tag(number: str) -> str:
    """The subject tag for a ticket number."""
    return f"[{number}]"


def tag_pattern(prefix: str) -> re.Pattern[str]:
    """A pattern finding a ticket tag; full-width brackets from Chinese input methods count."""
    return re.compile(rf"[\[【［]\s*({re.escape(prefix)}\d{{8}}\d{{3,}})\s*[\]】］]", re.IGNORECASE)


def strip_reply_prefixes(subject: str) -> str:
    """``Re: 回复: Fwd: x`` → ``x``."""
    return REPLY_PREFIX.sub("", subject, count=1).strip()


def find_number(subject: str, prefix: str) -> str | None:
    """The ticket number tagged in ``subject`` (after any reply prefixes), if there is one."""
    match = tag_pattern(prefix).search(strip_reply_prefixes(subject))
    return match.group(1).upper() if match else None


PREFIX_KEY = "ticket_prefix"


def own_prefix(prefix: str, renumber: bool = False) -> None:
    """Record the prefix this database numbers tickets with, or refuse a different one.

    Two daemons on one database with different ``[support] ticket_prefix`` would number two
    series of tickets side by side (a misread config, a second desk pointed at the wrong
    database): refused at start. Renumbering on purpose is ``mailflow init-db --renumber``.
    Only read when the prefix is known, so a start never waits for another writer.
    """
    row = Meta.get_or_none(Meta.key == PREFIX_KEY)
    if row is not None and not renumber:
        if row.value != prefix:
            raise ConfigError(
                "support.ticket_prefix",
                f"is {prefix!r} but this database numbers its tickets {row.value!r} (another "
                "daemon's config?); one prefix per database: point this desk at its own "
                "database, or renumber from now on with: mailflow init-db --renumber",
            )
        return
    with transaction(database_proxy.obj):
        insert = Meta.insert(key=PREFIX_KEY, value=prefix)
        if renumber:
            insert = insert.on_conflict(conflict_target=[Meta.key], update={Meta.value: prefix})
        else:
            insert = insert.on_conflict_ignore()  # another daemon's first start got there
        insert.execute()
    if not renumber:
        own_prefix(prefix)  # the row now holds whoever won; refuse if that was not us
