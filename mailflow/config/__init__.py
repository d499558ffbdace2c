"""Load the TOML configuration into frozen, validated settings.

Every problem is reported as one ``ConfigError`` naming the key (``mailbox.port: must be an integer
between 1 and 65535``). Unknown keys are errors too: a typo must not silently fall back to a
default. Relative paths are taken relative to the folder of the config file.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mailflow.config.knowledge import _kb
from mailflow.config.model import (
    DEFAULT_SLA,
    LANGUAGES,
    PRIORITIES,
    ROLES,
    SECURITY,
    WEEKDAYS,
    CalendarConfig,
    Config,
    Duty,
    Group,
    LimitsConfig,
    LoopConfig,
    MailboxConfig,
    OperationsConfig,
    Person,
    RuleConfig,
    Secret,
    SlaConfig,
    SlaTarget,
    SmtpConfig,
    SupportConfig,
)
from mailflow.config.people import _assignment, _check_people, _duty, _groups, _people, _rules
from mailflow.config.reader import _Section
from mailflow.config.sections import (
    _database_url,
    _limits,
    _loops,
    _mailboxes,
    _smtp,
    _storage,
    _support,
    _templates,
)
from mailflow.config.service_levels import (
    _calendar,
    _operations,
    _reports,
    _sla,
    check_override_groups,
)
from mailflow.errors import ConfigError


def from_dict(data: dict[str, Any], base: Path, source: Path | None = None) -> Config:
    """Validate an already-parsed TOML document; ``base`` anchors relative paths."""
    root = _Section(data, "", base)
    support = _support(root.sub("support"))
    mailboxes = _mailboxes(root, support)
    config = Config(
        support=support,
        database_url=_database_url(database := root.sub("database"), base),
        database_busy_seconds=database.integer("busy_timeout_seconds", 30, 1, 3600),
        storage_path=_storage(root.sub("storage")),
        mailbox=mailboxes[0],
        mailboxes=mailboxes,
        smtp=_smtp(root.sub("smtp")),
        templates_path=_templates(root.sub("templates")),
        sla=_sla(root.sub("sla"), people := _people(root)),
        calendar=_calendar(root.sub("calendar")),
        operations=_operations(root.sub("operations")),
        reports=_reports(root.sub("reports")),
        kb=_kb(root.sub("kb")),
        loops=_loops(root.sub("loops")),
        limits=_limits(root.sub("limits")),
        rules=_rules(root),
        people=people,
        groups=(groups := _groups(root, people)),
        duty=_duty(root, people),
        assignment_strategy=_assignment(root.sub("assignment")),
        authserv_id=(security := root.sub("security")).text("authserv_id", ""),
        confirm_days=(process := root.sub("process")).integer("confirm_days", 3, 1, 365),
        reopen_days=process.integer("reopen_days", 7, 0, 3650),
        parse_workers=(performance := root.sub("performance")).integer("parse_workers", -1, -1, 64),
        source=source,
    )
    database.finish()
    process.finish()
    performance.finish()
    security.finish()
    root.finish()
    _check_people(config, groups)
    check_override_groups(config.sla, {g.name for g in groups})
    for i, box in enumerate(mailboxes):
        where = f"mailbox[{i}]" if len(mailboxes) > 1 else "mailbox"
        _refuse_self_loops(box, config.smtp, where)
        if box.group and config.group(box.group) is None:
            raise ConfigError(f"{where}.group", f"no [[groups]] entry is named {box.group!r}")
    return config


SENT_FOLDERS = {
    "sent",
    "sent items",
    "sent messages",
    "sent mail",
    "已发送",
    "已发送邮件",
    "寄件备份",
    "gesendet",
    "gesendete elemente",
    "[gmail]/sent mail",
}


def _refuse_self_loops(mb: MailboxConfig, smtp: SmtpConfig, where: str) -> None:
    """Refuse settings under which mailflow would read the mail it sends."""
    if (
        mb.kind == "maildir"
        and smtp.kind == "maildir"
        and (mb.path.resolve() == smtp.path.resolve())
    ):
        raise ConfigError("smtp.path", "is the incoming Maildir: mailflow would read its own mail")
    if mb.kind == "imap" and mb.folder.strip().lower().rsplit(".", 1)[-1] in SENT_FOLDERS | {
        f.rsplit("/", 1)[-1] for f in SENT_FOLDERS
    }:
        raise ConfigError(
            f"{where}.folder",
            f"{mb.folder!r} looks like a sent-mail folder: mailflow would read its own mail",
        )


def load(path: Path) -> Config:
    """Read and validate the config file at ``path``."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError("", f"no config file at {path}") from None
    except OSError as exc:
        raise ConfigError("", f"cannot read {path}: {exc.strerror}") from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError("", f"{path} is not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError("", f"{path} is not valid TOML: {exc}") from None
    return from_dict(data, path.resolve().parent, source=path)


def defaults(base: Path) -> Config:
    """The embedded defaults: SQLite, a local Maildir in and a local Maildir out, under ``base``."""
    return from_dict({}, base.resolve())


def locate(explicit: str | None, environ: Mapping[str, str], cwd: Path) -> Path | None:
    """The config file to use: ``-c``, then $MAILFLOW_CONFIG, then ./config.toml if present."""
    if explicit:
        return Path(explicit)
    if environ.get("MAILFLOW_CONFIG"):
        return Path(environ["MAILFLOW_CONFIG"])
    candidate = cwd / "config.toml"
    return candidate if candidate.exists() else None


def environ() -> Mapping[str, str]:
    """The process environment, as the one place config reads it from."""
    return os.environ


__all__ = [
    "DEFAULT_SLA",
    "LANGUAGES",
    "PRIORITIES",
    "ROLES",
    "SECURITY",
    "SENT_FOLDERS",
    "WEEKDAYS",
    "CalendarConfig",
    "Config",
    "Duty",
    "Group",
    "LimitsConfig",
    "LoopConfig",
    "MailboxConfig",
    "OperationsConfig",
    "Person",
    "RuleConfig",
    "Secret",
    "SlaConfig",
    "SlaTarget",
    "SmtpConfig",
    "SupportConfig",
    "defaults",
    "environ",
    "from_dict",
    "load",
    "locate",
]
