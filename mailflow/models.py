"""Database models and connection.

Models are bound late to a ``DatabaseProxy`` (huey's pattern), so the same code serves SQLite (the
embedded default) and PostgreSQL. Nothing here is SQLite-only: JSON is stored as text, blobs as
``BlobField``, and every timestamp is naive UTC (converted to the support time zone only for
display), because SQLite and PostgreSQL disagree about time zones in columns.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import os
import sqlite3
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import peewee as pw
from playhouse.db_url import connect as url_connect

from mailflow.errors import StorageError

SCHEMA_VERSION = 2


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


# Each step takes the schema from the version before it to its own.
MIGRATIONS: dict[int, Callable[[pw.Database], None]] = {2: _to_version_2}

database_proxy = pw.DatabaseProxy()
M = TypeVar("M", bound="BaseModel")


def utc(moment: dt.datetime) -> dt.datetime:
    """The naive-UTC form we store; naive input is taken to be UTC already."""
    if moment.tzinfo is None:
        return moment
    return moment.astimezone(dt.UTC).replace(tzinfo=None)


def aware(moment: dt.datetime) -> dt.datetime:
    """Attach UTC to a stored naive timestamp."""
    return moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment


class JSONField(pw.TextField):
    """JSON kept as text: portable across SQLite and PostgreSQL, readable in a SQL shell."""

    def db_value(self, value: Any) -> str | None:
        return None if value is None else json.dumps(value, ensure_ascii=False, sort_keys=True)

    def python_value(self, value: str | None) -> Any:
        return None if value is None else json.loads(value)


class BaseModel(pw.Model):
    id = pw.AutoField()  # explicit, so the type checker knows the column (peewee's default)

    class Meta:
        database = database_proxy
        legacy_table_names = False


class Meta(BaseModel):
    """Key/value facts about the database itself (schema version)."""

    key = pw.CharField(primary_key=True, max_length=64)
    value = pw.TextField()


class DailyCounter(BaseModel):
    """Last serial handed out per prefix and day; the row is the lock for allocation."""

    day_key = pw.CharField(primary_key=True, max_length=32)
    last = pw.IntegerField()


class Ticket(BaseModel):
    if TYPE_CHECKING:
        messages: pw.ModelSelect[Message]
        events: pw.ModelSelect[Event]

    number = pw.CharField(unique=True, max_length=32)
    subject = pw.TextField()
    status = pw.CharField(max_length=32, index=True)
    priority = pw.CharField(max_length=16)
    category = pw.CharField(max_length=128, null=True)
    group = pw.CharField(max_length=128, null=True, index=True)
    assignee = pw.CharField(max_length=320, null=True, index=True)  # an engineer's address
    cc = JSONField(default=list)  # participants added with "Cc:"; they get the progress mails
    requester_email = pw.CharField(max_length=320, index=True)
    requester_name = pw.CharField(max_length=256, default="")
    # Registered by the service desk for a caller: stored whole, shown masked (assign.mask_phone).
    phone = pw.CharField(max_length=64, default="")
    department = pw.CharField(max_length=128, default="")
    channel = pw.CharField(max_length=32, default="email")
    language = pw.CharField(max_length=8)
    submitted_at = pw.DateTimeField()  # when the request reached the mailbox (spec: 提交时间)
    created_at = pw.DateTimeField(index=True)
    updated_at = pw.DateTimeField()
    respond_by = pw.DateTimeField(null=True)
    resolve_by = pw.DateTimeField(null=True)
    first_response_at = pw.DateTimeField(null=True)
    resolved_at = pw.DateTimeField(null=True)
    closed_at = pw.DateTimeField(null=True)
    rating = pw.IntegerField(null=True)  # 4 非常满意 … 1 不满意 (confirm.RATINGS)
    rating_comment = pw.TextField(default="")
    rated_at = pw.DateTimeField(null=True)


class Message(BaseModel):
    """One mail on a ticket, inbound or outbound."""

    if TYPE_CHECKING:
        ticket_id: int | None
        attachments: pw.ModelSelect[Attachment]

    ticket = pw.ForeignKeyField(Ticket, backref="messages", null=True, on_delete="CASCADE")
    direction = pw.CharField(max_length=3)  # "in" | "out"
    # "mail" for what people wrote; else the loops.Verdict kind of an automatic mail
    # (bounce, auto_reply, own) that was kept for the record but is not correspondence.
    kind = pw.CharField(max_length=16, default="mail")
    # Identity of an inbound mail for exactly-once ingest: "mid:<Message-ID>" or "sha256:<raw>".
    dedupe_key = pw.CharField(max_length=1024, unique=True, null=True)
    message_id = pw.CharField(max_length=998, index=True, default="")
    in_reply_to = pw.TextField(default="")
    references = JSONField(default=list)
    from_addr = pw.CharField(max_length=320, default="")
    from_name = pw.CharField(max_length=256, default="")
    to = JSONField(default=list)
    cc = JSONField(default=list)
    subject = pw.TextField(default="")
    text = pw.TextField(default="")  # what is shown: a reply without its quoted history
    full_text = pw.TextField(default="")  # the whole plain text as received
    html = pw.TextField(null=True)
    date_header = pw.DateTimeField(null=True)
    created_at = pw.DateTimeField(index=True)
    raw_sha256 = pw.CharField(max_length=64, null=True)
    raw_size = pw.IntegerField(default=0)
    source_ref = pw.TextField(null=True)
    defects = JSONField(default=list)


class Attachment(BaseModel):
    message = pw.ForeignKeyField(Message, backref="attachments", on_delete="CASCADE")
    filename = pw.TextField()
    content_type = pw.CharField(max_length=255)
    size = pw.BigIntegerField()
    sha256 = pw.CharField(max_length=64, index=True)
    content_id = pw.CharField(max_length=998, null=True)
    inline = pw.BooleanField(default=False)


class Event(BaseModel):
    """One change on a ticket: the ticket's history, and what reports are computed from."""

    ticket = pw.ForeignKeyField(Ticket, backref="events", on_delete="CASCADE")
    at = pw.DateTimeField()
    actor = pw.CharField(max_length=320)
    kind = pw.CharField(max_length=64)
    data = JSONField(default=dict)

    class Meta:
        # Reports ask "which X happened between A and B"; a ticket's history goes by ticket_id.
        # Every index costs each of the several events a mail makes, so just these two.
        indexes = ((("kind", "at"), False),)


