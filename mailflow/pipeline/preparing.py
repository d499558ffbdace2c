"""The work a mail needs before the database: parse it and put its bytes in the store.

This is the CPU-heavy half of ingest and it touches no database, so it can run in worker
processes (each reading its mails over a connection of its own) while the main process records
the mails before them. The workers are plain forks of the daemon made before any other thread
starts (no threads, no open transaction to inherit); they ignore Ctrl-C (see ``children``) and
die with their parent. They leave the blobs they wrote unsynced: the main process makes them
durable with one sync before the transaction that refers to them, so the workers never wait for
the disk. A worker that dies costs nothing but speed: its mails are read again in the main
process and a new pool is made on the next pass.
"""

from __future__ import annotations

import concurrent.futures
import logging
import multiprocessing
import os
from collections.abc import Sequence
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, replace
from pathlib import Path

from mailflow.children import before_fork, die_with_parent
from mailflow.errors import ParseError
from mailflow.mail import spooling
from mailflow.mail.attachments import Limits, ParsedAttachment, within_limits
from mailflow.mail.parsing import InboundMail, parse
from mailflow.sources import Planned, RawMail, Reader
from mailflow.store.blobs import BlobStore

log = logging.getLogger(__name__)

MB = 1024 * 1024

# More workers than this gains nothing: the main process's database work becomes the limit.
MAX_AUTO_WORKERS = 4


@dataclass(frozen=True)
class Prepared:
    """A raw mail after the work that needs no database: parsed, its bytes in the store."""

    raw: RawMail  # from a parse worker without its bytes (they are in the store)
    mail: InboundMail | None
    error: str = ""
    accepted: tuple[ParsedAttachment, ...] = ()
    refused: tuple[tuple[ParsedAttachment, str], ...] = ()
    digests: tuple[str, ...] = ()  # sha256 of each accepted attachment, as stored
    raw_sha256: str = ""  # of the raw mail, as stored
    raw_size: int = 0


def prepare(raw: RawMail, store: BlobStore, limits: Limits) -> Prepared:
    """Parse ``raw`` and write its raw bytes and accepted attachments to the store (unsynced).

    Attachments over the limits are not stored as files of their own: they stay inside the
    raw mail, which is always kept, and the requester is told.
    """
    digest, size = store.put(raw.data, sync=False), len(raw.data)
    if size > limits.max_mail:
        # Parsing takes several times a mail's size in memory: a huge mail is kept whole and
        # set aside rather than risk the process (retrying it from the quarantine parses it).
        why = (
            f"the mail is {size / MB:.0f} MB, over the limit of {limits.max_mail / MB:.0f} MB "
            "([limits] max_mail_mb); kept unread"
        )
        return Prepared(raw, None, why, raw_sha256=digest, raw_size=size)
    try:
        # The store hashed the bytes already; large files are decoded into it by _store.
        mail = parse(raw.data, digest, spool_over=spooling.SPOOL_OVER)
    except ParseError as exc:
        return Prepared(raw, None, str(exc), raw_sha256=digest, raw_size=size)
    except Exception as exc:
        # A parser bug must cost one mail (quarantined with its bytes), not the daemon.
        log.exception("parsing %s failed", raw.label or raw.source_ref)
        return Prepared(raw, None, f"{type(exc).__name__}: {exc}", raw_sha256=digest, raw_size=size)
    stored = _store_spooled(raw.data, mail.attachments, store)
    mail = replace(mail, attachments=tuple(a for a, _ in stored))
    accepted, refused = within_limits(mail.attachments, limits)
    kept = {a.digest for a in accepted}
    for attachment, new in stored:
        if new and attachment.digest not in kept:
            store.discard(attachment.digest)  # over a limit: it stays inside the raw mail only
    # A refused file whose blob was discarded above no longer names one.
    refused = tuple(
        (replace(a, digest="") if a.digest and a.digest not in kept else a, why)
        for a, why in refused
    )
    accepted = tuple(
        a if a.digest else replace(a, digest=store.put(a.data, sync=False)) for a in accepted
    )
    digests = tuple(a.digest for a in accepted)
    return Prepared(
        raw,
        mail,
        accepted=accepted,
        refused=refused,
        digests=digests,
        raw_sha256=digest,
        raw_size=size,
    )


def _store_spooled(
    raw: bytes, files: tuple[ParsedAttachment, ...], store: BlobStore
) -> list[tuple[ParsedAttachment, bool]]:
    """Decode the files the parser never saw from ``raw`` into the store, a chunk at a time;
    each file with whether its blob is new."""
    result = []
    for item in files:
        if item.spool is None:
            result.append((item, False))
            continue
        digest, size, new = store.put_chunks(spooling.decode(raw, item.spool), sync=False)
        result.append((replace(item, digest=digest, size=size, spool=None), new))
    return result


