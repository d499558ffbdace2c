"""The daemon's loop: one pass reads the mailbox, runs the periodic jobs that are due and
delivers the outbox; ``run`` repeats it until a signal asks it to stop, waking for the next poll
or the next job, whichever comes first.

Following huey and rq: ``run_once(now)`` is the testable unit; ``run --once`` is a single call.
Signals only set a flag: the first SIGTERM/SIGINT finishes the mail in hand, a second one ends
the process at once with the signal's own default action (safe: every step is crash-safe, see
DESIGN.md), never by raising inside whatever code the signal interrupted. Each boundary has its
own error handling: one mail failing is quarantined and the loop goes on; a mailbox or SMTP
server failing backs off (capped, exponential) without blocking the other.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import random
import signal
import threading
import time
from collections.abc import Callable, Sequence
from types import FrameType

import peewee as pw

from mailflow.backoff import Backoff
from mailflow.daemon.ingest import IngestPass
from mailflow.daemon.jobs import Jobs
from mailflow.daemon.outage import Outage
from mailflow.daemon.report import CycleReport, status_line
from mailflow.daemon.systemd import Notifier
from mailflow.daemon.waiting import wait_for_any
from mailflow.daemon.wiring import Clock, system_clock
from mailflow.delivery.delivery import Delivery
from mailflow.delivery.outbox import FlushResult
from mailflow.delivery.sender import SenderProcess
from mailflow.delivery.transports import Transport
from mailflow.errors import (
    DatabaseError,
    MailboxAuthError,
    MailboxError,
    SenderGone,
    StorageError,
)
from mailflow.process.closing import close_silent
from mailflow.process.service_levels import backfill, sweep
from mailflow.reports.charts import ChartError
from mailflow.reports.sending import send_due
from mailflow.services import Services
from mailflow.sla.alarms import alarm_once
from mailflow.sla.days import CalendarGap
from mailflow.sla.timers import calendar_horizon
from mailflow.sources import Mailbox
from mailflow.store.database import drop_broken, ping, transaction

log = logging.getLogger(__name__)

CLOSE_SILENT_SECONDS = 60
OUTBOX_RETRY_SECONDS = 15
CALENDAR_CHECK_SECONDS = 6 * 3600
REPORTS_SECONDS = 300  # a report is due once a week or month: looking every 5 minutes is plenty
BACKFILL_SECONDS = 86400  # at start: tickets stored before service levels get their clocks
JOB_BUDGET_SECONDS = 0.5  # between two polls, jobs start only within this much time
# The database went away (peewee's errors where a query ran outside ``transaction``).
DATABASE_TROUBLE = (DatabaseError, pw.OperationalError, pw.InterfaceError)


class Worker:
    """Polls the mailboxes, handles their mail, delivers the outbox from a sending process."""

    def __init__(
        self,
        services: Services,
        mailbox: Mailbox | Sequence[Mailbox],
        transport: Transport,
        clock: Clock = system_clock,
        rng: random.Random | None = None,
        startup_check: Callable[[], None] | None = None,
    ) -> None:
        """``mailbox``: one, or one per ``config.desks`` in their order. ``startup_check``
        (picklable) runs once, in the sending process while the mailbox is read; nothing is
        recorded before it passed, and what it raises stops the first pass."""
        self.services = services
        self.clock = clock
        self.rng = rng or random.Random()
        self.stopping = threading.Event()
        self.stop_reason = ""
        self._startup_check = startup_check
        self._startup_asked = False
        self.delivery = Delivery(services, transport, self.rng)
        self.sender = SenderProcess(self.delivery)
        self._sending = False  # the sender is in a pass
        boxes = [mailbox] if not isinstance(mailbox, Sequence) else list(mailbox)
        self.ingests = [
            IngestPass(services, box, self.stopping, self._startup_checked, self._wake_sender, desk)
            for box, desk in zip(boxes, services.config.desks, strict=True)
        ]
        self.ingest = self.ingests[0]
        self._next_poll: dt.datetime | None = None
        self._report = CycleReport()
        self.database = Outage("database")
        self.jobs = Jobs(
            expected=(StorageError, pw.OperationalError, pw.InterfaceError),
            on_expected=self._job_failed,
        )
        self.jobs.every(services.config.sla.sweep_seconds, "sla_sweep", self._sweep)
        self.jobs.every(CLOSE_SILENT_SECONDS, "close_silent", self._close_silent)
        self.jobs.every(OUTBOX_RETRY_SECONDS, "outbox_retry", self._start_sender)
        self.jobs.every(CALENDAR_CHECK_SECONDS, "calendar_check", self._check_calendar)
        self.jobs.every(BACKFILL_SECONDS, "sla_backfill", self._backfill)
        self.jobs.every(REPORTS_SECONDS, "reports", self._reports)

    @property
    def mailbox(self) -> Mailbox:
        return self.ingest.mailbox

    @property
    def mailbox_backoff(self) -> Backoff:
        """The first mailbox's backoff (with one mailbox: the mailbox's)."""
        return self.ingest.backoff

    @property
    def smtp_backoff(self) -> Backoff:
        return self.delivery.backoff

    # -- one pass ---------------------------------------------------------------------------

    def run_once(
        self, now: dt.datetime | None = None, poll: bool = True, budget: float | None = None
    ) -> CycleReport:
        """Poll the mailbox (unless ``poll`` is false), run the jobs due at ``now`` (within
        ``budget`` seconds, if given), deliver the outbox."""
        now = now or self.clock()
        report = self._report = CycleReport()
        started = time.perf_counter()
        ping(self.services.db)
        # Both fork; the sender first, so that on the first pass neither copies a thread
        # (the worker pool keeps a thread of its own).
        if self._startup_check is not None and not self._startup_asked:
            self.sender.call(self._startup_check)
            self._startup_asked = True
        if poll:
            self._start_sender(now)  # acknowledgements leave while later mail is read
            for ingest in self.ingests:
                if ingest.backoff.ready(now):
                    self._ingest(ingest, now, report)
        self._startup_checked()
        for name in self.jobs.run_due(now, budget):
            report.errors.append(f"job {name} failed (see the log)")
        report.poll_seconds = time.perf_counter() - started
        if self._sending:
            self._sending = False
            try:
                result = self.sender.finish()
                self.database.recovered(now)
            except DATABASE_TROUBLE as exc:
                self._database_failed(now, exc, "mails stay queued")
                result = FlushResult()
            self.delivery.note(now, result)
            report.sent += result.sent
            if result.unreachable:
                report.errors.append(result.unreachable)
        report.seconds = time.perf_counter() - started
        return report

    def _ingest(self, ingest: IngestPass, now: dt.datetime, report: CycleReport) -> None:
        try:
            ingest.run(now, report)
            ingest.backoff.succeeded()
            self.database.recovered(now)
        except DATABASE_TROUBLE as exc:
            ingest.mailbox.close()
            delay = ingest.backoff.failed(now, self.rng.random())
            report.errors.append(f"database unavailable, mail left in mailbox: {exc}")
            self._database_failed(now, exc, f"mail stays in the mailbox, next try in {delay:.0f} s")
        except MailboxAuthError as exc:
            self._mailbox_failed(ingest, now, report, f"mailbox login refused: {exc}")
        except MailboxError as exc:
            self._mailbox_failed(ingest, now, report, f"mailbox unavailable: {exc}")
        except StorageError as exc:
            self._mailbox_failed(
                ingest, now, report, f"storage problem, mail left in mailbox: {exc}"
            )

    def _database_failed(self, now: dt.datetime, exc: Exception, then: str) -> None:
        drop_broken(self.services.db)
        self.database.failed(now, exc, then)

    def _job_failed(self, name: str, exc: Exception) -> None:
        if isinstance(exc, DATABASE_TROUBLE):
            self._database_failed(self.jobs.now, exc, f"job {name} runs again later")
        else:
            log.error("job %s failed: %s; it runs again later", name, exc)

    # -- the periodic jobs -----------------------------------------------------------------

    def _start_sender(self, now: dt.datetime) -> None:
        """Begin a delivery pass (it also sends what earlier passes queued and retries)."""
        if self._sending:
            self.sender.wake()
        elif self.delivery.backoff.ready(now):
            self.sender.begin(now)
            self._sending = True

    def _sweep(self, now: dt.datetime) -> None:
        fired = sweep(now, self.services)
        self._report.sla_notices += len(fired)
        if fired:
            self._start_sender(now)

    def _check_calendar(self, now: dt.datetime) -> None:
        """A year without holiday data that deadlines set now reach: logged and mailed to the
        operators once (the mail is an Alarm row; the log line comes every check)."""
        try:
            calendar_horizon(self.services.config, now)
        except CalendarGap as gap:
            log.error("calendar: %s; deadlines reaching it are counted by weekday alone", gap)
            with transaction(self.services.db):
                raised = alarm_once(
                    f"calendar-gap-{gap.year}",
                    "calendar_gap",
                    {"years": [gap.year], "detail": "Found by the daemon's calendar check."},
                    now,
                    self.services,
                )
            if raised:
                self._start_sender(now)

    def _reports(self, now: dt.datetime) -> None:
        try:
            sent = send_due(now, self.services)
        except ChartError as exc:
            log.error("reports: %s", exc)
            with transaction(self.services.db):
                alarm_once(
                    "report-font",
                    "report_font",
                    {"years": [], "detail": str(exc)},
                    now,
                    self.services,
                )
            self._start_sender(now)
            return
        if sent:
            self._start_sender(now)

    def _backfill(self, now: dt.datetime) -> None:
        count = backfill(now, self.services)
        if count:
            log.info("service levels: clocks set for %d open tickets that had none", count)

    def _close_silent(self, now: dt.datetime) -> None:
        closed = close_silent(now, self.services)
        for number in closed:
            log.info("%s closed: no answer after resolution", number)
        if closed:
            self._start_sender(now)

    def _mailbox_failed(
        self, ingest: IngestPass, now: dt.datetime, report: CycleReport, why: str
    ) -> None:
        ingest.mailbox.close()
        delay = ingest.backoff.failed(now, self.rng.random())
        if len(self.ingests) > 1:
            why = f"{ingest.desk.address}: {why}"
        report.errors.append(why)
        log.error("%s; retrying in %.0f s", why, delay)

    def _wake_sender(self) -> None:
        if self._sending:
            self.sender.wake()

    def _startup_checked(self) -> None:
        """Wait for the start-up check; raise what it raised."""
        if self._startup_check is None:
            return
        check, self._startup_check = self._startup_check, None
        try:
            self.sender.called()
        except SenderGone:
            check()  # here, then

    # -- the loop ---------------------------------------------------------------------------

    def install_signal_handlers(self) -> None:
        """SIGTERM/SIGINT: finish the mail in hand and stop; a second one ends it at once."""

        def on_signal(signum: int, _frame: FrameType | None) -> None:
            name = signal.Signals(signum).name
            if self.stopping.is_set():
                log.warning("second %s: stopping now", name)
                signal.signal(signum, signal.SIG_DFL)
                os.kill(os.getpid(), signum)
                return
            log.info("%s received: stopping after the mail in hand", name)
            self.stop_reason = f"{name} received"
            self.stopping.set()

        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)

    def stop(self, reason: str) -> None:
        """Ask the loop to stop after the mail in hand."""
        self.stop_reason = reason
        self.stopping.set()

    def run(self, notifier: Notifier | None = None) -> str:
        """Loop until stopped; return why it stopped. ``notifier`` tells systemd (readiness
        after the first pass, the watchdog fed once per turn, a status line)."""
        notify = notifier or Notifier()
        poll = min(desk.poll_seconds for desk in self.services.config.desks)
        idling = any(getattr(i.mailbox, "idle", False) for i in self.ingests)
        how = "IMAP IDLE where offered, else polling" if idling else "polling"
        log.info("mailflow running: %s every %d s", how, poll)
        turns = 0
        try:
            while not self.stopping.is_set():
                now = self.clock()
                polling = self._poll_due(now)
                report = self.run_once(now, poll=polling, budget=JOB_BUDGET_SECONDS)
                if polling:
                    self._next_poll = now + dt.timedelta(seconds=poll)
                (notify.ready if turns == 0 else notify.status)(status_line(now, report))
                notify.watchdog()
                turns += 1
                self._wait()
        finally:
            notify.stopping()
            self.close()
        return self.stop_reason or "stopped"

    def close(self) -> None:
        """Drop the connections and stop the child processes."""
        self.sender.close()
        for ingest in self.ingests:
            ingest.close()
        self.delivery.close()

    def _wait(self) -> None:
        """Until the next poll or job; with IDLE, until a server says mail arrived (then the
        next pass reads the mailboxes at once, whatever ``poll_seconds`` says)."""
        now = self.clock()
        seconds = self._sleep_seconds()
        idlers = [
            i.mailbox.wait_for_mail  # type: ignore[attr-defined]
            for i in self.ingests
            if getattr(i.mailbox, "idle", False) and i.backoff.ready(now)
        ]
        if len(idlers) == len(self.ingests):
            # Every mailbox says itself when mail arrives: the poll is only the fallback, and
            # the wait lasts until the next job.
            next_job = self.jobs.next_due()
            if next_job is not None:
                seconds = max(0.2, (next_job - now).total_seconds())
        if wait_for_any(idlers, seconds, self.stopping):
            self._next_poll = self.clock()

    def _failing(self) -> list[dt.datetime]:
        """When the mailboxes that failed may be tried again."""
        return [i.backoff.not_before for i in self.ingests if i.backoff.not_before is not None]

    def _poll_due(self, now: dt.datetime) -> bool:
        """A mailbox that failed is tried again when its backoff ends; the others at the poll
        (none, while every mailbox is failing)."""
        failing = self._failing()
        if any(now >= moment for moment in failing):
            return True
        if len(failing) == len(self.ingests):
            return False
        return self._next_poll is None or now >= self._next_poll

    def _sleep_seconds(self) -> float:
        """Until the next poll or job, or sooner when a backing-off server becomes due."""
        now = self.clock()
        failing = self._failing()
        # While every mailbox is failing, their retries replace the poll.
        moments = [None if len(failing) == len(self.ingests) else self._next_poll]
        moments += [self.jobs.next_due(), *failing, self.delivery.backoff.not_before]
        waits = [(m - now).total_seconds() for m in moments if m is not None]
        return max(0.2, min(waits, default=1.0))
