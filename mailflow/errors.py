"""Every exception mailflow raises on purpose, in one tree.

A ``MailflowError`` is something a person can meet; the CLI turns it into one line on stderr
and the exit code of its branch, never a traceback::

    MailflowError                         exit 1 (EX_FAILURE) unless a branch says otherwise
    ├── ConfigError                       exit 78 (EX_CONFIG): names the key
    │   └── TemplateError                 a mail template is missing or breaks a rule
    ├── InputError                        exit 65 (EX_DATAERR): the mail or value given is unusable
    │   ├── ParseError                    bytes that are no mail (quarantined)
    │   └── AddressError                  an address that must not be stored or written
    ├── WorkflowError                     exit 1: a ticket action that does not apply
    ├── StorageError                      exit 1; ingest 75 (EX_TEMPFAIL): the MTA retries
    │   └── LockBusy                      another writer holds the lock (asked not to wait)
    ├── MailboxError                      exit 1: the mail source cannot be read now
    │   └── MailboxAuthError              the server refused our credentials
    └── DeliveryError                     exit 1: an outgoing mail could not be handed over
        ├── SmtpAuthError                 the SMTP server refused our credentials
        ├── SenderGone                    the sending process died (its mails stay queued)
        ├── TransientDeliveryError        try again later (4xx, connection trouble)
        │   └── ServerUnreachable         no usable connection at all: the outbox waits
        └── PermanentDeliveryError        refused for good (5xx, a value no server takes)

``mailflow ingest`` answers the MTA 75 for every error but ``InputError`` (65): a mail is
retried rather than bounced whenever mailflow cannot keep it right now, a bad config included.
``cli.exit_code`` is the one place that maps branches to codes.
"""

from __future__ import annotations


class MailflowError(Exception):
    """Base of every error mailflow reports to a person."""


class ConfigError(MailflowError):
    """The configuration file is missing, unreadable or has a bad value."""

    def __init__(self, key: str, problem: str) -> None:
        self.key = key
        self.problem = problem
        super().__init__(f"config: {key}: {problem}" if key else f"config: {problem}")


class TemplateError(ConfigError):
    """A mail template is missing, does not render, or drops a required element."""

    def __init__(self, problem: str) -> None:
        super().__init__("", problem)
        self.args = (problem,)

    def __str__(self) -> str:
        return self.problem


class InputError(MailflowError):
    """What was given (a mail, an address) cannot be used as it is."""


class ParseError(InputError):
    """The bytes are not a mail we can read; the caller quarantines them."""


class AddressError(InputError, ValueError):
    """An address that must not be stored or written into a header; says why."""


class WorkflowError(MailflowError):
    """A ticket action was refused (unknown ticket, invalid value)."""


class StorageError(MailflowError):
    """The database or the file store cannot be used right now."""


class DatabaseError(StorageError):
    """The database server went away or refused the work; the pass stops, nothing is told to
    the mailbox, and it is tried again."""


class LockBusy(StorageError):
    """Another writer holds the write lock (only raised when asked not to wait)."""


class MailboxError(MailflowError):
    """The mailbox could not be reached or read; retrying later may help."""


class MailboxAuthError(MailboxError):
    """The mailbox server rejected the credentials; retrying will not help until they change."""


class DeliveryError(MailflowError):
    """An outgoing mail could not be delivered."""


class SmtpAuthError(DeliveryError):
    """The SMTP server refused our credentials."""


class SenderGone(DeliveryError):
    """The sending process died."""


class TransientDeliveryError(DeliveryError):
    """Delivery failed for a reason that may pass (4xx reply, connection trouble)."""


class ServerUnreachable(TransientDeliveryError):
    """No usable connection to the SMTP server (refused, timed out, TLS trouble)."""


class PermanentDeliveryError(DeliveryError):
    """The server refused the mail for good (5xx reply for every recipient)."""