class Outbox(BaseModel):
    """A mail to send, written in the same transaction as the change that caused it."""

    if TYPE_CHECKING:
        ticket_id: int | None

    message = pw.ForeignKeyField(Message, unique=True, on_delete="CASCADE")
    ticket = pw.ForeignKeyField(Ticket, null=True, on_delete="CASCADE")
    kind = pw.CharField(max_length=64)
    status = pw.CharField(max_length=16, default="pending")  # pending|sent|failed
    mail_from = pw.CharField(max_length=320)
    recipients = JSONField()
    rcpt = pw.CharField(max_length=320)  # the main recipient, for the loop limit
    mime = pw.BlobField()  # the exact bytes to send (Model.raw is peewee's raw-SQL method)
    attempts = pw.IntegerField(default=0)
    next_attempt_at = pw.DateTimeField()
    last_error = pw.TextField(default="")
    created_at = pw.DateTimeField()
    sent_at = pw.DateTimeField(null=True)

    class Meta:
        indexes = (
            (("rcpt", "created_at"), False),  # the per-address loop limit
            (("status", "next_attempt_at"), False),  # what is due, in order
        )


class Undeliverable(BaseModel):
    """An address a delivery status notification reported as failing for good."""

    address = pw.CharField(max_length=320, unique=True)
    first_at = pw.DateTimeField()
    last_at = pw.DateTimeField()
    count = pw.IntegerField(default=1)
    ticket = pw.ForeignKeyField(Ticket, null=True, on_delete="SET NULL")
    reason = pw.TextField(default="")


