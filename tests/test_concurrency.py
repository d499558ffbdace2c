"""The helper processes and the locks between them: parse workers, the sending process, the
sent journal and the cross-process write lock. No mocks: real forks, real SQLite, real files."""

from __future__ import annotations

import datetime as dt
import multiprocessing
import os
import signal
import time
from pathlib import Path

import imapclient
import pytest

from mailflow import config as config_mod
from mailflow.daemon import open_services
from mailflow.delivery import outbox
from mailflow.delivery.journal import Mark, SentJournal
from mailflow.errors import LockBusy, StorageError
from mailflow.pipeline.handling import attachment_limits, handle
from mailflow.pipeline.preparing import Preparer, prepare_all
from mailflow.sources import RawMail
from mailflow.store.database import open_database, sqlite_file, transaction
from mailflow.store.models import Event, Outbox
from tests.conftest import ImapAccount, write_config
from tests.helpers import deliver, run_once, start_daemon, tickets, wait_until
from tests.mails import build
from tests.servers import SmtpServer

T0 = dt.datetime(2026, 11, 25, 2, 0, tzinfo=dt.UTC)


def services_in(tmp_path: Path, follow: bool = True):  # type: ignore[no-untyped-def]
    body = "[support]\naddress = 'desk@example.com'\n"
    config = config_mod.load(write_config(tmp_path, body, follow))
    return open_services(config)


def raws(count: int) -> list[RawMail]:
    return [
        RawMail(
            build(
                f"user{i}@example.com",
                "desk@example.com",
                f"打印机问题 {i}",
                "打印机卡纸。\n" * 3,
                attachments=(("日志.txt", "text/plain", f"log {i}".encode()),),
            ),
            f"test:{i}",
            T0,
            f"mail {i}",
        )
        for i in range(count)
    ]


class ListReader:
    """A Reader over mails in memory (picklable, so it travels to a worker like a real one)."""

    def __init__(self, mails: list[RawMail]) -> None:
        self.mails = {m.source_ref: m for m in mails}

    def read(self, batch: list[tuple[str, str]]) -> list[RawMail]:
        return [self.mails[ref] for ref, _ in batch if ref in self.mails]


def planned(mails: list[RawMail]) -> list[tuple[str, str]]:
    return [(m.source_ref or "", "") for m in mails]


def test_parse_workers_prepare_what_the_main_process_would(tmp_path: Path) -> None:
    """Parse workers produce exactly what the main process would have: the same mails,
    attachments and
    digests."""
    services = services_in(tmp_path)
    limits = attachment_limits(services.config)
    mails = raws(7)
    here = prepare_all(mails, services.store, limits)
    preparer = Preparer(services.store, limits, workers=2)
    preparer.start()
    try:
        batches = [preparer.submit(ListReader(mails), planned(mails[i : i + 3])) for i in (0, 3, 6)]
        there = [item for batch in batches for item in batch.result()]
    finally:
        preparer.close()
    assert [p.mail for p in there] == [p.mail for p in here]
    assert [p.digests for p in there] == [p.digests for p in here]
    assert [(p.raw_sha256, p.raw_size) for p in there] == [(p.raw_sha256, p.raw_size) for p in here]
    # Only the position travels back; the bytes are in the store.
    assert [p.raw.source_ref for p in there] == [m.source_ref for m in mails]
    assert all(p.raw.data == b"" for p in there)
    for item in there:
        assert services.store.get(item.raw_sha256) == mails[there.index(item)].data
        assert all(services.store.get(d) for d in item.digests)


def test_a_dead_parse_worker_costs_speed_not_mail(tmp_path: Path) -> None:
    """A parse worker killed mid-batch: its group is re-read in the main process and every mail is
    recorded once."""
    services = services_in(tmp_path)
    preparer = Preparer(services.store, attachment_limits(services.config), workers=1)
    preparer.start()
    try:
        assert preparer._pool is not None
        for pid in list(preparer._pool._processes):  # type: ignore[attr-defined]
            os.kill(pid, signal.SIGKILL)
        time.sleep(0.2)
        mails = raws(3)
        prepared = preparer.submit(ListReader(mails), planned(mails)).result()  # done here
        assert [p.mail.subject for p in prepared if p.mail] == [
            "打印机问题 0",
            "打印机问题 1",
            "打印机问题 2",
        ]
        preparer.start()  # a new pool for the next pass
        mails = raws(2)
        assert len(preparer.submit(ListReader(mails), planned(mails)).result()) == 2
    finally:
        preparer.close()


