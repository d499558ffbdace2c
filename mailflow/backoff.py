"""Capped exponential backoff with jitter, for a failing server (the mailbox, the SMTP server)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass


@dataclass
class Backoff:
    """When a failing server may be tried again."""

    base: float = 5.0
    cap: float = 300.0
    failures: int = 0
    not_before: dt.datetime | None = None

    def ready(self, now: dt.datetime) -> bool:
        """Whether the server may be tried at ``now``."""
        return self.not_before is None or now >= self.not_before

    def failed(self, now: dt.datetime, jitter: float) -> float:
        """Note a failure; the seconds until the next try (``jitter`` in [0, 1))."""
        self.failures += 1
        delay = min(self.cap, self.base * 2 ** (self.failures - 1)) * (0.75 + 0.5 * jitter)
        self.not_before = now + dt.timedelta(seconds=delay)
        return float(delay)

    def succeeded(self) -> None:
        """The server answered: no more waiting."""
        self.failures = 0
        self.not_before = None