class MailboxCursor(BaseModel):
    """How far a mailbox has been read: UIDVALIDITY and the highest UID handled."""

    source = pw.CharField(unique=True, max_length=1024)
    uidvalidity = pw.BigIntegerField()
    last_uid = pw.BigIntegerField()
    # Positions picked on the first run (the backlog policy) that are still to be handled.
    backlog = JSONField(default=list)
    updated_at = pw.DateTimeField()


class Receipt(BaseModel):
    """A source position that has been handled, and whether the mailbox was told so yet."""

    source_ref = pw.CharField(unique=True, max_length=1024)
    outcome = pw.CharField(max_length=32)
    message = pw.ForeignKeyField(Message, null=True, on_delete="SET NULL")
    acked = pw.BooleanField(default=False, index=True)
    at = pw.DateTimeField()


class Quarantine(BaseModel):
    """A mail that could not be handled: its raw bytes are in the store, the error here."""

    at = pw.DateTimeField(index=True)
    source_ref = pw.TextField(null=True)
    raw_sha256 = pw.CharField(max_length=64)
    size = pw.IntegerField()
    error = pw.TextField()
    status = pw.CharField(max_length=16, default="held", index=True)  # held|retried|dropped


ALL_MODELS: list[type[BaseModel]] = [
    Meta,
    DailyCounter,
    Ticket,
    Message,
    Attachment,
    Event,
    Outbox,
    Undeliverable,
    MailboxCursor,
    Receipt,
    Quarantine,
]


def open_database(url: str, busy_seconds: int = 30) -> pw.Database:
    """Connect to ``url`` and bind the models to it.

    SQLite gets WAL (readers never block the writer), foreign keys, a busy timeout instead of an
    immediate "database is locked", full fsync (a commit that returned survives a power cut,
    which matters because the mailbox is told "done" right after), and ``BEGIN IMMEDIATE`` for
    every transaction so that two writers queue instead of deadlocking on lock upgrade.
    """
    if url.startswith("sqlite:///"):
        path = url[len("sqlite:///") :]
        if path != ":memory:":
            try:
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StorageError(f"cannot create database folder for {path}: {exc}") from exc
        db: pw.Database = pw.SqliteDatabase(
            path,
            timeout=busy_seconds,
            lock_type="IMMEDIATE",
            pragmas={
                "journal_mode": "wal",
                "foreign_keys": 1,
                "busy_timeout": busy_seconds * 1000,
                "synchronous": "full",
            },
        )
        if path != ":memory:":
            _LOCKS[db] = WriteLock(Path(path + ".lock"), busy_seconds)
    else:
        db = url_connect(url)
    database_proxy.initialize(db)
    deadline = time.monotonic() + busy_seconds
    while True:
        try:
            # Turning a new SQLite file into WAL needs it to itself, and SQLite answers "locked"
            # at once instead of waiting: other mailflow processes are kept out by the write
            # lock, a reader finishing its query by trying again.
            with _LOCKS.get(db, WriteLock(None, 0)).held():
                db.connect(reuse_if_open=True)
            return db
        except (pw.OperationalError, sqlite3.Error) as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise StorageError(f"cannot open database {redact(url)}: {exc}") from exc
            time.sleep(0.05)


