"""The outbox's way out: a transport, the retry policy, the SMTP server's backoff and the sent
journal, held together. The daemon's sending process and the CLI (``ingest``, ticket actions)
deliver through the same object, so they follow the same rules."""

from __future__ import annotations

import datetime as dt
import logging
import random

import peewee as pw

from mailflow.backoff import Backoff
from mailflow.delivery import outbox
from mailflow.delivery.journal import SentJournal
from mailflow.delivery.outbox import FlushResult, RetryPolicy
from mailflow.delivery.transports import Transport
from mailflow.services import Services
from mailflow.store.database import sqlite_file
from mailflow.store.exclusive import exclusive

log = logging.getLogger(__name__)


class Delivery:
    """Sends the outbox over one transport."""

    def __init__(
        self, services: Services, transport: Transport, rng: random.Random | None = None
    ) -> None:
        smtp = services.config.smtp
        self.db: pw.Database = services.db
        self.store = services.store
        self.transport = transport
        self.rng = rng or random.Random()
        self.retry = RetryPolicy(smtp.max_attempts, smtp.retry_base_seconds, smtp.retry_max_seconds)
        self.backoff = Backoff()
        database_file = sqlite_file(services.db)
        # SQLite only: sent marks go to a journal first, so the sender seldom waits for the
        # ingest's write lock (``journal``).
        self.journal = SentJournal(database_file) if database_file is not None else None
        # One process delivers at a time: two would send the same rows twice.
        self.exclusive = exclusive(database_file, "delivering the outbox")
        self._holding = False

    def send_due(self, now: dt.datetime, last: bool = True) -> FlushResult:
        """Send the rows due at ``now``; ``last=False`` keeps the connection for more.

        Nothing is sent while another process delivers this database's outbox: it sends
        these rows too."""
        if not self._holding:
            self._holding = self.exclusive.try_take()
            if not self._holding:
                return FlushResult()
        try:
            return outbox.flush(
                self.db,
                self.transport,
                now,
                self.retry,
                self.rng.random,
                journal=self.journal,
                last=last,
                store=self.store,
            )
        finally:
            if last:
                self._let_go()

    def end_pass(self) -> None:
        """Hang up and move every sent mark into the database."""
        outbox.end_delivery(self.db, self.transport, self.journal)
        self._let_go()

    def _let_go(self) -> None:
        if self._holding:
            self.exclusive.release()
            self._holding = False

    def flush(self, now: dt.datetime) -> FlushResult:
        """One whole delivery, unless the server is backing off (the CLI's way)."""
        if not self.backoff.ready(now):
            return FlushResult()
        result = self.send_due(now)
        self.note(now, result)
        return result

    def note(self, now: dt.datetime, result: FlushResult) -> None:
        """Back off from a server that could not be reached; forgive one that could."""
        if not result.unreachable:
            self.backoff.succeeded()
            return
        delay = self.backoff.failed(now, self.rng.random())
        log.error(
            "outgoing mail server unavailable: %s; %d mails queued; retrying in %.0f s",
            result.unreachable,
            outbox.pending_count(),
            delay,
        )

    def close(self) -> None:
        """Drop the connection."""
        self.transport.close()
