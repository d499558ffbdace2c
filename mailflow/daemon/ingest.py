"""One ingest pass: the mailbox's waiting mail read, prepared and recorded as a pipeline, and the
mailbox told what is done.

The mailbox plans the batches; each group of mails is read and prepared by a parse worker (over
its own connection, so the bytes go from the server straight to the process that parses them)
while this process records the groups before it, one transaction per group. Recorded mails are
marked done in the mailbox in batches, and that they were is remembered with the next group's
commit (receipts make telling the mailbox twice harmless).
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections import deque
from collections.abc import Callable, Iterator, Sequence

from mailflow.backoff import Backoff
from mailflow.config import MailboxConfig
from mailflow.daemon.report import CycleReport
from mailflow.pipeline.handling import Outcome, attachment_limits, handle_prepared
from mailflow.pipeline.preparing import Batch, Preparer, auto_workers
from mailflow.services import Services
from mailflow.sources import Mailbox, Planned
from mailflow.store.database import sqlite_file, transaction
from mailflow.store.exclusive import exclusive
from mailflow.store.models import Receipt

log = logging.getLogger(__name__)

# Mails committed together (group commit): one fsync per group rather than per mail, and a
# group small enough that a stop request or a crash costs little. (Its bytes are bounded by the
# mailbox's batches, at most 16 MB.)
GROUP_MAILS = 25
FIRST_GROUP_MAILS = 5
# Recorded mails are marked done in the mailbox this many at a time (and at the end of a pass):
# until then a crash only means marking them again, which receipts make harmless.
ACK_MAILS = 100


class IngestPass:
    """Reads one mailbox into the database, group by group."""

    def __init__(
        self,
        services: Services,
        mailbox: Mailbox,
        stopping: threading.Event,
        before_group: Callable[[], None] = lambda: None,
        after_group: Callable[[], None] = lambda: None,
        desk: MailboxConfig | None = None,
    ) -> None:
        """``before_group`` runs before a group is recorded (the start-up check),
        ``after_group`` after it committed (waking the sender); ``desk``: the mailbox's
        settings (default: the config's first)."""
        self.services = services
        self.mailbox = mailbox
        self.desk = desk or services.config.mailbox
        self.backoff = Backoff()  # when to try this mailbox again after it failed
        self.stopping = stopping
        self.before_group = before_group
        self.after_group = after_group
        self.preparer = Preparer(
            services.store,
            attachment_limits(services.config),
            auto_workers(services.config.parse_workers),
        )
        self._unacked: list[str] = []  # recorded, the mailbox not told yet
        self._aside: list[str] = []  # of those, the quarantined ones
        self._acked: list[str] = []  # told to the mailbox, not yet recorded
        # One process reads a mailbox at a time: two would race for its mails and cursor.
        self.exclusive = exclusive(
            sqlite_file(services.db),
            "reading the mailbox",
            self.desk.identity,
            services.config.database_url,
        )

    def run(self, now: dt.datetime, report: CycleReport) -> None:
        """Read, prepare and record the waiting mail (see the module's docstring); nothing
        while another process reads this mailbox (it reads these mails too)."""
        if not self.exclusive.try_take():
            return
        try:
            self.preparer.start()
            self._poll(now, report)
        finally:
            self.exclusive.release()

    def _poll(self, now: dt.datetime, report: CycleReport) -> None:
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

    def _handle_batch(self, batch: Batch, now: dt.datetime, report: CycleReport) -> None:
        self.before_group()
        prepared = batch.result()
        group = [item.raw for item in prepared]
        outcomes = handle_prepared(
            prepared, now, self.services, self.stopping.is_set, self._note_acked, self.desk
        )
        for raw, outcome in zip(group, outcomes, strict=False):
            _log_outcome(raw.label, outcome)
        report.handled.extend(outcomes)
        self.after_group()
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
            with transaction(self.services.db):
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

    def close(self) -> None:
        """Stop the parse workers and drop the mailbox connection."""
        self.preparer.close()
        self.mailbox.close()


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
