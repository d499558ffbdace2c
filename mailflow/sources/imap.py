"""An IMAP folder as the mail source, through imapclient.

Position = UIDVALIDITY + UID. A cursor row keeps the highest UID looked at and, from the first
run, the backlog still to handle; receipts (written with each mail's transaction) make handling
exactly-once, so the cursor is only an optimisation of what to fetch. Bodies are fetched with
``BODY.PEEK[]`` so nothing is marked seen before it is handled, in batches bounded by size.

TLS: certificates are verified (optionally against a configured CA file); ``starttls`` that the
server refuses is an error, never a quiet fall-back to plaintext.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import os
import socket
import ssl
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import imapclient
from imapclient.exceptions import IMAPClientError, LoginError

from mailflow.errors import MailboxAuthError, MailboxError
from mailflow.sources import (
    Candidate,
    Planned,
    RawMail,
    batched,
    default_since,
    first_run_selection,
)
from mailflow.store import cursors
from mailflow.store.models import utc
from mailflow.tls import tls_context, tls_problem

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
        self._client: imapclient.IMAPClient | None = None
        self._uidvalidity = 0
        self._folders_seen: set[str] = set()
        self._known: dict[int, dict[bytes, object]] = {}  # sizes fetched while selecting

    # -- connection -------------------------------------------------------------------------

    def connect(self) -> imapclient.IMAPClient:
        """Log in and select the folder (reusing a live connection)."""
        if self._client is None:
            self._client, self._uidvalidity = _login(self._account(self.password()))
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

    def close(self) -> None:
        if self._client is not None:
            _quietly_close(self._client)
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
                f"IMAP {self.host}: reading {self.folder} failed: {_why(exc)}"
            ) from exc
        return [
            [(self.ref(uid), str(uid)) for uid in batch]
            for batch in _batches([u for u in uids if u in sizes], sizes)
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
                candidates.append(Candidate(str(uid), _aware(arrived), seen))
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
            raise MailboxError(
                f"IMAP {self.host}: marking {len(uids)} mails handled failed: {_why(exc)}"
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
            raise MailboxError(f"IMAP {self.host}: {_why(exc)}") from exc
        finally:
            self.close()
        return (
            f"IMAP {self.host}:{self.port} ({self.security}) login as {self.username} ok; "
            f"{self.folder}: {status[b'MESSAGES']} messages, {status[b'UNSEEN']} unseen"
        )


@dataclass(frozen=True)
class Account:
    """Where and as whom to log in (picklable: a parse worker opens its own connection)."""

    host: str
    port: int
    security: str
    username: str
    password: str = field(repr=False)
    folder: str
    ca_file: Path | None
    timeout: float


def _login(account: Account, readonly: bool = False) -> tuple[imapclient.IMAPClient, int]:
    """A logged-in connection with the folder selected, and the folder's UIDVALIDITY."""
    where = f"IMAP {account.host}:{account.port}"
    try:
        # Loading the system CA bundle costs ~20 ms; only TLS connections need it.
        context = tls_context(account.ca_file) if account.security != "none" else None
        client = imapclient.IMAPClient(
            account.host,
            port=account.port,
            ssl=account.security == "ssl",
            ssl_context=context,
            timeout=account.timeout,
        )
    except ssl.SSLError as exc:
        raise MailboxError(f"{where}: TLS failed: {tls_problem(exc)}") from exc
    except (OSError, IMAPClientError) as exc:
        raise MailboxError(f"{where}: cannot connect: {_why(exc)}") from exc
    try:
        if account.security == "starttls":
            try:
                client.starttls(context or tls_context(account.ca_file))
            except ssl.SSLError as exc:
                raise MailboxError(f"{where}: STARTTLS failed: {tls_problem(exc)}") from exc
            except IMAPClientError as exc:
                raise MailboxError(
                    f"{where}: STARTTLS failed ({_why(exc)}); refusing to continue in plaintext"
                ) from exc
        try:
            client.login(account.username, account.password)
        except LoginError as exc:
            raise MailboxAuthError(
                f"{where}: login as {account.username} refused: {_why(exc)}"
            ) from exc
        info = client.select_folder(account.folder, readonly=readonly)
        return client, int(info[b"UIDVALIDITY"])
    except MailboxError:
        _quietly_close(client)
        raise
    except (OSError, IMAPClientError) as exc:
        _quietly_close(client)
        raise MailboxError(f"{where}: {_why(exc)}") from exc


