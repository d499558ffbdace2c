"""Deliver the outbox on a second thread while the main thread ingests.

Acknowledgements then leave as soon as their group of mails is committed, not after the whole
pass: after an outage with a thousand mails waiting, the first requesters hear back within a
second. SMTP is mostly waiting on the network, so the two threads overlap well despite the GIL.
The thread uses its own database connection (peewee connections are per thread) and the
process-wide write lock of ``models.transaction``, so the writers take turns instead of meeting
SQLite's busy-wait.
"""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Callable

import peewee as pw

from mailflow.outbox import FlushResult

log = logging.getLogger(__name__)

SWITCH_INTERVAL = 0.0005


class BackgroundSender:
    """Runs ``flush_once`` whenever woken, until finished and nothing is left to send."""

    def __init__(self, db: pw.Database, flush_once: Callable[[], FlushResult]) -> None:
        self._db = db
        self._flush_once = flush_once
        self._wake = threading.Event()
        self._done = threading.Event()
        self._results: list[FlushResult] = []
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="mailflow-sender", daemon=True)
        self._interval = sys.getswitchinterval()

    def start(self) -> None:
        # The main thread is busy parsing; with the default 5 ms switch interval every SMTP
        # reply would wait up to 5 ms for the interpreter, so hand over more often meanwhile.
        self._interval = sys.getswitchinterval()
        sys.setswitchinterval(min(self._interval, SWITCH_INTERVAL))
        self._thread.start()

    def wake(self) -> None:
        """New outbox rows were committed."""
        self._wake.set()

    def finish(self) -> FlushResult:
        """Send what is left, stop the thread, and sum up what it did."""
        self._done.set()
        self._wake.set()
        self._thread.join()
        sys.setswitchinterval(self._interval)
        if self._error is not None:
            raise self._error
        total = FlushResult()
        for result in self._results:
            total.sent += result.sent
            total.deferred += result.deferred
            total.failed += result.failed
            total.unreachable = total.unreachable or result.unreachable
        return total

    def _run(self) -> None:
        try:
            if isinstance(self._db, pw.SqliteDatabase):
                # "Sent" marks need not survive a power cut, only a crash (which WAL with
                # synchronous=NORMAL guarantees): a mark lost to a power cut re-sends that mail
                # once. Ingest commits, which the mailbox's "done" depends on, stay FULL.
                self._db.execute_sql("PRAGMA synchronous = NORMAL")  # type: ignore[no-untyped-call]
            while True:
                finishing = self._done.is_set()
                self._wake.clear()
                result = self._flush_once()
                self._results.append(result)
                if result.unreachable:
                    return  # the worker backs off from the server as a whole
                if finishing and not (result.sent or result.deferred or result.failed):
                    return
                if not finishing:
                    self._wake.wait()
        except BaseException as exc:  # handed to the main thread by finish()
            self._error = exc
        finally:
            self._db.close()
