"""The worker: one iteration polls, handles, flushes; ``run`` is a small loop around it.

Following huey and rq: ``run_once(now)`` is the testable unit; ``run --once`` is a single call;
signals only set flags (the first SIGTERM/SIGINT finishes the mail in hand, a second one stops at
once); each boundary has its own error handling: one mail failing is quarantined and the loop goes
on, a mailbox or SMTP server failing backs off (capped, exponential) without blocking the other.
"""

from __future__ import annotations

import datetime as dt
import logging
import random
import secrets
import signal
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from types import FrameType
from typing import Any

import peewee as pw

from mailflow.config import Config
from mailflow.delivery import outbox
from mailflow.delivery.journal import SentJournal
from mailflow.delivery.outbox import RetryPolicy
from mailflow.delivery.rendering import Renderer
from mailflow.delivery.sender import SenderProcess
from mailflow.delivery.transports import MaildirTransport, SmtpTransport, Transport
from mailflow.errors import MailboxAuthError, MailboxError, SenderGone, StorageError
from mailflow.pipeline.handling import Outcome, attachment_limits, handle_prepared
from mailflow.pipeline.preparing import Batch, Preparer, auto_workers
from mailflow.process.confirmation import close_silent
from mailflow.services import Services
from mailflow.sources import Mailbox, Planned
from mailflow.sources.imap import ImapSource
from mailflow.sources.maildir import MaildirSource
from mailflow.store.blobs import BlobStore
from mailflow.store.database import open_database, sqlite_file, transaction
from mailflow.store.models import Receipt
from mailflow.store.schema import init_schema

log = logging.getLogger(__name__)

Clock = Callable[[], dt.datetime]

# Mails committed together (group commit): one fsync per group rather than per mail, and a
# group small enough that a stop request or a crash costs little. (Its bytes are bounded by the
# mailbox's batches, at most 16 MB.)
GROUP_MAILS = 25
FIRST_GROUP_MAILS = 5
# Recorded mails are marked done in the mailbox this many at a time (and at the end of a pass):
# until then a crash only means marking them again, which receipts make harmless.
ACK_MAILS = 100


def system_clock() -> dt.datetime:
    """Now, in UTC."""
    return dt.datetime.now(dt.UTC)


@dataclass
class Backoff:
    """Capped exponential backoff for one server."""

    base: float = 5.0
    cap: float = 300.0
    failures: int = 0
    not_before: dt.datetime | None = None

    def ready(self, now: dt.datetime) -> bool:
        return self.not_before is None or now >= self.not_before

    def failed(self, now: dt.datetime, jitter: float) -> float:
        self.failures += 1
        delay = min(self.cap, self.base * 2 ** (self.failures - 1)) * (0.75 + 0.5 * jitter)
        self.not_before = now + dt.timedelta(seconds=delay)
        return float(delay)

    def succeeded(self) -> None:
        self.failures = 0
        self.not_before = None


@dataclass
class CycleReport:
    handled: list[Outcome] = field(default_factory=list)
    sent: int = 0
    errors: list[str] = field(default_factory=list)
    poll_seconds: float = 0.0  # measured durations, for the log line and the benchmark
    seconds: float = 0.0


def build_mailbox(config: Config, environ: dict[str, str] | Any) -> Mailbox:
    """The configured mail source."""
    mb = config.mailbox
    if mb.kind == "imap":
        return ImapSource(
            mb.host,
            mb.port,
            mb.security,
            mb.username,
            lambda: mb.password.resolve(environ),
            mb.folder,
            mb.processed_folder,
            mb.quarantine_folder,
            mb.ca_file,
            mb.timeout_seconds,
            mb.first_run,
            mb.first_run_since,
            config.support.tz,
        )
    return MaildirSource(
        mb.path,
        mb.processed_folder,
        mb.quarantine_folder,
        mb.first_run,
        mb.first_run_since,
        config.support.tz,
    )


def build_transport(config: Config, environ: dict[str, str] | Any) -> Transport:
    """The configured outgoing transport."""
    smtp = config.smtp
    if smtp.kind == "smtp":
        return SmtpTransport(
            smtp.host,
            smtp.port,
            smtp.security,
            smtp.username,
            lambda: smtp.password.resolve(environ),
            smtp.ca_file,
            smtp.timeout_seconds,
        )
    return MaildirTransport(smtp.path)


