"""Deliver the outbox from a process of its own while the main process ingests.

Acknowledgements then leave as soon as their group of mails is committed, not after the whole
pass: after an outage with a thousand mails waiting, the first requesters hear back within a
second. A process rather than a thread, because SMTP delivery costs CPU (building the dialogue,
recording each mail as sent) and a thread would share the interpreter lock with parsing and
recording; the outbox table is the only thing the two share, which is what it is for.

The process is a fork of the daemon made before any other thread exists and lives as long as
the ``Worker``; every pass tells it ``begin(now)``, ``wake()`` after each committed group and
``finish()`` at the end, which returns what was delivered. It opens its own database
connection (the inherited one belongs to the parent and is never touched, not even closed),
ignores Ctrl-C (see ``children``) and dies with its parent. It owns its ``Delivery`` (the
fork's copy of the daemon's): nothing of the daemon's worker runs in it. If it dies, its mails
stay queued: ``finish`` reports nothing sent and the next pass starts a new one. Its sent marks go
through the sent journal (``journal``), so it seldom waits for the ingest's write lock.
"""

from __future__ import annotations

import datetime as dt
import logging
import multiprocessing
import os
import pickle
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any

import peewee as pw

from mailflow.children import before_fork, die_with_parent
from mailflow.delivery.delivery import Delivery
from mailflow.delivery.outbox import FlushResult
from mailflow.errors import SenderGone
from mailflow.store.database import drop_broken, ping

log = logging.getLogger(__name__)

FlushOnce = Callable[[dt.datetime], FlushResult]


class SenderProcess:
    """Runs ``flush_once(now)`` in a child process whenever woken during a pass."""

    def __init__(self, delivery: Delivery) -> None:
        """The child sends with ``delivery`` (a copy made by the fork, its own from then on):
        ``send_due`` while a pass runs, ``end_pass`` at its end."""
        self._delivery = delivery
        self._conn: Connection | None = None
        self._process: multiprocessing.process.BaseProcess | None = None

    def begin(self, now: dt.datetime) -> None:
        """Start a pass at ``now`` (starting the process if needed) and send what is due."""
        if self._process is None or not self._process.is_alive():
            self._start()
        self._send("begin", now)

    def wake(self) -> None:
        """New outbox rows were committed."""
        self._send("wake")

    def call(self, fn: Callable[[], None]) -> None:
        """Run ``fn`` (picklable) in the sending process before anything else it does.

        The process idles until the first group is committed, so a start-up check costs the
        ingest nothing there. ``called()`` gives its outcome.
        """
        if self._process is None or not self._process.is_alive():
            self._start()
        self._send("call", fn)

    def called(self) -> None:
        """Wait for the ``call``; raise what it raised."""
        reply = self._reply("called")
        if reply is None:
            raise SenderGone("the sending process stopped during the start-up check")
        if reply[1] is not None:
            raise reply[1]

    def finish(self) -> FlushResult:
        """Send what is left of this pass and sum up what was done; raise what went wrong."""
        self._send("finish")
        reply = self._reply("done")
        if reply is None:
            log.error("the sending process stopped unexpectedly; its mails stay queued")
            return FlushResult()
        _, result, error = reply
        if error is not None:
            raise error
        return result  # type: ignore[no-any-return]

    def _reply(self, kind: str) -> tuple[Any, ...] | None:
        """The next reply of ``kind`` (skipping others nobody waited for); None if gone."""
        try:
            while self._conn is not None:
                reply = self._conn.recv()
                if reply[0] == kind:
                    return reply  # type: ignore[no-any-return]
        except (EOFError, OSError):
            pass
        self.close()
        return None

    def close(self) -> None:
        """Stop the process."""
        if self._conn is not None:
            self._send("stop")
            self._conn.close()
            self._conn = None
        if self._process is not None:
            self._process.join(timeout=30)
            if self._process.is_alive():
                self._process.kill()
            self._process = None

    def _start(self) -> None:
        self.close()
        before_fork()
        context = multiprocessing.get_context("fork")
        parent, child = context.Pipe()
        process = context.Process(
            target=_serve,
            args=(child, self._delivery, os.getpid()),
            name="mailflow-sender",
            daemon=True,
        )
        process.start()
        child.close()
        self._conn, self._process = parent, process

    def _send(self, kind: str, value: Any = None) -> None:
        try:
            if self._conn is not None:
                self._conn.send((kind, value))
        except OSError:
            pass  # the process is gone; finish() says so


# -- in the sending process -----------------------------------------------------------------

_INHERITED: list[Any] = []  # the parent's connection: kept, never used, never closed


def _own_connection(db: pw.Database) -> None:
    state = db._state  # type: ignore[attr-defined]
    _INHERITED.append(state.conn)
    state.reset()
    db.connect()
    if isinstance(db, pw.SqliteDatabase):
        # "Sent" marks need not survive a power cut, only a crash (which WAL with
        # synchronous=NORMAL guarantees): a mark lost to a power cut re-sends that mail once.
        # Ingest commits, which the mailbox's "done" depends on, stay FULL.
        db.execute_sql("PRAGMA synchronous = NORMAL")  # type: ignore[no-untyped-call]


def _serve(conn: Connection, delivery: Delivery, parent: int) -> None:
    die_with_parent(parent)
    _own_connection(delivery.db)

    def flush_once(now: dt.datetime) -> FlushResult:
        return delivery.send_due(now, last=False)

    end_pass = delivery.end_pass
    now = dt.datetime.now(dt.UTC)
    results: list[FlushResult] = []
    errors: list[BaseException] = []
    while True:
        try:
            kind, value = conn.recv()
        except (EOFError, OSError):
            return
        if kind == "call":
            conn.send(("called", _outcome(value)))
            continue
        if kind == "begin":
            now, results, errors = value, [], []
            ping(delivery.db)
        finishing = kind == "finish"
        while kind != "stop" and not finishing and conn.poll():  # one flush for queued wakes
            kind, _ = conn.recv()
            finishing = kind == "finish"
        if kind == "stop":
            return
        if not errors and not any(r.unreachable for r in results):
            try:
                _flush(flush_once, now, finishing, results)
            except Exception as exc:  # handed to the main process by finish()
                drop_broken(delivery.db)
                errors.append(exc)
        if finishing:
            error = _outcome(end_pass)
            if error is not None:
                errors.append(error)
            conn.send(("done", _total(results), _picklable(errors[0] if errors else None)))


def _flush(
    flush_once: FlushOnce, now: dt.datetime, finishing: bool, results: list[FlushResult]
) -> None:
    """Send what is due; when finishing, until nothing is left."""
    while True:
        result = flush_once(now)
        results.append(result)
        if result.unreachable or not finishing:
            return
        if not (result.sent or result.deferred or result.failed):
            return


def _outcome(fn: Callable[[], None]) -> BaseException | None:
    try:
        fn()
    except Exception as exc:
        return _picklable(exc)
    return None


def _total(results: list[FlushResult]) -> FlushResult:
    total = FlushResult()
    for result in results:
        total.sent += result.sent
        total.deferred += result.deferred
        total.failed += result.failed
        total.unreachable = total.unreachable or result.unreachable
    return total


def _picklable(error: BaseException | None) -> BaseException | None:
    if error is None:
        return None
    try:
        pickle.dumps(error)
    except Exception:
        return RuntimeError(f"{type(error).__name__}: {error}")
    return error