def redact(url: str) -> str:
    """A database URL with its password hidden, fit for a log line."""
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        creds, host = rest.rsplit("@", 1)
        user = creds.split(":", 1)[0]
        return f"{scheme}://{user}:***@{host}"
    return url


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
                and all(db.table_exists(m._meta.table_name) for m in ALL_MODELS)
            ):
                return SCHEMA_VERSION
    except (pw.OperationalError, pw.InterfaceError) as exc:
        raise StorageError(f"database: {exc}") from exc
    with transaction(db):
        db.create_tables(ALL_MODELS, safe=True)
        row = Meta.get_or_none(Meta.key == "schema_version")
        current = int(row.value) if row else 0
        if current > SCHEMA_VERSION:
            raise StorageError(
                f"database schema version {current} is newer than this mailflow "
                f"({SCHEMA_VERSION}); upgrade mailflow"
            )
        for version in range(current + 1, SCHEMA_VERSION + 1):
            if version in MIGRATIONS:
                MIGRATIONS[version](db)
        Meta.insert(key="schema_version", value=str(SCHEMA_VERSION)).on_conflict(
            conflict_target=[Meta.key], update={Meta.value: str(SCHEMA_VERSION)}
        ).execute()
    return SCHEMA_VERSION


class LockBusy(Exception):
    """Another writer holds the write lock (only raised when asked not to wait)."""


class WriteLock:
    """Writers take turns here rather than in SQLite's busy handler.

    SQLite's handler sleeps in growing steps (up to 100 ms) while another connection writes, so
    the sending process would lose tens of milliseconds behind every group the ingest commits.
    Threads of one process queue on an RLock; processes (the daemon, its sending process, CLI
    commands) on flock(2) of ``<database>.lock``, polled every half millisecond up to the busy
    timeout. The file is opened once per process: a forked child must not share its parent's
    open file, or the two would hold one lock between them. PostgreSQL needs none of this.
    """

    POLL_SECONDS = 0.0005

    def __init__(self, path: Path | None, timeout: float) -> None:
        self.path = path
        self.timeout = timeout
        self._threads = threading.RLock()
        self._depth = 0
        self._fd: int | None = None
        self._pid = 0

    @contextmanager
    def held(self, wait: bool = True) -> Iterator[None]:
        """Hold the write lock (re-entrant within a thread); LockBusy if taken and not ``wait``."""
        if not self._threads.acquire(blocking=wait):
            raise LockBusy
        try:
            self._depth += 1
            try:
                if self._depth == 1:
                    self._acquire(wait)
                try:
                    yield
                finally:
                    if self._depth == 1:
                        self._release()
            finally:
                self._depth -= 1
        finally:
            self._threads.release()

    def _acquire(self, wait: bool) -> None:
        if self.path is None:
            return
        if self._pid != os.getpid():
            try:
                self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            except OSError as exc:
                raise StorageError(f"cannot open lock file {self.path}: {exc}") from exc
            self._pid = os.getpid()
        assert self._fd is not None
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                if not wait:
                    raise LockBusy from None
                if time.monotonic() > deadline:
                    raise StorageError(
                        f"database: still locked by another writer after {self.timeout:.0f} s"
                    ) from None
                time.sleep(self.POLL_SECONDS)

    def _release(self) -> None:
        if self._fd is not None and self._pid == os.getpid():
            fcntl.flock(self._fd, fcntl.LOCK_UN)


_LOCKS: weakref.WeakKeyDictionary[pw.Database, WriteLock] = weakref.WeakKeyDictionary()


def sqlite_file(db: pw.Database) -> Path | None:
    """The database file, for a file-backed SQLite database."""
    lock = _LOCKS.get(db)
    return lock.path.with_suffix("") if lock is not None and lock.path is not None else None


@contextmanager
def transaction(db: pw.Database, wait: bool = True) -> Iterator[None]:
    """One write transaction; database trouble becomes a StorageError (retry later).

    ``wait=False``: raise LockBusy at once if another writer is at work.
    """
    lock = _LOCKS.get(db)
    if lock is None:
        lock = _LOCKS.setdefault(db, WriteLock(None, 0))
    try:
        with lock.held(wait), db.atomic():
            yield
    except (pw.OperationalError, pw.InterfaceError) as exc:
        raise StorageError(f"database: {exc}") from exc


