"""The daemon's loop: one pass reads the mailbox, runs the periodic work and delivers the outbox;
``run`` repeats it until a signal asks it to stop.

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
from collections.abc import Callable
from types import FrameType

import peewee as pw

from mailflow.backoff import Backoff
from mailflow.daemon.ingest import IngestPass
from mailflow.daemon.report import CycleReport
from mailflow.daemon.wiring import Clock, system_clock
from mailflow.delivery.delivery import Delivery
from mailflow.delivery.sender import SenderProcess
from mailflow.delivery.transports import Transport
from mailflow.errors import MailboxAuthError, MailboxError, SenderGone, StorageError
from mailflow.process.closing import close_silent
from mailflow.services import Services
from mailflow.sources import Mailbox

log = logging.getLogger(__name__)


class Worker:
    """Polls one mailbox, handles its mail, delivers the outbox from a sending process."""

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
        self.clock = clock
        self.rng = rng or random.Random()
        self.stopping = threading.Event()
        self.stop_reason = ""
        self._startup_check = startup_check
        self._startup_asked = False
        self.mailbox_backoff = Backoff()
        self.delivery = Delivery(services, transport, self.rng)
        self.sender = SenderProcess(self.delivery)
        self._sending = False  # the sender is in a pass
        self.ingest = IngestPass(
            services, mailbox, self.stopping, self._startup_checked, self._wake_sender
        )

    @property
    def mailbox(self) -> Mailbox:
        return self.ingest.mailbox

    @property
    def smtp_backoff(self) -> Backoff:
        return self.delivery.backoff

    # -- one pass ---------------------------------------------------------------------------

    def run_once(self, now: dt.datetime | None = None) -> CycleReport:
        """Poll once, handle what is waiting, run the periodic work, deliver the outbox."""
        now = now or self.clock()
        report = CycleReport()
        started = time.perf_counter()
        # Both fork; the sender first, so that on the first pass neither copies a thread
        # (the worker pool keeps a thread of its own).
        if self._startup_check is not None and not self._startup_asked:
            self.sender.call(self._startup_check)
            self._startup_asked = True
        if self.delivery.backoff.ready(now):
            self.sender.begin(now)  # also sends mail queued by an earlier pass
            self._sending = True
        if self.mailbox_backoff.ready(now):
            self._ingest(now, report)
        self._periodic(now, report)
        self._startup_checked()
        report.poll_seconds = time.perf_counter() - started
        if self._sending:
            self._sending = False
            result = self.sender.finish()
            self.delivery.note(now, result)
            report.sent += result.sent
            if result.unreachable:
                report.errors.append(result.unreachable)
        report.seconds = time.perf_counter() - started
        return report

    def _ingest(self, now: dt.datetime, report: CycleReport) -> None:
        try:
            self.ingest.run(now, report)
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

    def _periodic(self, now: dt.datetime, report: CycleReport) -> None:
        """What is due by the clock rather than by mail (closing silent resolved tickets)."""
        try:
            for number in close_silent(now, self.services):
                log.info("%s closed: no answer after resolution", number)
        except StorageError as exc:
            report.errors.append(f"closing silent tickets: {exc}")

    def _mailbox_failed(self, now: dt.datetime, report: CycleReport, why: str) -> None:
        self.mailbox.close()
        delay = self.mailbox_backoff.failed(now, self.rng.random())
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
        return self.stop_reason or "stopped"

    def close(self) -> None:
        """Drop the connections and stop the child processes."""
        self.sender.close()
        self.ingest.close()
        self.delivery.close()

    def _sleep_seconds(self, poll: int) -> float:
        """Until the next poll, or sooner when a backing-off server becomes due."""
        now = self.clock()
        wait = float(poll)
        if self.mailbox_backoff.not_before is not None:
            wait = max(1.0, (self.mailbox_backoff.not_before - now).total_seconds())
        smtp = self.delivery.backoff
        if smtp.not_before is not None:
            wait = min(wait, max(1.0, (smtp.not_before - now).total_seconds()))
        return wait
