"""An IMAP folder as the mail source, through imapclient.

Position = UIDVALIDITY + UID. A cursor row keeps the highest UID looked at and, from the first
run, the backlog still to handle; receipts (written with each mail's transaction) make handling
exactly-once, so the cursor is only an optimisation of what to fetch. Bodies are fetched with
``BODY.PEEK[]`` so nothing is marked seen before it is handled, in batches bounded by size.

TLS: certificates are verified (optionally against a configured CA file); ``starttls`` that the
server refuses is an error, never a quiet fall-back to plaintext.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Callable, Sequence
from pathlib import Path

import imapclient
from imapclient.exceptions import IMAPClientError

from mailflow.errors import MailboxError
from mailflow.sources import (
    Candidate,
    Planned,
    default_since,
    first_run_selection,
)
from mailflow.sources.imap_connection import (
    Account,
    ImapReader,
    aware,
    batches,
    login,
    quietly_close,
    why,
)
from mailflow.sources.imap_idle import DEAD, MAIL, announces_mail, idle_wait
from mailflow.store import cursors
from mailflow.store.models import utc

log = logging.getLogger(__name__)


class ImapSource:
    """One folder on one IMAP account."""

    def __init__(
        self,
        host: str,
        port: int,
        security: str,
        username: str,
        password: Callable[[], str],
        folder: str,
        processed_folder: str,
        quarantine_folder: str,
        ca_file: Path | None,
        timeout: float,
        first_run: str,
        first_run_since: dt.date | None,
        tz: dt.tzinfo,
    ) -> None:
        self.host = host
        self.port = port
        self.security = security
        self.username = username
        self.password = password
        self.folder = folder
        self.processed_folder = processed_folder
        self.quarantine_folder = quarantine_folder
        self.ca_file = ca_file
        self.timeout = timeout
        self.first_run = first_run
        self.first_run_since = first_run_since
        self.tz = tz
        self.key = f"imap://{username}@{host}:{port}/{folder}"
        self.idle = True  # wait for mail with IDLE when the server offers it
        self.idle_seconds = 600.0
        self._client: imapclient.IMAPClient | None = None
        self._uidvalidity = 0
        self._folders_seen: set[str] = set()
        self._known: dict[int, dict[bytes, object]] = {}  # sizes fetched while selecting

    # -- connection -------------------------------------------------------------------------

    def connect(self) -> imapclient.IMAPClient:
        """Log in and select the folder (reusing a live connection)."""
        if self._client is None:
            self._client, self._uidvalidity = login(self._account(self.password()))
        return self._client

    def _account(self, password: str) -> Account:
        return Account(
            self.host,
            self.port,
            self.security,
            self.username,
            password,
            self.folder,
            self.ca_file,
            self.timeout,
        )

    def wait_for_mail(self, seconds: float, stopping: threading.Event) -> bool:
        """Wait up to ``seconds`` for new mail with IDLE when the server offers it; True when
        the next pass should read the mailbox now (mail arrived, or the connection died)."""
        if not self.idle or seconds <= 0:
            stopping.wait(max(0.0, seconds))
            return False
        try:
            client = self.connect()
            offered = b"IDLE" in client.capabilities()
            # Mail that arrived since the last command (during the pass, between two IDLEs)
            # was announced then, not in the IDLE to come: a NOOP asks for it now.
            if offered and announces_mail(client.noop()[1]):
                return True
        except (MailboxError, OSError, IMAPClientError):
            self.close()
            return True  # the pass reconnects, with backoff
        if not offered:
            log.info("%s: the server offers no IDLE; polling instead", self.key)
            self.idle = False
            stopping.wait(seconds)
            return False
        outcome = idle_wait(client, min(seconds, self.idle_seconds), stopping)
        if outcome == DEAD:
            log.warning("%s: the connection went silent while idling; reconnecting", self.key)
            self.close()
        return outcome in (MAIL, DEAD)

    def close(self) -> None:
        if self._client is not None:
            quietly_close(self._client)
        self._client = None

    def owns(self, source_ref: str) -> bool:
        return source_ref.startswith(self.key + ";")

    # -- reading ----------------------------------------------------------------------------

    def plan(self, now: dt.datetime) -> list[list[Planned]]:
        client = self.connect()
        try:
            self._known = {}
            uids = self._select(client, now)
            missing = [u for u in uids if u not in self._known]
            sizes = {**self._known, **(client.fetch(missing, ["RFC822.SIZE"]) if missing else {})}
        except (OSError, IMAPClientError) as exc:
            self.close()
            raise MailboxError(
                f"IMAP {self.host}: reading {self.folder} failed: {why(exc)}"
            ) from exc
        return [
            [(self.ref(uid), str(uid)) for uid in batch]
            for batch in batches([u for u in uids if u in sizes], sizes)
        ]

    def reader(self) -> ImapReader:
        self.connect()  # the UIDVALIDITY the plan was made under
        return ImapReader(self._account(self.password()), self._uidvalidity)

    def ref(self, uid: int) -> str:
        return f"{self.key};{self._uidvalidity};{uid}"

    def _select(self, client: imapclient.IMAPClient, now: dt.datetime) -> list[int]:
        cursor = cursors.load(self.key)
        if cursor is not None and cursor.uidvalidity != self._uidvalidity:
            log.warning(
                "%s: UIDVALIDITY changed (%s → %s): the server renumbered the folder; "
                "re-reading it by the first-run policy, duplicates are caught by Message-ID",
                self.key,
                cursor.uidvalidity,
                self._uidvalidity,
            )
            cursors.forget(cursor)
            cursor = None
        if cursor is None:
            return self._first_run(client, now)
        # A kept connection's view of the folder is only brought up to date by a command that
        # syncs it: Dovecot answers SEARCH from the view as it was, so without this NOOP a
        # mail appended since the last sync waits for the pass after next (measured: a median
        # of 48 s at poll_seconds = 30).
        client.noop()
        new = [u for u in client.search(["UID", f"{cursor.last_uid + 1}:*"]) if u > cursor.last_uid]
        backlog = [int(u) for u in cursor.backlog]
        if backlog:
            present = set(client.search(["UID", ",".join(str(u) for u in backlog)]))
            backlog = [u for u in backlog if u in present]
        return sorted(set(backlog) | set(new))

    def _first_run(self, client: imapclient.IMAPClient, now: dt.datetime) -> list[int]:
        everything = client.search(["ALL"])
        since = default_since(now, self.first_run_since, self.tz)
        candidates: list[Candidate] = []
        if everything and self.first_run != "new":
            # IMAP SINCE has day granularity; the exact cut-off is applied below.
            window = client.search(["SINCE", (since - dt.timedelta(days=1)).date()])
            # The sizes come along for the batches (one round trip less on a first run).
            meta = client.fetch(window, ["FLAGS", "INTERNALDATE", "RFC822.SIZE"]) if window else {}
            self._known = meta
            for uid, item in meta.items():
                arrived = item.get(b"INTERNALDATE")
                if not isinstance(arrived, dt.datetime):
                    continue
                seen = imapclient.SEEN in item.get(b"FLAGS", ())
                candidates.append(Candidate(str(uid), aware(arrived), seen))
        chosen = sorted(
            int(c.position) for c in first_run_selection(candidates, self.first_run, since)
        )
        highest = max(everything) if everything else 0
        log.info(
            "first run on %s: %d mails present, taking %d (%s since %s), skipping %d; "
            "from now on only mail after UID %d",
            self.key,
            len(everything),
            len(chosen),
            self.first_run,
            since.date(),
            len(everything) - len(chosen),
            highest,
        )
        cursors.create(
            source=self.key,
            uidvalidity=self._uidvalidity,
            last_uid=highest,
            backlog=chosen,
            updated_at=utc(now),
        )
        return chosen

    # -- acknowledging ----------------------------------------------------------------------

    def ack(self, source_refs: Sequence[str], quarantined: Sequence[str] = ()) -> None:
        set_aside = set(quarantined) if self.quarantine_folder else set()
        uids: list[int] = []
        aside: list[int] = []
        for ref in source_refs:
            _, validity, uid_text = ref.rsplit(";", 2)
            # A renumbered folder (new UIDVALIDITY) no longer names the mail by that UID.
            if self.owns(ref) and int(validity) == self._uidvalidity:
                (aside if ref in set_aside else uids).append(int(uid_text))
        if not uids and not aside:
            return
        client = self.connect()
        try:
            client.add_flags(uids + aside, [imapclient.SEEN], silent=True)
            if self.processed_folder and uids:
                self._move(client, uids, self.processed_folder)
            if aside:
                self._move(client, aside, self.quarantine_folder)
        except (OSError, IMAPClientError) as exc:
            self.close()
            if "overquota" in str(exc).lower().replace(" ", ""):
                raise MailboxError(
                    f"IMAP {self.host}: the support mailbox {self.username} is over its quota, "
                    f"so handled mail cannot be copied to {self.processed_folder!r}: make room or "
                    f"raise the quota; the mail stays in {self.folder} (marked read, its tickets "
                    "made) and is moved on a later pass"
                ) from exc
            raise MailboxError(
                f"IMAP {self.host}: marking {len(uids)} mails handled failed: {why(exc)}"
            ) from exc
        self._advance(uids + aside)

    def _move(self, client: imapclient.IMAPClient, uids: list[int], folder: str) -> None:
        if folder not in self._folders_seen:
            if not client.folder_exists(folder):
                client.create_folder(folder)
            self._folders_seen.add(folder)
        if client.has_capability("MOVE"):
            client.move(uids, folder)
        else:
            client.copy(uids, folder)
            client.delete_messages(uids)
            if client.has_capability("UIDPLUS"):
                client.uid_expunge(uids)
            else:
                client.expunge()

    def _advance(self, uids: list[int]) -> None:
        cursor = cursors.load(self.key)
        if cursor is None:
            return
        done = set(uids)
        backlog = [u for u in cursor.backlog if u not in done]
        highest = max(cursor.last_uid, *uids)
        if highest != cursor.last_uid or len(backlog) != len(cursor.backlog):
            cursor.last_uid = highest
            cursor.backlog = backlog
            cursors.save(cursor)

    # -- checks -----------------------------------------------------------------------------

    def check(self) -> str:
        """Log in and select the folder; a line describing what was found."""
        client = self.connect()
        try:
            status = client.folder_status(self.folder, ["MESSAGES", "UNSEEN"])
        except (OSError, IMAPClientError) as exc:
            raise MailboxError(f"IMAP {self.host}: {why(exc)}") from exc
        finally:
            self.close()
        return (
            f"IMAP {self.host}:{self.port} ({self.security}) login as {self.username} ok; "
            f"{self.folder}: {status[b'MESSAGES']} messages, {status[b'UNSEEN']} unseen"
        )
