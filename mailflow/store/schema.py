"""The schema: tables created where missing, and each version's migration step."""

from __future__ import annotations

from collections.abc import Callable

import peewee as pw

from mailflow.errors import DatabaseError, StorageError
from mailflow.store.articles import KB_MODELS, POSTGRES_FTS, SQLITE_FTS
from mailflow.store.database import transaction
from mailflow.store.models import ALL_MODELS, Meta

SCHEMA_VERSION = 6
SCHEMA_LOCK = 0x6D61696C666C6F77  # "mailflow": the advisory lock around schema changes
MODELS = ALL_MODELS + KB_MODELS


def _to_version_2(db: pw.Database) -> None:
    # Single-column indexes replaced by the composite ones the queries use (fewer index
    # updates for every event and outbox row).
    for name in (
        "event_at",
        "event_kind",
        "outbox_rcpt",
        "outbox_status",
        "outbox_next_attempt_at",
    ):
        db.execute_sql(f'DROP INDEX IF EXISTS "{name}"')  # type: ignore[no-untyped-call]


def _to_version_3(db: pw.Database) -> None:
    # Service levels: the update deadline, the targets in force, and indexed deadlines.
    # (playhouse.migrate pulls in every playhouse backend: imported only to upgrade.)
    from playhouse.migrate import SchemaMigrator, migrate  # noqa: PLC0415

    migrator = SchemaMigrator.from_database(db)
    columns = {c.name for c in db.get_columns("ticket")}
    steps = []
    if "update_by" not in columns:
        steps.append(migrator.add_column("ticket", "update_by", pw.DateTimeField(null=True)))
    migrate(*steps)
    if "sla" not in columns:
        # Not the migrator: for a NOT NULL column it rebuilds the table on SQLite.
        db.execute_sql(  # type: ignore[no-untyped-call]
            """ALTER TABLE "ticket" ADD COLUMN "sla" TEXT NOT NULL DEFAULT '{}'"""
        )
    for column in ("respond_by", "resolve_by", "update_by"):
        db.execute_sql(  # type: ignore[no-untyped-call]
            f'CREATE INDEX IF NOT EXISTS "ticket_{column}" ON "ticket" ("{column}")'
        )


def _to_version_4(db: pw.Database) -> None:
    # Reports ask what happened between two moments: the times they filter on are indexed.
    for column in ("submitted_at", "first_response_at", "resolved_at", "closed_at", "rated_at"):
        db.execute_sql(  # type: ignore[no-untyped-call]
            f'CREATE INDEX IF NOT EXISTS "ticket_{column}" ON "ticket" ("{column}")'
        )


def _to_version_6(db: pw.Database) -> None:
    # Several mailboxes: the desk address each ticket arrived at ('' before: the support one);
    # large outgoing mails kept in the blob store.
    if "mailbox" not in {c.name for c in db.get_columns("ticket")}:
        db.execute_sql(  # type: ignore[no-untyped-call]
            """ALTER TABLE "ticket" ADD COLUMN "mailbox" VARCHAR(320) NOT NULL DEFAULT ''"""
        )
    if "mime_sha256" not in {c.name for c in db.get_columns("outbox")}:
        db.execute_sql(  # type: ignore[no-untyped-call]
            """ALTER TABLE "outbox" ADD COLUMN "mime_sha256" VARCHAR(64) NOT NULL DEFAULT ''"""
        )


# Partial indexes (SQLite and PostgreSQL alike) that peewee's models do not declare: the
# report's missed deadlines are few among many tickets, so only those are indexed.
PARTIAL_INDEXES = (
    'CREATE INDEX IF NOT EXISTS "ticket_late_response" ON "ticket" ("respond_by") '
    'WHERE "first_response_at" IS NULL OR "first_response_at" > "respond_by"',
    'CREATE INDEX IF NOT EXISTS "ticket_late_resolution" ON "ticket" ("resolve_by") '
    'WHERE "resolved_at" IS NULL OR "resolved_at" > "resolve_by"',
)


# Each step takes the schema from the version before it to its own.
MIGRATIONS: dict[int, Callable[[pw.Database], None]] = {
    2: _to_version_2,
    3: _to_version_3,
    4: _to_version_4,
    6: _to_version_6,
}


def init_schema(db: pw.Database) -> int:
    """Create missing tables and record the schema version; safe to run any number of times.

    An up-to-date database is only read (no write lock), so starting mailflow next to a busy
    writer does not wait for it.
    """
    try:
        if db.table_exists("meta"):
            row = Meta.get_or_none(Meta.key == "schema_version")
            if (
                row is not None
                and int(row.value) == SCHEMA_VERSION
                and all(db.table_exists(m._meta.table_name) for m in MODELS)
            ):
                return SCHEMA_VERSION
    except (pw.OperationalError, pw.InterfaceError) as exc:
        raise DatabaseError(f"database: {exc}") from exc
    with transaction(db):
        if isinstance(db, pw.PostgresqlDatabase):
            # Daemons started at once on a new database would race their CREATE TABLEs
            # (PostgreSQL answers with a duplicate pg_type row): one at a time, the others
            # then find the schema made. SQLite's write lock already does this.
            db.execute_sql("SELECT pg_advisory_xact_lock(%s)", (SCHEMA_LOCK,))  # type: ignore[no-untyped-call]
        row = Meta.get_or_none(Meta.key == "schema_version") if db.table_exists("meta") else None
        current = int(row.value) if row else 0
        if current > SCHEMA_VERSION:
            raise StorageError(
                f"database schema version {current} is newer than this mailflow "
                f"({SCHEMA_VERSION}); upgrade mailflow"
            )
        # Columns first, then tables and indexes: on SQLite an index on a column that does not
        # exist yet is silently made on the string "column" and later corrupts the table.
        if db.table_exists("ticket"):
            for version in range(current + 1, SCHEMA_VERSION + 1):
                if version in MIGRATIONS:
                    MIGRATIONS[version](db)
        db.create_tables(MODELS, safe=True)
        for statement in PARTIAL_INDEXES:
            db.execute_sql(statement)  # type: ignore[no-untyped-call]
        sqlite = isinstance(db, pw.SqliteDatabase)
        db.execute_sql(SQLITE_FTS if sqlite else POSTGRES_FTS)  # type: ignore[no-untyped-call]
        Meta.insert(key="schema_version", value=str(SCHEMA_VERSION)).on_conflict(
            conflict_target=[Meta.key], update={Meta.value: str(SCHEMA_VERSION)}
        ).execute()
    return SCHEMA_VERSION
