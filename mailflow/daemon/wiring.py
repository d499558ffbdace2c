"""Building the daemon's parts from the configuration: the mail source, the transport, the
database and stores (``Services``), and the clock."""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Callable
from typing import Any

from mailflow.config import Config, MailboxConfig
from mailflow.delivery.rendering import Renderer
from mailflow.delivery.transports import MaildirTransport, SmtpTransport, Transport
from mailflow.services import Services
from mailflow.sources import Mailbox
from mailflow.sources.imap import ImapSource
from mailflow.sources.maildir import MaildirSource
from mailflow.store.blobs import BlobStore
from mailflow.store.database import open_database
from mailflow.store.schema import init_schema

Clock = Callable[[], dt.datetime]


def system_clock() -> dt.datetime:
    """Now, in UTC."""
    return dt.datetime.now(dt.UTC)


def build_mailboxes(config: Config, environ: dict[str, str] | Any) -> list[Mailbox]:
    """Every configured mail source, in the order of ``config.desks``."""
    return [build_mailbox(config, environ, desk) for desk in config.desks]


def build_mailbox(
    config: Config, environ: dict[str, str] | Any, mb: MailboxConfig | None = None
) -> Mailbox:
    """The configured mail source (``mb``, else the first)."""
    mb = mb or config.mailbox
    if mb.kind == "imap":
        source = ImapSource(
            mb.host,
            mb.port,
            mb.security,
            mb.username,
            lambda: mb.password.resolve(environ),
            mb.folder,
            mb.processed_folder,
            mb.quarantine_folder,
            mb.ca_file,
            mb.timeout_seconds,
            mb.first_run,
            mb.first_run_since,
            config.support.tz,
        )
        source.idle, source.idle_seconds = mb.idle, float(mb.idle_seconds)
        return source
    return MaildirSource(
        mb.path,
        mb.processed_folder,
        mb.quarantine_folder,
        mb.first_run,
        mb.first_run_since,
        config.support.tz,
    )


def build_transport(config: Config, environ: dict[str, str] | Any) -> Transport:
    """The configured outgoing transport."""
    smtp = config.smtp
    if smtp.kind == "smtp":
        return SmtpTransport(
            smtp.host,
            smtp.port,
            smtp.security,
            smtp.username,
            lambda: smtp.password.resolve(environ),
            smtp.ca_file,
            smtp.timeout_seconds,
        )
    return MaildirTransport(smtp.path)


def open_services(config: Config, token: Callable[[], str] | None = None) -> Services:
    """Open the database (creating or upgrading the schema) and the stores."""
    db = open_database(config.database_url, config.database_busy_seconds)
    init_schema(db)
    renderer = Renderer(config.templates_path, config.support.tz)
    return Services(
        config,
        db,
        BlobStore(config.storage_path),
        renderer,
        token or (lambda: secrets.token_hex(8)),
    )
