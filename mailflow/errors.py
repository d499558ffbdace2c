"""The exceptions mailflow raises on purpose.

Every error a user can cause or meet is a ``MailflowError``; the CLI turns one into a single line
and an exit code, never a traceback::

    MailflowError
    ├── ConfigError            bad or missing configuration; names the key
    ├── StorageError           database or file store unusable (locked, full, not writable)
    ├── MailboxError           the mail source cannot be read
    │   └── MailboxAuthError   the server refused our credentials (retrying will not help)
    ├── DeliveryError          an outgoing mail could not be handed to the SMTP server
    │   ├── TransientDeliveryError   try again later (4xx, connection trouble)
    │   └── PermanentDeliveryError   the server refused it for good (5xx)
    ├── TemplateError          a mail template is missing or breaks a rule
    └── WorkflowError          a ticket action that does not apply (unknown ticket, bad value)
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


class StorageError(MailflowError):
    """The database or the file store cannot be used right now."""


class MailboxError(MailflowError):
    """The mailbox could not be reached or read; retrying later may help."""


class MailboxAuthError(MailboxError):
    """The mailbox server rejected the credentials; retrying will not help until they change."""


class DeliveryError(MailflowError):
    """An outgoing mail could not be delivered."""


class TransientDeliveryError(DeliveryError):
    """Delivery failed for a reason that may pass (4xx reply, connection trouble)."""


class PermanentDeliveryError(DeliveryError):
    """The server refused the mail for good (5xx reply for every recipient)."""


class TemplateError(MailflowError):
    """A mail template is missing, does not render, or drops a required element."""


class WorkflowError(MailflowError):
    """A ticket action was refused (unknown ticket, invalid value)."""
