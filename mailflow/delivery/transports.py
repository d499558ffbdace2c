"""Where outgoing mail goes: an SMTP server, or a local Maildir (embedded default, demo).

A ``Transport`` sends one message at a time and classifies failures: ``TransientDeliveryError``
(4xx, connection trouble: the outbox retries with backoff) or ``PermanentDeliveryError`` (5xx for
every recipient). Authentication failure is a ``DeliveryError`` of its own kind so the operator
sees it as such rather than as a flaky network.
"""

from __future__ import annotations

import os
import re
import smtplib
import socket
import ssl
import time
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from mailflow.errors import (
    PermanentDeliveryError,
    ServerUnreachable,
    SmtpAuthError,
    TransientDeliveryError,
)
from mailflow.tls import tls_context, tls_problem


class Transport(Protocol):
    def send(self, raw: bytes, mail_from: str, recipients: list[str]) -> list[str]:
        """Hand one message over; return recipients refused while others took it.

        Raise a DeliveryError subclass when nobody took it.
        """
        ...

    def close(self) -> None:
        """Drop any connection."""
        ...


class SmtpTransport:
    """SMTP with ssl / starttls / none; one connection reused for a whole outbox flush."""

    def __init__(
        self,
        host: str,
        port: int,
        security: str,
        username: str,
        password: Callable[[], str],
        ca_file: Path | None,
        timeout: float,
        local_hostname: str | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.security = security
        self.username = username
        self.password = password
        self.ca_file = ca_file
        self.timeout = timeout
        self.local_hostname = local_hostname
        self._conn: smtplib.SMTP | None = None

    def connect(self) -> smtplib.SMTP:
        if self._conn is not None:
            return self._conn
        where = f"SMTP {self.host}:{self.port}"
        context = tls_context(self.ca_file) if self.security != "none" else None
        try:
            conn: smtplib.SMTP
            if self.security == "ssl":
                conn = smtplib.SMTP_SSL(
                    self.host,
                    self.port,
                    timeout=self.timeout,
                    context=context,
                    local_hostname=self.local_hostname,
                )
            else:
                conn = smtplib.SMTP(
                    self.host, self.port, timeout=self.timeout, local_hostname=self.local_hostname
                )
            conn.ehlo()
            if self.security == "starttls":
                if not conn.has_extn("starttls"):
                    conn.close()
                    raise ServerUnreachable(
                        f"{where}: server does not offer STARTTLS; refusing to send in plaintext"
                    )
                conn.starttls(context=context)
                conn.ehlo()
            if self.username:
                conn.login(self.username, self.password())
        except smtplib.SMTPAuthenticationError as exc:
            raise SmtpAuthError(
                f"{where}: login as {self.username} refused: {_reply(exc)}"
            ) from exc
        except ssl.SSLError as exc:
            raise ServerUnreachable(f"{where}: TLS failed: {tls_problem(exc)}") from exc
        except (OSError, smtplib.SMTPException) as exc:
            raise ServerUnreachable(f"{where}: cannot connect: {_reply(exc)}") from exc
        self._conn = conn
        return conn

    def send(self, raw: bytes, mail_from: str, recipients: list[str]) -> list[str]:
        conn = self.connect()
        options = self._mail_options(conn, raw, mail_from, recipients)
        try:
            refused = conn.sendmail(mail_from, recipients, raw, mail_options=options)
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            text = "; ".join(
                f"{rcpt}: {code} {_text(msg)}" for rcpt, (code, msg) in exc.recipients.items()
            )
            if all(code >= 500 for code in codes):
                raise PermanentDeliveryError(f"recipients refused: {text}") from exc
            raise TransientDeliveryError(f"recipients deferred: {text}") from exc
        except (smtplib.SMTPSenderRefused, smtplib.SMTPDataError) as exc:
            if exc.smtp_code >= 500:
                raise PermanentDeliveryError(
                    f"refused: {exc.smtp_code} {_text(exc.smtp_error)}"
                ) from exc
            self.close()
            raise TransientDeliveryError(
                f"deferred: {exc.smtp_code} {_text(exc.smtp_error)}"
            ) from exc
        except (ValueError, UnicodeError, smtplib.SMTPNotSupportedError) as exc:
            # smtplib refused the values themselves (a line break in an address, a character
            # the dialogue cannot carry): no retry can help. The dialogue may stand mid-way
            # through a transaction, so the connection goes too.
            self.close()
            raise PermanentDeliveryError(f"cannot be sent: {type(exc).__name__}: {exc}") from exc
        except (OSError, smtplib.SMTPException) as exc:
            self.close()
            raise ServerUnreachable(f"SMTP {self.host}: {_reply(exc)}") from exc
        # Some recipients took it: the refused ones are reported, not retried (that would send
        # the others a duplicate).
        return [f"{rcpt}: {code} {_text(msg)}" for rcpt, (code, msg) in refused.items()]

    def _mail_options(
        self, conn: smtplib.SMTP, raw: bytes, mail_from: str, recipients: list[str]
    ) -> list[str]:
        """SMTPUTF8 (RFC 6531) when an address or a header is not ASCII; refused for good when
        the server does not offer it, since no retry will make it."""
        if raw.isascii() and mail_from.isascii() and all(r.isascii() for r in recipients):
            return []
        if not conn.has_extn("smtputf8"):
            wide = [a for a in (mail_from, *recipients) if not a.isascii()]
            raise PermanentDeliveryError(
                f"SMTP {self.host} does not offer SMTPUTF8, which "
                + (
                    f"the internationalised address {', '.join(wide)} needs"
                    if wide
                    else "this mail's UTF-8 headers need"
                )
            )
        return ["SMTPUTF8", "BODY=8BITMIME"] if conn.has_extn("8bitmime") else ["SMTPUTF8"]

    def check(self) -> str:
        self.connect()
        self.close()
        auth = f"login as {self.username}" if self.username else "no login"
        return f"SMTP {self.host}:{self.port} ({self.security}) {auth} ok"

    def close(self) -> None:
        if self._conn is not None:
            try:
                self._conn.quit()
            except (OSError, smtplib.SMTPException):
                self._conn.close()
        self._conn = None


class MaildirTransport:
    """Writes each outgoing mail into a local Maildir's ``new/`` (for the demo and for tests)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._counter = 0

    def send(self, raw: bytes, mail_from: str, recipients: list[str]) -> list[str]:
        try:
            for sub in ("tmp", "new", "cur"):
                (self.path / sub).mkdir(parents=True, exist_ok=True)
            self._counter += 1
            name = f"{time.time_ns()}.{os.getpid()}_{self._counter}.{socket.gethostname()}"
            envelope = (
                f"X-Mailflow-Envelope-From: {mail_from}\r\n"
                f"X-Mailflow-Envelope-To: {', '.join(recipients)}\r\n"
            ).encode()
            tmp = self.path / "tmp" / name
            with open(tmp, "wb") as handle:
                handle.write(envelope + raw)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, self.path / "new" / name)
        except OSError as exc:
            raise TransientDeliveryError(f"maildir {self.path}: {exc.strerror or exc}") from exc
        return []

    def check(self) -> str:
        self.send(b"", "check@localhost", [])
        newest = sorted((self.path / "new").iterdir())[-1]
        newest.unlink()
        return f"outgoing Maildir {self.path} writable"

    def close(self) -> None:
        pass


def _text(value: bytes | str) -> str:
    text = value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
    if re.search(r"\b[45]\.2\.2\b", text) or "quota" in text.lower():
        # A full mailbox is the recipient's problem, not a network one: say so.
        return f"recipient's mailbox is full ({text})"
    return text


def _reply(exc: BaseException) -> str:
    if isinstance(exc, smtplib.SMTPResponseException):
        return f"{exc.smtp_code} {_text(exc.smtp_error)}"
    if isinstance(exc, socket.timeout):
        return "timed out"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    return str(exc) or type(exc).__name__
