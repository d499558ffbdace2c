"""A server gone away, said once: the first failure is one error line, the retries that follow
are debug lines, and its return is one line with how long it was gone.

A daemon retries a lost database every few seconds (with backoff) and its jobs try it at their
own pace; a log line for each would bury the one that matters under hundreds, and alerting on
log lines would page the operator once per retry.
"""

from __future__ import annotations

import datetime as dt
import logging

log = logging.getLogger(__name__)


class Outage:
    """The state of one server the daemon depends on (the database)."""

    def __init__(self, what: str) -> None:
        self.what = what
        self.since: dt.datetime | None = None
        self.failures = 0

    def failed(self, now: dt.datetime, detail: object, then: str) -> None:
        """Note a failure at ``now``; ``then`` says what happens meanwhile (for the log)."""
        self.failures += 1
        detail = " ".join(str(detail).split())  # psycopg2's messages span lines
        if self.since is None:
            self.since = now
            log.error(
                "%s unavailable: %s; %s (said once until it is back)", self.what, detail, then
            )
        else:
            log.debug("%s still unavailable (%d failures): %s", self.what, self.failures, detail)

    def recovered(self, now: dt.datetime) -> None:
        """The server answered again."""
        if self.since is None:
            return
        gone = (now - self.since).total_seconds()
        log.info("%s is back after %.0f s (%d failed tries)", self.what, gone, self.failures)
        self.since, self.failures = None, 0
