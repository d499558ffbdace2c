"""The sections about where mail comes from and goes to, where things are kept, and limits."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from mailflow.config.model import (
    LANGUAGES,
    SECURITY,
    LimitsConfig,
    LoopConfig,
    MailboxConfig,
    SmtpConfig,
    SupportConfig,
)
from mailflow.config.reader import _address, _resolve, _Section
from mailflow.errors import ConfigError


def _support(s: _Section) -> SupportConfig:
    tz_name = s.text("timezone", "Asia/Shanghai")
    try:
        ZoneInfo(tz_name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(s.key("timezone"), f"unknown time zone {tz_name!r}") from None
    prefix = s.text("ticket_prefix", "TS")
    if not re.fullmatch(r"[A-Z]{1,8}", prefix):
        raise ConfigError(s.key("ticket_prefix"), "must be 1 to 8 capital letters A-Z")
    support = SupportConfig(
        address=_address(s, "address", "support@example.com"),
        name=s.text("name", "IT Support"),
        timezone=tz_name,
        language=s.choice("language", LANGUAGES, "zh_CN"),
        ticket_prefix=prefix,
        show_handler_address=bool(s.get("show_handler_address", bool, False)),
    )
    s.finish()
    return support


def _endpoint(
    s: _Section, network: str, local: str, ports: dict[str, int]
) -> tuple[str, str, int, str]:
    """kind, security, port (defaulting by security) and host of a server section."""
    kind = s.choice("kind", (network, local), local)
    security = s.choice("security", SECURITY, "ssl")
    port = s.integer("port", ports[security], 1, 65535)
    host = s.text("host", "")
    if kind == network and not host:
        raise ConfigError(s.key("host"), f'is required when kind = "{network}"')
    return kind, security, port, host


def _mailboxes(root: _Section, support: SupportConfig) -> tuple[MailboxConfig, ...]:
    """``[mailbox]`` (one desk, the support address's) or ``[[mailbox]]`` (one per desk, each
    with its own ``address``)."""
    root.used.add("mailbox")
    raw = root.data.get("mailbox", {})
    if isinstance(raw, dict):
        return (_mailbox(_Section(raw, "mailbox", root.base), support, True),)
    if not isinstance(raw, list) or not raw:
        raise ConfigError("mailbox", "must be a table [mailbox] or one or more [[mailbox]]")
    boxes = [
        _mailbox(_Section(item, f"mailbox[{i}]", root.base), support, len(raw) == 1)
        for i, item in enumerate(raw)
    ]
    for i, box in enumerate(boxes):
        for earlier in boxes[:i]:
            if box.address == earlier.address:
                raise ConfigError(f"mailbox[{i}].address", f"{box.address} is another's too")
            if box.identity == earlier.identity:
                raise ConfigError(f"mailbox[{i}]", f"reads {box.identity}, as another does")
    return tuple(boxes)


def _mailbox(s: _Section, support: SupportConfig, only: bool) -> MailboxConfig:
    """One mailbox; ``only``: the address may default to the support address."""
    if not only and "address" not in s.data:
        raise ConfigError(s.key("address"), "is required when there are several [[mailbox]]")
    kind, security, port, host = _endpoint(
        s, "imap", "maildir", {"ssl": 993, "starttls": 143, "none": 143}
    )
    since_raw = s.text("first_run_since", "")
    since: dt.date | None = None
    if since_raw:
        try:
            since = dt.date.fromisoformat(since_raw)
        except ValueError:
            raise ConfigError(s.key("first_run_since"), "must be a date like 2026-01-31") from None
    folder = s.text("folder", "INBOX")
    processed = s.text("processed_folder", "")
    if processed and processed == folder:
        raise ConfigError(s.key("processed_folder"), "must differ from mailbox.folder")
    mailbox = MailboxConfig(
        kind=kind,
        host=host,
        port=port,
        security=security,
        username=s.text("username", ""),
        password=s.secret("password", "MAILFLOW_IMAP_PASSWORD"),
        folder=folder,
        processed_folder=processed,
        quarantine_folder=s.text("quarantine_folder", ""),
        path=s.path("path", "var/maildir"),
        poll_seconds=s.integer("poll_seconds", 30, 1, 86400),
        ca_file=s.optional_path("ca_file"),
        timeout_seconds=s.integer("timeout_seconds", 60, 1, 3600),
        first_run=s.choice("first_run", ("unseen", "new", "all"), "unseen"),
        first_run_since=since,
        idle=bool(s.get("idle", bool, True)),
        idle_seconds=s.integer("idle_seconds", 600, 10, 1740),
        address=_address(s, "address", support.address if only else ""),
        name=s.text("name", support.name),
        group=s.text("group", ""),
    )
    if kind == "imap" and not mailbox.username:
        raise ConfigError(s.key("username"), 'is required when kind = "imap"')
    if mailbox.ca_file is not None and not mailbox.ca_file.is_file():
        raise ConfigError(s.key("ca_file"), f"no such file: {mailbox.ca_file}")
    s.finish()
    return mailbox


def _smtp(s: _Section) -> SmtpConfig:
    kind, security, port, host = _endpoint(
        s, "smtp", "maildir", {"ssl": 465, "starttls": 587, "none": 25}
    )
    smtp = SmtpConfig(
        kind=kind,
        host=host,
        port=port,
        security=security,
        username=s.text("username", ""),
        password=s.secret("password", "MAILFLOW_SMTP_PASSWORD"),
        path=s.path("path", "var/sent"),
        ca_file=s.optional_path("ca_file"),
        timeout_seconds=s.integer("timeout_seconds", 60, 1, 3600),
        max_attempts=s.integer("max_attempts", 12, 1, 1000),
        retry_base_seconds=s.integer("retry_base_seconds", 30, 1, 86400),
        retry_max_seconds=s.integer("retry_max_seconds", 3600, 1, 7 * 86400),
    )
    if smtp.ca_file is not None and not smtp.ca_file.is_file():
        raise ConfigError(s.key("ca_file"), f"no such file: {smtp.ca_file}")
    s.finish()
    return smtp


def _database_url(s: _Section, base: Path) -> str:
    url = s.text("url", "sqlite:///var/mailflow.db")
    scheme = url.split(":", 1)[0]
    if scheme not in ("sqlite", "postgresql", "postgres"):
        raise ConfigError(s.key("url"), f"unsupported database {scheme!r} (sqlite or postgresql)")
    if scheme == "sqlite":
        path = url[len("sqlite:///") :] if url.startswith("sqlite:///") else ""
        if not path:
            raise ConfigError(s.key("url"), "must look like sqlite:///var/mailflow.db")
        if path != ":memory:":
            url = "sqlite:///" + str(_resolve(base, path))
    return url


def _limits(s: _Section) -> LimitsConfig:
    limits = LimitsConfig(
        max_attachment_mb=s.integer("max_attachment_mb", 20, 1, 2048),
        max_attachments_total_mb=s.integer("max_attachments_total_mb", 50, 1, 4096),
        max_attachments=s.integer("max_attachments", 50, 1, 10000),
        max_mail_mb=s.integer("max_mail_mb", 100, 1, 4096),
        forward_mb=s.integer("forward_mb", 10, 0, 1024),
    )
    s.finish()
    return limits


def _loops(s: _Section) -> LoopConfig:
    loops = LoopConfig(
        max_per_address_per_hour=s.integer("max_per_address_per_hour", 5, 1, 1000),
    )
    s.finish()
    return loops


def _storage(s: _Section) -> Path:
    path = s.path("path", "var/store")
    s.finish()
    return path


def _templates(s: _Section) -> Path | None:
    path = s.optional_path("path")
    if path is not None and not path.is_dir():
        raise ConfigError(s.key("path"), f"no such folder: {path}")
    s.finish()
    return path
