"""The settings as frozen, validated values (what the rest of mailflow reads)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo

from mailflow.errors import ConfigError

PRIORITIES = ("urgent", "high", "medium", "low")
LANGUAGES = ("zh_CN", "en")
SECURITY = ("ssl", "starttls", "none")

# Response and resolution targets per priority, in minutes. urgent and high come from the spec
# (15 min / 2 h, 30 min / 4 h); the spec says "etc." for the rest, so medium and low are our choice:
# a working morning to respond and a day to resolve, a working day to respond and a week to resolve.
DEFAULT_SLA = {
    "urgent": (15, 120),
    "high": (30, 240),
    "medium": (240, 1440),
    "low": (1440, 10080),
}


@dataclass(frozen=True)
class Secret:
    """A password given inline or, better, by the name of an environment variable."""

    key: str
    value: str
    env: str

    def resolve(self, environ: Mapping[str, str]) -> str:
        """Return the password, or raise ConfigError naming the key that should provide it."""
        if self.env:
            if self.env in environ:
                return environ[self.env]
            if not self.value:
                raise ConfigError(f"{self.key}_env", f"environment variable {self.env} is not set")
        return self.value


@dataclass(frozen=True)
class SupportConfig:
    address: str
    name: str
    timezone: str
    language: str
    ticket_prefix: str
    # Requesters see the handler's name masked (王*, spec step 3) and never their address,
    # unless this is on: then the address is shown too, for desks that want direct contact.
    show_handler_address: bool = False

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def domain(self) -> str:
        return self.address.rsplit("@", 1)[1]


@dataclass(frozen=True)
class MailboxConfig:
    kind: str
    host: str
    port: int
    security: str
    username: str
    password: Secret
    folder: str
    processed_folder: str
    quarantine_folder: str
    path: Path
    poll_seconds: int
    ca_file: Path | None
    timeout_seconds: int
    first_run: str
    first_run_since: dt.date | None


@dataclass(frozen=True)
class SmtpConfig:
    kind: str
    host: str
    port: int
    security: str
    username: str
    password: Secret
    path: Path
    ca_file: Path | None
    timeout_seconds: int
    max_attempts: int
    retry_base_seconds: int
    retry_max_seconds: int


@dataclass(frozen=True)
class SlaTarget:
    respond_minutes: int
    resolve_minutes: int


ROLES = ("engineer", "supervisor", "service_desk")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True)
class Person:
    name: str
    email: str
    role: str
    groups: tuple[str, ...]
    away: bool


@dataclass(frozen=True)
class Group:
    name: str
    supervisor: str
    categories: tuple[str, ...]
    priorities: tuple[str, ...]
    default: bool


@dataclass(frozen=True)
class Duty:
    supervisor: str
    days: tuple[str, ...]
    start: dt.time
    end: dt.time


@dataclass(frozen=True)
class RuleConfig:
    name: str
    keywords: tuple[str, ...]
    subject: tuple[str, ...]
    senders: tuple[str, ...]
    recipients: tuple[str, ...]
    priority: str | None
    category: str | None


@dataclass(frozen=True)
class LimitsConfig:
    max_attachment_mb: int
    max_attachments_total_mb: int
    max_attachments: int
    max_mail_mb: int = 100


@dataclass(frozen=True)
class LoopConfig:
    max_per_address_per_hour: int


@dataclass(frozen=True)
class Config:
    support: SupportConfig
    database_url: str
    database_busy_seconds: int
    storage_path: Path
    mailbox: MailboxConfig
    smtp: SmtpConfig
    templates_path: Path | None
    sla: Mapping[str, SlaTarget]
    loops: LoopConfig = field(default_factory=lambda: LoopConfig(5))
    limits: LimitsConfig = field(default_factory=lambda: LimitsConfig(20, 50, 50))
    rules: tuple[RuleConfig, ...] | None = None  # None: the built-in grading rules
    people: tuple[Person, ...] = ()
    groups: tuple[Group, ...] = ()
    duty: tuple[Duty, ...] = ()
    assignment_strategy: str = "fewest_open"
    authserv_id: str = ""  # trust staff commands only with DKIM/SPF pass from this server
    confirm_days: int = 3  # a resolved ticket nobody answers for is closed after this
    reopen_days: int = 7  # a reply to a closed ticket reopens it within this; later: new ticket
    parse_workers: int = -1  # processes parsing mail beside the main one; -1: CPUs - 1 (<= 4)

    def person(self, email: str) -> Person | None:
        """The configured person with this address."""
        return next((p for p in self.people if p.email == email.lower()), None)

    def group(self, name: str | None) -> Group | None:
        """The configured group of this name."""
        return next((g for g in self.groups if g.name == name), None)

    def supervisor_of(self, group_name: str | None) -> Person | None:
        """The configured supervisor of a group, if it has one."""
        group = self.group(group_name)
        return self.person(group.supervisor) if group and group.supervisor else None

    source: Path | None = field(default=None, compare=False)