# A reader's connection, kept per process between batches (and passes):
# (pid, client, UIDVALIDITY it was opened under).
_READERS: dict[Account, tuple[int, imapclient.IMAPClient, int]] = {}


@dataclass(frozen=True)
class ImapReader:
    """Fetches planned mails over a connection of its own (read-only, ``BODY.PEEK[]``)."""

    account: Account
    uidvalidity: int

    def read(self, batch: Sequence[Planned]) -> list[RawMail]:
        uids = [int(where) for _, where in batch]
        try:
            response = self._fetch(uids)
        except (OSError, IMAPClientError):
            # A connection kept from an earlier batch may have been dropped: one more try.
            self._drop()
            try:
                response = self._fetch(uids)
            except (OSError, IMAPClientError) as exc:
                self._drop()
                raise MailboxError(
                    f"IMAP {self.account.host}: reading {self.account.folder} failed: {_why(exc)}"
                ) from exc
        mails = []
        for (ref, _), uid in zip(batch, uids, strict=True):
            data = response.get(uid) or {}
            raw = data.get(b"BODY[]")
            if not isinstance(raw, bytes | bytearray):
                continue  # expunged since the plan was made
            arrived = data.get(b"INTERNALDATE")
            mails.append(
                RawMail(
                    bytes(raw),
                    ref,
                    _aware(arrived) if isinstance(arrived, dt.datetime) else None,
                    f"uid {uid}",
                )
            )
        return mails

    def _fetch(self, uids: list[int]) -> dict[int, dict[bytes, object]]:
        kept = _READERS.get(self.account)
        if kept is not None and kept[0] == os.getpid() and kept[2] != self.uidvalidity:
            self._drop()  # opened under an older numbering of the folder
            kept = None
        if kept is None or kept[0] != os.getpid():  # never a connection of the parent's
            client, validity = _login(self.account, readonly=True)
            if validity != self.uidvalidity:
                _quietly_close(client)
                raise MailboxError(
                    f"IMAP {self.account.host}: {self.account.folder} was renumbered "
                    "(UIDVALIDITY changed); reading it again"
                )
            _READERS[self.account] = kept = (os.getpid(), client, validity)
        return kept[1].fetch(uids, ["BODY.PEEK[]", "INTERNALDATE"])  # type: ignore[no-any-return]

    def _drop(self) -> None:
        kept = _READERS.pop(self.account, None)
        if kept is not None and kept[0] == os.getpid():
            _quietly_close(kept[1])


def _batches(uids: list[int], sizes: dict[int, dict[bytes, object]]) -> list[list[int]]:
    def size(uid: int) -> int:
        value = sizes[uid].get(b"RFC822.SIZE", 0)
        return value if isinstance(value, int) else 0

    return batched(uids, [size(uid) for uid in uids])


def _aware(moment: dt.datetime) -> dt.datetime:
    # imapclient returns INTERNALDATE as a naive local-time datetime unless told otherwise.
    return moment.astimezone(dt.UTC) if moment.tzinfo else moment.astimezone().astimezone(dt.UTC)


def _why(exc: BaseException) -> str:
    if isinstance(exc, socket.timeout):
        return "timed out"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    text = (str(exc) or type(exc).__name__).strip("b'\"")
    if "OVERQUOTA" in text.upper():
        return f"the mailbox is over its quota ({text})"
    return text


def _quietly_close(client: imapclient.IMAPClient) -> None:
    # The connection is being dropped anyway: whatever goes wrong saying goodbye is moot.
    try:
        client.logout()
    except Exception:
        with contextlib.suppress(Exception):
            client.shutdown()