def prepare_all(raws: Sequence[RawMail], store: BlobStore, limits: Limits) -> list[Prepared]:
    """Prepare every mail and make the blobs durable with one sync for all of them."""
    prepared = [prepare(raw, store, limits) for raw in raws]
    store.sync()
    return prepared


def read_and_prepare(
    reader: Reader, planned: Sequence[Planned], store: BlobStore, limits: Limits
) -> list[Prepared]:
    """Read a planned batch and prepare it."""
    return prepare_all(reader.read(planned), store, limits)


def auto_workers(configured: int) -> int:
    """Worker processes to use: ``configured``, or for -1 one less than the usable CPUs."""
    if configured >= 0:
        return configured
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cpus = os.cpu_count() or 1
    return max(0, min(MAX_AUTO_WORKERS, cpus - 1))


class Batch:
    """Mails handed to the preparer; ``result()`` waits for them."""

    def __init__(
        self,
        reader: Reader,
        planned: Sequence[Planned],
        preparer: Preparer,
        future: concurrent.futures.Future[list[Prepared]] | None,
    ) -> None:
        self.planned = list(planned)
        self._reader = reader
        self._preparer = preparer
        self._future = future

    def result(self) -> list[Prepared]:
        """The prepared mails, in order (a mail that vanished is left out), blobs durable."""
        store = self._preparer.store
        if self._future is not None:
            try:
                prepared = self._future.result()
            except BrokenProcessPool:
                log.warning("a parse worker died; reading these mails in the main process")
                self._preparer.broken()
            else:
                # The worker wrote the blobs; one sync here, off the workers' path, makes them
                # durable before the transaction that refers to them.
                store.sync([d for item in prepared for d in (item.raw_sha256, *item.digests) if d])
                return prepared
        return read_and_prepare(self._reader, self.planned, store, self._preparer.limits)

    def cancel(self) -> None:
        """Drop the work if not started yet (a stop request)."""
        if self._future is not None:
            self._future.cancel()


class Preparer:
    """Reads and prepares batches of mails in worker processes, or in this one (0 workers)."""

    def __init__(self, store: BlobStore, limits: Limits, workers: int) -> None:
        self.store = store
        self.limits = limits
        self.workers = workers
        self._pool: concurrent.futures.ProcessPoolExecutor | None = None

    def start(self) -> None:
        """Fork the workers now, before the caller starts any thread (fork copies only one)."""
        if self.workers <= 0 or self._pool is not None:
            return
        before_fork()
        try:
            pool = concurrent.futures.ProcessPoolExecutor(
                self.workers,
                mp_context=multiprocessing.get_context("fork"),
                initializer=die_with_parent,
                initargs=(os.getpid(),),
            )
            # Python forks the whole pool at the first submit; make that happen here.
            pool.submit(os.getpid)
        except (OSError, ValueError) as exc:
            log.warning("cannot start parse workers (%s); parsing in the main process", exc)
            self.workers = 0
            return
        self._pool = pool

    def submit(self, reader: Reader, planned: Sequence[Planned]) -> Batch:
        """Start reading and preparing ``planned`` (in a worker, when there are any)."""
        future = None
        if self._pool is not None and planned:
            try:
                future = self._pool.submit(
                    _in_worker, reader, list(planned), self.store.root, self.limits
                )
            except BrokenProcessPool:
                self.broken()
        return Batch(reader, planned, self, future)

    def broken(self) -> None:
        """Forget a pool whose worker died; ``start`` makes a new one."""
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None

    def close(self) -> None:
        """Stop the workers."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None


# -- in the worker process ------------------------------------------------------------------

_stores: dict[Path, BlobStore] = {}


def _in_worker(
    reader: Reader, planned: list[Planned], root: Path, limits: Limits
) -> list[Prepared]:
    store = _stores.setdefault(root, BlobStore(root))
    prepared = [prepare(raw, store, limits) for raw in reader.read(planned)]
    store.forget_unsynced()  # the main process syncs them (Batch.result)
    # Only what the main process needs travels back: not the raw bytes nor the files' bytes,
    # which are stored (the main process reads a file back only to forward it).
    return [_without_bytes(item) for item in prepared]


def _without_bytes(item: Prepared) -> Prepared:
    def light(a: ParsedAttachment) -> ParsedAttachment:
        return replace(a, data=b"", spool=None) if a.digest or a.spool else a

    refused = tuple((light(a), why) for a, why in item.refused)
    accepted = tuple(light(a) for a in item.accepted)
    mail = item.mail
    if mail is not None:
        mail = replace(mail, attachments=tuple(light(a) for a in mail.attachments))
    raw = replace(item.raw, data=b"")
    return replace(item, raw=raw, mail=mail, accepted=accepted, refused=refused)