def open_services(config: Config, token: Callable[[], str] | None = None) -> Services:
    """Open the database (creating or upgrading the schema) and the stores."""
    db = open_database(config.database_url, config.database_busy_seconds)
    init_schema(db)
    renderer = Renderer(config.templates_path, config.support.tz)
    return Services(
        config,
        db,
        BlobStore(config.storage_path),
        renderer,
        token or (lambda: secrets.token_hex(8)),
    )


class Worker:
    """Polls one mailbox, handles its mail, flushes the outbox."""

    def __init__(
        self,
        services: Services,
        mailbox: Mailbox,
        transport: Transport,
        clock: Clock = system_clock,
        rng: random.Random | None = None,
        startup_check: Callable[[], None] | None = None,
    ) -> None:
        """``startup_check`` (picklable) runs once, in the sending process while the mailbox is
        read; nothing is recorded before it passed, and what it raises stops the first pass."""
        self.services = services
        self._startup_check = startup_check
        self._startup_asked = False
        self.mailbox = mailbox
        self.transport = transport
        self.clock = clock
        self.rng = rng or random.Random()
        smtp = services.config.smtp
        self.retry = RetryPolicy(smtp.max_attempts, smtp.retry_base_seconds, smtp.retry_max_seconds)
        self.mailbox_backoff = Backoff()
        self.smtp_backoff = Backoff()
        self.stopping = threading.Event()
        database_file = sqlite_file(services.db)
        self.journal = SentJournal(database_file) if database_file is not None else None
        self.sender = SenderProcess(
            services.db,
            lambda now: self._flush_outbox(now, last=False),
            lambda: outbox.end_delivery(self.db, self.transport, self.journal),
        )
        self._sending = False  # the sender is in a pass
        self._unacked: list[str] = []  # recorded, the mailbox not told yet
        self._aside: list[str] = []  # of those, the quarantined ones
        self._acked: list[str] = []  # told to the mailbox, not yet recorded
        self.preparer = Preparer(
            services.store,
            attachment_limits(services.config),
            auto_workers(services.config.parse_workers),
        )

    @property
    def db(self) -> pw.Database:
        return self.services.db

    # -- one iteration ----------------------------------------------------------------------

    def run_once(self, now: dt.datetime | None = None) -> CycleReport:
        """Poll once, handle what is waiting, flush the outbox."""
        now = now or self.clock()
        report = CycleReport()
        started = time.perf_counter()
        # Both fork; the sender first, so that on the first pass neither copies a thread
        # (the worker pool keeps a thread of its own).
        if self._startup_check is not None and not self._startup_asked:
            self.sender.call(self._startup_check)
            self._startup_asked = True
        if self.smtp_backoff.ready(now):
            self.sender.begin(now)  # also sends mail queued by an earlier pass
            self._sending = True
        if self.mailbox_backoff.ready(now):
            self.preparer.start()
            try:
                self._poll(now, report)
                self.mailbox_backoff.succeeded()
            except MailboxAuthError as exc:
                self._mailbox_failed(now, report, f"mailbox login refused: {exc}")
            except MailboxError as exc:
                self._mailbox_failed(now, report, f"mailbox unavailable: {exc}")
            except StorageError as exc:
                self._mailbox_failed(now, report, f"storage problem, mail left in mailbox: {exc}")
            except (pw.OperationalError, pw.InterfaceError) as exc:
                self._mailbox_failed(
                    now, report, f"storage problem, mail left in mailbox: database: {exc}"
                )
        try:
            for number in close_silent(now, self.services):
                log.info("%s closed: no answer after resolution", number)
        except StorageError as exc:
            report.errors.append(f"closing silent tickets: {exc}")
        self._startup_checked()
        report.poll_seconds = time.perf_counter() - started
        if self._sending:
            self._sending = False
            self._record_flush(now, self.sender.finish(), report)
        report.seconds = time.perf_counter() - started
        return report

    def _mailbox_failed(self, now: dt.datetime, report: CycleReport, why: str) -> None:
        self.mailbox.close()
        delay = self.mailbox_backoff.failed(now, self.rng.random())
        report.errors.append(why)
        log.error("%s; retrying in %.0f s", why, delay)

    def _poll(self, now: dt.datetime, report: CycleReport) -> None:
        """Read, prepare and record the waiting mail as a pipeline.

        The mailbox plans the batches; each group of mails is read and prepared by a parse
        worker (over its own connection, so the bytes go from the server straight to the
        process that parses them) while the main process records the groups before it in
        the database. Without workers this is the plain sequence read, prepare, record.
        """
        # Anything left from a pass that failed half-way is in the receipts, acked=False.
        self._unacked, self._aside = [], []
        self._ack_pending()
        plan = self.mailbox.plan(now)
        if not plan:
            return
        reader = self.mailbox.reader()
        depth = self.preparer.workers + 1 if self.preparer.workers else 0
        in_flight: deque[Batch] = deque()
        try:
            for group in _groups(plan):
                in_flight.append(self.preparer.submit(reader, group))
                while len(in_flight) > depth and not self.stopping.is_set():
                    self._handle_batch(in_flight.popleft(), now, report)
                if self.stopping.is_set():
                    self._handle_batch(in_flight.popleft(), now, report)
                    self._ack_handled()
                    self._record_acked()
                    log.info("stop requested: finished the mail in hand, leaving the rest")
                    return
            while in_flight and not self.stopping.is_set():
                self._handle_batch(in_flight.popleft(), now, report)
            self._ack_handled()
            self._record_acked()
        finally:
            for left in in_flight:  # left in the mailbox, read again next time
                left.cancel()

    def _startup_checked(self) -> None:
        """Wait for the start-up check; raise what it raised."""
        if self._startup_check is None:
            return
        check, self._startup_check = self._startup_check, None
        try:
            self.sender.called()
        except SenderGone:
            check()  # here, then

    def _handle_batch(self, batch: Batch, now: dt.datetime, report: CycleReport) -> None:
        self._startup_checked()
        prepared = batch.result()
        group = [item.raw for item in prepared]
        outcomes = handle_prepared(
            prepared, now, self.services, self.stopping.is_set, self._note_acked
        )
        for raw, outcome in zip(group, outcomes, strict=False):
            _log_outcome(raw.label, outcome)
        report.handled.extend(outcomes)
        if self._sending:
            self.sender.wake()
        self._unacked += [raw.source_ref for raw in group[: len(outcomes)] if raw.source_ref]
        self._aside += [
            raw.source_ref
            for raw, outcome in zip(group, outcomes, strict=False)
            if raw.source_ref and outcome.action == "quarantined"
        ]
        if len(self._unacked) >= ACK_MAILS:
            self._ack_handled()

    def _ack_handled(self) -> None:
        """Tell the mailbox about the mails recorded so far (one round trip for several groups)."""
        done, aside = self._unacked, self._aside
        self._unacked, self._aside = [], []
        self._ack(done, aside)

    def _ack(self, source_refs: list[str], quarantined: Sequence[str] = ()) -> None:
        """Tell the mailbox; remember in the next transaction that it was told.

        Until that is written, a crash only means telling the mailbox again (harmless), so it
        rides along with the next group's commit instead of costing a commit of its own.
        """
        if not source_refs:
            return
        self.mailbox.ack(source_refs, quarantined)
        self._acked.extend(source_refs)

    def _note_acked(self) -> None:
        """Inside a transaction: record the acknowledgements made so far."""
        if self._acked:
            Receipt.update(acked=True).where(Receipt.source_ref.in_(self._acked)).execute()
            self._acked = []

    def _record_acked(self) -> None:
        if self._acked:
            with transaction(self.db):
                self._note_acked()

    def _ack_pending(self) -> None:
        """Finish acknowledgements a previous run committed but did not get to send."""
        pending = [
            (r.source_ref, r.outcome)
            for r in Receipt.select(Receipt.source_ref, Receipt.outcome).where(
                Receipt.acked == False  # noqa: E712 - peewee expression
            )
            if self.mailbox.owns(r.source_ref)
        ]
        self._ack(
            [ref for ref, _ in pending],
            [ref for ref, outcome in pending if outcome == "quarantined"],
        )
        if pending:
            log.info(
                "marked %d mails handled in the mailbox that a previous run had stored",
                len(pending),
            )

    def flush(self, now: dt.datetime, report: CycleReport | None = None) -> outbox.FlushResult:
        """Send due outbox rows unless the SMTP server is backing off."""
        if not self.smtp_backoff.ready(now):
            return outbox.FlushResult()
        result = self._flush_outbox(now)
        self._record_flush(now, result, report)
        return result

    def _flush_outbox(self, now: dt.datetime, last: bool = True) -> outbox.FlushResult:
        return outbox.flush(
            self.db,
            self.transport,
            now,
            self.retry,
            self.rng.random,
            journal=self.journal,
            last=last,
        )

    def _record_flush(
        self, now: dt.datetime, result: outbox.FlushResult, report: CycleReport | None
    ) -> None:
        if result.unreachable:
            delay = self.smtp_backoff.failed(now, self.rng.random())
            log.error(
                "outgoing mail server unavailable: %s; %d mails queued; retrying in %.0f s",
                result.unreachable,
                outbox.pending_count(),
                delay,
            )
            if report is not None:
                report.errors.append(result.unreachable)
        else:
            self.smtp_backoff.succeeded()
        if report is not None:
            report.sent += result.sent

    # -- the loop ---------------------------------------------------------------------------

    def install_signal_handlers(self) -> None:
        """SIGTERM/SIGINT: finish the mail in hand and stop; a second one stops at once."""

        def on_signal(signum: int, _frame: FrameType | None) -> None:
            if self.stopping.is_set():
                log.warning("second %s: stopping now", signal.Signals(signum).name)
                raise SystemExit(1)
            log.info("%s received: stopping after the mail in hand", signal.Signals(signum).name)
            self.stopping.set()

        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)

    def run(self) -> str:
        """Loop until stopped; return why it stopped."""
        poll = self.services.config.mailbox.poll_seconds
        log.info("mailflow running: polling every %d s", poll)
        try:
            while not self.stopping.is_set():
                self.run_once(self.clock())
                self.stopping.wait(self._sleep_seconds(poll))
        finally:
            self.close()
        return "stop requested by signal"

    def close(self) -> None:
        """Drop the connections and stop the child processes."""
        self.sender.close()
        self.preparer.close()
        self.mailbox.close()
        self.transport.close()

    def _sleep_seconds(self, poll: int) -> float:
        """Until the next poll, or sooner when a backing-off server becomes due."""
        now = self.clock()
        wait = float(poll)
        if self.mailbox_backoff.not_before is not None:
            wait = max(1.0, (self.mailbox_backoff.not_before - now).total_seconds())
        if self.smtp_backoff.not_before is not None:
            wait = min(wait, max(1.0, (self.smtp_backoff.not_before - now).total_seconds()))
        return wait


def _groups(plan: list[list[Planned]]) -> Iterator[list[Planned]]:
    """The plan's batches cut into groups of GROUP_MAILS; the first group of a pass is small,
    so that the main process has something to record while the workers read the next ones."""
    first = True
    for batch in plan:
        start = 0
        while start < len(batch):
            size = FIRST_GROUP_MAILS if first else GROUP_MAILS
            yield batch[start : start + size]
            start += size
            first = False


def _log_outcome(label: str, outcome: Outcome) -> None:
    where = f" ({label})" if label else ""
    if outcome.action == "created":
        log.info("%s created from %s%s", outcome.ticket_number, outcome.sender, where)
    elif outcome.action == "followup":
        log.info("%s follow-up from %s%s", outcome.ticket_number, outcome.sender, where)
    elif outcome.action == "duplicate":
        log.info("duplicate from %s ignored%s: %s", outcome.sender, where, outcome.detail)
    elif outcome.action == "quarantined":
        log.warning("quarantined%s: %s", where, outcome.detail)
    else:
        log.info("%s%s: %s", outcome.action, where, outcome.detail)
