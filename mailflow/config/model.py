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
    idle: bool = True  # wait for mail with IMAP IDLE when the server offers it
    idle_seconds: int = 600  # re-issue IDLE at least this often (RFC 2177: under 29 minutes)
    # The desk this mailbox serves: its tickets' mail goes out from this address and name, and
    # with a group every ticket it opens goes to that group (peers' "destination group").
    address: str = ""
    name: str = ""
    group: str = ""

    @property
    def identity(self) -> str:
        """Which mailbox this is, the same whichever config file names it (its lock's name;
        two tables naming one mailbox are refused)."""
        if self.kind == "imap":
            return f"imap:{self.host.lower()}:{self.port}:{self.username}:{self.folder}"
        return f"maildir:{self.path.resolve()}"


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


CLOCKS = ("24x7", "business")
SLA_CLOCK_DEFAULT = {"urgent": "24x7", "high": "business", "medium": "business", "low": "business"}


@dataclass(frozen=True)
class SlaTarget:
    """One priority's targets, in minutes of its clock (wall-clock or working time)."""

    respond_minutes: int
    resolve_minutes: int
    update_minutes: int = 0  # 0: no update interval
    clock: str = "business"  # "24x7" | "business"


@dataclass(frozen=True)
class SlaOverride:
    """Targets for a group and/or category (and optionally one priority); unset fields inherit."""

    group: str | None
    category: str | None
    priority: str | None
    respond_minutes: int | None
    resolve_minutes: int | None
    update_minutes: int | None
    clock: str | None

    def matches(self, priority: str, group: str | None, category: str | None) -> bool:
        return (
            (self.priority is None or self.priority == priority)
            and (self.group is None or self.group == group)
            and (self.category is None or self.category == category)
        )

    @property
    def specificity(self) -> int:
        return (
            (self.group is not None) * 2
            + (self.category is not None) * 2
            + (self.priority is not None)
        )


@dataclass(frozen=True)
class SlaConfig:
    targets: Mapping[str, SlaTarget]
    overrides: tuple[SlaOverride, ...] = ()
    warn_ratio: float = 0.75
    second_level_ratio: float = 2.0
    head: str = ""  # the head of support: told at second_level_ratio of a target
    pause_when_waiting: bool = True
    sweep_seconds: int = 30

    def __getitem__(self, priority: str) -> SlaTarget:
        return self.targets[priority]

    def target(self, priority: str, group: str | None, category: str | None) -> SlaTarget:
        """The targets for a ticket: the most specific matching override over the priority's."""
        base = self.targets[priority]
        found = [o for o in self.overrides if o.matches(priority, group, category)]
        if not found:
            return base
        best = max(found, key=lambda o: o.specificity)  # max keeps the first of equals
        return SlaTarget(
            respond_minutes=best.respond_minutes or base.respond_minutes,
            resolve_minutes=best.resolve_minutes or base.resolve_minutes,
            update_minutes=base.update_minutes
            if best.update_minutes is None
            else best.update_minutes,
            clock=best.clock or base.clock,
        )


Interval = tuple[dt.time, dt.time]
DEFAULT_HOURS: Mapping[str, tuple[Interval, ...]] = {
    day: ((dt.time(9), dt.time(12)), (dt.time(13), dt.time(18)))
    for day in ("mon", "tue", "wed", "thu", "fri")
} | {"sat": (), "sun": ()}


@dataclass(frozen=True)
class CalendarConfig:
    """Working hours per weekday, and where public holidays and make-up working days come from."""

    holidays_from: str = "chinese-calendar"  # chinese-calendar | holidays | none
    country: str = "CN"  # for holidays_from = "holidays"
    hours: Mapping[str, tuple[Interval, ...]] = field(default_factory=lambda: DEFAULT_HOURS)
    holidays: frozenset[dt.date] = frozenset()  # extra days off; always win
    workdays: frozenset[dt.date] = frozenset()  # extra (make-up) working days; always win
    complete_years: frozenset[int] = frozenset()  # years the two lists above cover in full


@dataclass(frozen=True)
class ReportsConfig:
    """Who gets the weekly and monthly reports, and when (support time zone)."""

    weekly_to: tuple[str, ...] = ()
    monthly_to: tuple[str, ...] = ()
    weekly_day: int = 0  # Monday
    weekly_time: dt.time = dt.time(9, 0)
    monthly_day: int = 1
    monthly_time: dt.time = dt.time(9, 0)
    for_requesters: bool = False
    language: str = ""  # "": the support language
    font: str = ""  # a font file with Chinese characters; "": found among installed fonts


@dataclass(frozen=True)
class KbConfig:
    """The knowledge base: how requests are matched to articles, and who is offered them."""

    match_new_tickets: bool = True  # search every new ticket against the published articles
    offer_to_requester: bool = False  # known-issue steps in the acknowledgement
    match_score: float = 0.35  # from 0 to 1; bench/kb_match.py measures what it gives
    max_linked: int = 3  # articles listed in the handler's assignment mail
    segmenter: str = "both"  # Chinese words: both (jieba + character pairs), jieba, bigram


@dataclass(frozen=True)
class OperationsConfig:
    alarm_to: tuple[str, ...] = ()  # operators told about what needs a person (calendar gaps)


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
    escalate_to: str = ""  # the group a breached ticket is handed on to; "": none


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
    # Files attached to the handler's assignment mail, up to this much in all; the rest are
    # named there and kept with the ticket (mail servers refuse large mails, often over 10-25 MB).
    forward_mb: int = 10


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
    sla: SlaConfig
    calendar: CalendarConfig = field(default_factory=CalendarConfig)
    operations: OperationsConfig = field(default_factory=OperationsConfig)
    reports: ReportsConfig = field(default_factory=ReportsConfig)
    kb: KbConfig = field(default_factory=KbConfig)
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
    # Every mailbox read (``[[mailbox]]``); ``mailbox`` is the first. Empty: just ``mailbox``.
    mailboxes: tuple[MailboxConfig, ...] = ()

    @property
    def desks(self) -> tuple[MailboxConfig, ...]:
        """Every mailbox read, each with its address and name filled in."""
        return self.mailboxes or (self.mailbox,)

    def mailbox_at(self, address: str | None) -> MailboxConfig | None:
        """The mailbox whose desk address is ``address`` (any case)."""
        wanted = (address or "").strip().lower()
        return next((box for box in self.mailboxes if wanted and box.address == wanted), None)

    def desk(self, address: str | None) -> tuple[str, str]:
        """The name and address mail about a ticket received at ``address`` goes out with: that
        mailbox's, or the support address's for the first mailbox, the CLI and old tickets."""
        box = self.mailbox_at(address)
        if box is not None:
            return box.name or self.support.name, box.address
        return self.support.name, self.support.address

    @property
    def own_addresses(self) -> frozenset[str]:
        """The addresses mail from which is our own (a loop)."""
        return frozenset({self.support.address, *(b.address for b in self.mailboxes if b.address)})

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