def one_acknowledgement(tmp_path: Path):  # type: ignore[no-untyped-def]
    """Services with one ticket, its acknowledgement queued; and the database file (SQLite:
    the sent journal is SQLite's)."""
    services = services_in(tmp_path, follow=False)
    assert handle(raws(1)[0], T0, services).action == "created"
    database_file = sqlite_file(services.db)
    assert database_file is not None
    return services, Outbox.get(), database_file


def test_journal_marks_reach_the_database_once(tmp_path: Path) -> None:
    """Sent marks in the journal reach the database exactly once, a torn last line included."""
    services, row, database_file = one_acknowledgement(tmp_path)
    journal = SentJournal(database_file)
    journal.record(Mark(row.id, T0, ("cc@example.com: 550 no such user",)))
    # A torn last line (the process died mid-write) is ignored, not fatal.
    own = database_file.with_name(f"{database_file.name}.sent.{os.getpid()}")
    with own.open("a") as handle_:
        handle_.write('{"id": 99')
    outbox.settle(services.db, journal)
    outbox.settle(services.db, journal)  # again: nothing doubles
    row = Outbox.get_by_id(row.id)
    assert row.status == "sent" and row.last_error == "cc@example.com: 550 no such user"
    sent_events = [e for e in Event.select() if e.kind == "mail_sent"]
    assert len(sent_events) == 1
    assert own.read_text() == ""


def test_a_dead_process_journal_is_moved_in_and_removed(tmp_path: Path) -> None:
    """A dead process's journal is settled by whoever looks next and then removed."""
    services, row, database_file = one_acknowledgement(tmp_path)

    def write_and_die() -> None:
        SentJournal(database_file).record(Mark(row.id, T0))
        os._exit(0)

    child = multiprocessing.get_context("fork").Process(target=write_and_die)
    child.start()
    child.join()
    left = database_file.with_name(f"{database_file.name}.sent.{child.pid}")
    assert left.exists()
    # The next flush moves the marks in before it reads what is due: nothing is sent twice.
    result = outbox.flush(
        services.db,
        _NoTransport(),
        T0,
        outbox.RetryPolicy(3, 60, 600),
        lambda: 0.5,
        journal=SentJournal(database_file),
    )
    assert result.sent == 0
    assert Outbox.get_by_id(row.id).status == "sent"
    assert not left.exists()


class _NoTransport:
    def send(self, mime: bytes, sender: str, recipients: list[str]) -> list[str]:
        raise AssertionError("nothing should be sent")

    def close(self) -> None:
        pass

    def check(self) -> str:
        return "ok"


def test_write_lock_is_shared_across_processes(tmp_path: Path) -> None:
    """The flock write lock serialises writers across processes and times out with a
    StorageError."""
    url = f"sqlite:///{tmp_path}/lock.db"
    db = open_database(url, busy_seconds=1)
    ready = multiprocessing.get_context("spawn").Event()
    holder = multiprocessing.get_context("spawn").Process(target=_hold_lock, args=(url, ready, 1.5))
    holder.start()
    try:
        assert ready.wait(20)
        with pytest.raises(LockBusy), transaction(db, wait=False):
            pass
        started = time.monotonic()
        with (
            pytest.raises(StorageError, match="still locked by another writer"),
            transaction(db),
        ):
            pass
        assert time.monotonic() - started >= 0.9  # waited for the busy timeout
    finally:
        holder.join(10)
    with transaction(db, wait=False):  # free again
        pass


def _hold_lock(url: str, ready, seconds: float) -> None:  # type: ignore[no-untyped-def]
    db = open_database(url, busy_seconds=1)
    with transaction(db):
        ready.set()
        time.sleep(seconds)


