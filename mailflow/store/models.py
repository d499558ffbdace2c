"""The tables: tickets, their mails, events, the outbox, and the bookkeeping of intake.

Models are bound late to a ``DatabaseProxy`` (huey's pattern), so the same code serves SQLite (the
embedded default) and PostgreSQL. Nothing here is SQLite-only: JSON is stored as text, blobs as
``BlobField``, and every timestamp is naive UTC (converted to the support time zone only for
display), because SQLite and PostgreSQL disagree about time zones in columns.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import TYPE_CHECKING, Any

import peewee as pw

database_proxy = pw.DatabaseProxy()


def utc(moment: dt.datetime) -> dt.datetime:
    """The naive-UTC form we store; naive input is taken to be UTC already."""
    if moment.tzinfo is None:
        return moment
    return moment.astimezone(dt.UTC).replace(tzinfo=None)


def aware(moment: dt.datetime) -> dt.datetime:
    """Attach UTC to a stored naive timestamp."""
    return moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment


def iso(moment: dt.datetime | None, tz: dt.tzinfo) -> str | None:
    """A stored timestamp as ISO 8601 with the support time zone's offset."""
    return None if moment is None else aware(moment).astimezone(tz).isoformat(timespec="seconds")


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
        timers: pw.ModelSelect[SlaTimer]

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
    mailbox = pw.CharField(max_length=320, default="")  # the desk's address it arrived at
    language = pw.CharField(max_length=8)
    submitted_at = pw.DateTimeField(index=True)  # when the request reached the mailbox (提交时间)
    created_at = pw.DateTimeField(index=True)
    updated_at = pw.DateTimeField()
    # Service-level deadlines (sla.timers keeps them): the current one of each clock; resolve_by
    # is empty while the clock is paused, update_by while there is no update interval.
    respond_by = pw.DateTimeField(null=True, index=True)
    resolve_by = pw.DateTimeField(null=True, index=True)
    update_by = pw.DateTimeField(null=True, index=True)
    sla = JSONField(default=dict)  # targets in force and what the deadlines were computed from
    # Indexed for the reports, which ask what happened between two moments.
    first_response_at = pw.DateTimeField(null=True, index=True)
    resolved_at = pw.DateTimeField(null=True, index=True)
    closed_at = pw.DateTimeField(null=True, index=True)
    rating = pw.IntegerField(null=True)  # 4 非常满意 … 1 不满意 (confirm.RATINGS)
    rating_comment = pw.TextField(default="")
    rated_at = pw.DateTimeField(null=True, index=True)


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


class SlaTimer(BaseModel):
    """A service-level notice to fire at ``due_at``: one per ticket, clock, level and deadline.

    The unique key is what makes each notice exactly-once: a deadline that moves gets new rows,
    an unchanged one keeps its row, and ``done_at`` is set in the transaction that queues the
    mail, by an UPDATE that only one daemon can win.
    """

    if TYPE_CHECKING:
        ticket_id: int

    ticket = pw.ForeignKeyField(Ticket, backref="timers", on_delete="CASCADE")
    clock = pw.CharField(max_length=16)  # respond | resolve | update
    level = pw.CharField(max_length=16)  # warning | breach | second_level
    deadline = pw.DateTimeField()
    due_at = pw.DateTimeField()
    business = pw.BooleanField(default=False)  # notices wait for working hours
    done_at = pw.DateTimeField(null=True)
    outcome = pw.CharField(max_length=32, default="")  # sent | superseded

    class Meta:
        indexes = (
            (("ticket", "clock", "level", "deadline"), True),
            (("done_at", "due_at"), False),  # the sweep: what is pending and due
        )


class Alarm(BaseModel):
    """A condition the operators were mailed about, once (e.g. a year without holiday data)."""

    key = pw.CharField(max_length=255, unique=True)
    at = pw.DateTimeField()
    detail = pw.TextField(default="")


class ReportSent(BaseModel):
    """A scheduled report that went out: one row per kind and period, written with its outbox
    row, so each report is sent once whatever restarts or how many daemons run."""

    key = pw.CharField(max_length=64, unique=True)  # "weekly:2026-W49", "monthly:2026-12"
    at = pw.DateTimeField()
    recipients = JSONField(default=list)


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
    # A large mail (a forwarded file) is in the blob store under this digest instead of
    # ``mime``: the database never holds, copies and caches many megabytes in one row.
    mime_sha256 = pw.CharField(max_length=64, default="")
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
    SlaTimer,
    Alarm,
    ReportSent,
]
