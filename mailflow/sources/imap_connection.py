"""One IMAP connection: logging in (TLS verified), and the picklable reader a parse worker uses
to fetch its batch over a connection of its own."""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import os
import socket
import ssl
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import imapclient
from imapclient.exceptions import IMAPClientError, LoginError

from mailflow.errors import MailboxAuthError, MailboxError
from mailflow.sources import Planned, RawMail, batched
from mailflow.tls import tls_context, tls_problem

log = logging.getLogger(__name__)


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


_TRACE = logging.getLogger("imapclient.imaplib")


def login(account: Account, readonly: bool = False) -> tuple[imapclient.IMAPClient, int]:
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
        raise MailboxError(f"{where}: cannot connect: {why(exc)}") from exc
    if not _TRACE.isEnabledFor(logging.DEBUG):
        # imapclient sets imaplib's tracing to its most verbose, and imaplib formats every
        # response for it (a fetched mail's repr, then the line around it) before the logger
        # drops the line: three times a large mail in memory, for nothing.
        client._imap.debug = 0
    try:
        if account.security == "starttls":
            try:
                client.starttls(context or tls_context(account.ca_file))
            except ssl.SSLError as exc:
                raise MailboxError(f"{where}: STARTTLS failed: {tls_problem(exc)}") from exc
            except IMAPClientError as exc:
                raise MailboxError(
                    f"{where}: STARTTLS failed ({why(exc)}); refusing to continue in plaintext"
                ) from exc
        try:
            client.login(account.username, account.password)
        except LoginError as exc:
            raise MailboxAuthError(
                f"{where}: login as {account.username} refused: {why(exc)}"
            ) from exc
        info = client.select_folder(account.folder, readonly=readonly)
        return client, int(info[b"UIDVALIDITY"])
    except MailboxError:
        quietly_close(client)
        raise
    except (OSError, IMAPClientError) as exc:
        quietly_close(client)
        raise MailboxError(f"{where}: {why(exc)}") from exc


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
                    f"IMAP {self.account.host}: reading {self.account.folder} failed: {why(exc)}"
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
                    aware(arrived) if isinstance(arrived, dt.datetime) else None,
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
            client, validity = login(self.account, readonly=True)
            if validity != self.uidvalidity:
                quietly_close(client)
                raise MailboxError(
                    f"IMAP {self.account.host}: {self.account.folder} was renumbered "
                    "(UIDVALIDITY changed); reading it again"
                )
            _READERS[self.account] = kept = (os.getpid(), client, validity)
        else:
            # A kept connection sees the folder as of its last sync: mail the plan found since
            # then would come back empty, as if expunged, and be skipped. A NOOP syncs it.
            kept[1].noop()
        return kept[1].fetch(uids, ["BODY.PEEK[]", "INTERNALDATE"])  # type: ignore[no-any-return]

    def _drop(self) -> None:
        kept = _READERS.pop(self.account, None)
        if kept is not None and kept[0] == os.getpid():
            quietly_close(kept[1])


def batches(uids: list[int], sizes: dict[int, dict[bytes, object]]) -> list[list[int]]:
    def size(uid: int) -> int:
        value = sizes[uid].get(b"RFC822.SIZE", 0)
        return value if isinstance(value, int) else 0

    return batched(uids, [size(uid) for uid in uids])


def aware(moment: dt.datetime) -> dt.datetime:
    # imapclient returns INTERNALDATE as a naive local-time datetime unless told otherwise.
    return moment.astimezone(dt.UTC) if moment.tzinfo else moment.astimezone().astimezone(dt.UTC)


def why(exc: BaseException) -> str:
    if isinstance(exc, socket.timeout):
        return "timed out"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    text = (str(exc) or type(exc).__name__).strip("b'\"")
    if "OVERQUOTA" in text.upper():
        return f"the mailbox is over its quota ({text})"
    return text


def quietly_close(client: imapclient.IMAPClient) -> None:
    # The connection is being dropped anyway: whatever goes wrong saying goodbye is moot.
    try:
        client.logout()
    except Exception:
        with contextlib.suppress(Exception):
            client.shutdown()