def test_helpers_die_with_a_killed_daemon(tmp_path: Path) -> None:
    """SIGKILL of the daemon takes its parse workers and sending process along
    (PR_SET_PDEATHSIG)."""
    config = write_config(
        tmp_path, "[mailbox]\npoll_seconds = 1\n[performance]\nparse_workers = 1\n"
    )
    log = tmp_path / "daemon.log"
    proc = start_daemon(config, log)
    try:
        wait_until(lambda: "polling every 1 s" in log.read_text())
        deliver(tmp_path / "var/maildir", "m1", build("a@example.com", "s@example.com", "hi", "x"))
        wait_until(lambda: "created from a@example.com" in log.read_text())
        children = _children(proc.pid)
        assert len(children) >= 2, children  # the sending process and a parse worker
        proc.kill()
        proc.wait(10)
        wait_until(lambda: not any(_alive(pid) for pid in children), timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()


def _children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        text = (task / "children").read_text().split()
        found += [int(p) for p in text]
    return found


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


@pytest.mark.parametrize("workers", [0, 2])
def test_a_backlog_over_imap_with_and_without_parse_workers(
    e2e_config: Path, imap_account: ImapAccount, smtp_server: SmtpServer, workers: int
) -> None:
    """More mail than one read batch (50) and several groups: every mail one ticket, one
    acknowledgement, flagged \\Seen; the same with the mail read in the main process."""
    e2e_config.write_text(e2e_config.read_text() + f"\n[performance]\nparse_workers = {workers}\n")
    client = imap_account.client()
    try:
        for i in range(63):
            client.append(
                "INBOX",
                build(f"user{i}@example.com", imap_account.user, f"VPN 问题 {i}", "断线。"),
            )
    finally:
        client.logout()
    log = run_once(e2e_config)
    assert log.count(" created from ") == 63
    subjects = sorted(str(t["subject"]) for t in tickets(e2e_config))
    assert subjects == sorted(f"VPN 问题 {i}" for i in range(63))
    received = smtp_server.wait_for(63)
    assert sorted(r.rcpt_tos[0] for r in received) == sorted(
        f"user{i}@example.com" for i in range(63)
    )
    flags = [data[b"FLAGS"] for data in imap_account.messages().values()]
    assert len(flags) == 63 and all(imapclient.SEEN in f for f in flags)


def test_blobs_a_worker_wrote_are_synced_by_the_main_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without syncfs(2), the main process fsyncs each file (and folder) the worker named."""
    from mailflow.store import blobs as storage

    synced: list[str] = []
    monkeypatch.setattr(storage, "_syncfs", lambda root: False)
    monkeypatch.setattr(storage, "_fsync_path", lambda path, flags: synced.append(str(path)))
    writer, main = storage.BlobStore(tmp_path), storage.BlobStore(tmp_path)
    digests = [writer.put(b"one", sync=False), writer.put(b"two", sync=False)]
    writer.forget_unsynced()
    main.sync(digests)
    assert [main.path_for(d).as_posix() for d in digests] == synced[:2]
    assert {main.path_for(d).parent.as_posix() for d in digests} == set(synced[2:])


def test_a_reader_refuses_a_folder_renumbered_since_the_plan(
    tmp_path: Path, imap_account: ImapAccount
) -> None:
    """Between plan and read the folder was deleted and made anew (new UIDVALIDITY): the UIDs
    of the plan would name other mails, so the read fails and the pass is retried."""
    from mailflow.errors import MailboxError
    from mailflow.sources.imap import ImapSource

    imap_account.append(build("a@example.com", imap_account.user, "one", "x"), folder="Support")
    services_in(tmp_path)  # binds the models to a database for the cursor
    source = ImapSource(
        "127.0.0.1",
        imap_account.server.port,
        "none",
        imap_account.user,
        lambda: imap_account.password,
        "Support",
        "",
        "",
        None,
        10,
        "all",
        None,
        dt.UTC,
    )
    [batch] = source.plan(T0)
    reader = source.reader()
    client = imap_account.client()
    try:
        client.delete_folder("Support")
        client.create_folder("Support")
        client.append("Support", build("b@example.com", imap_account.user, "two", "y"))
    finally:
        client.logout()
    with pytest.raises(MailboxError, match="renumbered"):
        reader.read(batch)
    source.close()