_DEFAULTS: dict[type[BaseModel], list[tuple[str, Any]]] = {}
_INSERT_SQL: dict[tuple[type[BaseModel], tuple[str, ...]], tuple[str, list[pw.Field]]] = {}


def insert_row(model: type[BaseModel], **values: Any) -> int:
    """INSERT one row and return its id, through a statement built once per column set.

    peewee builds every query anew, which costs ten times what executing it does; the hot
    path (several rows per mail) uses this instead. Python-side defaults are applied as
    ``Model.create`` would, and values go through each field's ``db_value``.
    """
    meta = model._meta
    defaults = _DEFAULTS.get(model)
    if defaults is None:
        defaults = _DEFAULTS[model] = [
            (name, field.default)
            for name, field in meta.fields.items()
            if field.default is not None
        ]
    for name, default in defaults:
        if name not in values:
            values[name] = default() if callable(default) else default
    key = (model, tuple(values))
    cached = _INSERT_SQL.get(key)
    db = database_proxy.obj
    if cached is None:
        fields = [meta.fields[name] for name in values]
        quote = db.quote_char if hasattr(db, "quote_char") else '"'
        columns = ", ".join(f"{quote}{f.column_name}{quote}" for f in fields)
        marks = ", ".join([db.param] * len(fields))
        sql = f"INSERT INTO {quote}{meta.table_name}{quote} ({columns}) VALUES ({marks})"
        if not isinstance(db, pw.SqliteDatabase):
            sql += f" RETURNING {quote}{model.id.column_name}{quote}"
        cached = _INSERT_SQL[key] = (sql, fields)
    sql, fields = cached
    params = [f.db_value(v) for f, v in zip(fields, values.values(), strict=True)]  # type: ignore[no-untyped-call]
    cursor = db.execute_sql(sql, params)
    if isinstance(db, pw.SqliteDatabase):
        return int(cursor.lastrowid)
    return int(cursor.fetchone()[0])


def create_row(model: type[M], **values: Any) -> M:
    """``Model.create`` through ``insert_row``: the instance, with its id."""
    instance = model(**values)
    instance.id = insert_row(model, **values)
    return instance


def value_exists(field: pw.Field, value: Any) -> bool:
    """Whether any row has ``value`` in ``field`` (an indexed column), cheaply."""
    db, q, table = _table_of(field)
    sql = f"SELECT 1 FROM {table} WHERE {q}{field.column_name}{q} = {db.param} LIMIT 1"
    return db.execute_sql(sql, [field.db_value(value)]).fetchone() is not None  # type: ignore[no-untyped-call]


def count_since(key: pw.Field, value: Any, at: pw.Field, since: dt.datetime) -> int:
    """Rows whose ``key`` is ``value`` and whose ``at`` is ``since`` or later (one index seek)."""
    db, q, table = _table_of(key)
    sql = (
        f"SELECT COUNT(*) FROM {table} WHERE {q}{key.column_name}{q} = {db.param} "
        f"AND {q}{at.column_name}{q} >= {db.param}"
    )
    params = [key.db_value(value), at.db_value(utc(since))]  # type: ignore[no-untyped-call]
    return int(db.execute_sql(sql, params).fetchone()[0])  # type: ignore[no-untyped-call]


def _table_of(field: pw.Field) -> tuple[pw.Database, str, str]:
    """The bound database, its identifier quote and the quoted table of ``field``."""
    db = database_proxy.obj
    quote = db.quote_char if hasattr(db, "quote_char") else '"'
    return db, quote, f"{quote}{field.model._meta.table_name}{quote}"


def add_event(ticket: Ticket | int, at: dt.datetime, actor: str, kind: str, **data: Any) -> None:
    """Record one change on a ticket (given as a row or its id)."""
    insert_row(Event, ticket=ticket, at=utc(at), actor=actor, kind=kind, data=data)
