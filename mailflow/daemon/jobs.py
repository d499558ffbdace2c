"""The daemon's periodic jobs (service-level sweep, auto-close, outbox retry), driven by the
``schedule`` package on the daemon's own clock.

``schedule`` reads the wall clock itself; jobs here read ``Jobs.now`` instead, the moment the
pass was given, so that ``run --once --now ISO`` runs every job due at that moment and tests
move time without sleeping. A fresh process finds every job due. A job that raises is logged
with its name and runs again at its next interval; the others still run.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable
from typing import Any

import schedule

log = logging.getLogger(__name__)

EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


class _ClockJob(schedule.Job):
    """A ``schedule`` job that takes the time from its ``Jobs``, not from the wall clock."""

    def __init__(self, seconds: int, jobs: Jobs, name: str) -> None:
        super().__init__(seconds, jobs.scheduler)
        self.unit = "seconds"
        self.jobs = jobs
        self.name = name

    @property
    def should_run(self) -> bool:
        return self.next_run is not None and self.jobs.now >= self.next_run

    def _schedule_next_run(self) -> None:
        self.next_run = self.jobs.now + dt.timedelta(seconds=self.interval)

    def run(self) -> Any:
        try:
            return self.job_func() if self.job_func else None
        finally:
            self.last_run = self.jobs.now
            self._schedule_next_run()


class Jobs:
    """The periodic jobs of one daemon."""

    def __init__(
        self,
        expected: tuple[type[Exception], ...] = (),
        on_expected: Callable[[str, Exception], None] | None = None,
    ) -> None:
        """``expected``: failures logged in one line (a locked database), or handed to
        ``on_expected(job name, error)``; others with their traceback, since they are bugs."""
        self.scheduler = schedule.Scheduler()
        self.now = EPOCH
        self.expected = expected
        self.on_expected = on_expected

    def every(self, seconds: int, name: str, func: Callable[[dt.datetime], object]) -> None:
        """Run ``func(now)`` every ``seconds``; the first time in the first pass."""
        job = _ClockJob(seconds, self, name)
        job.do(lambda: func(self.now))
        job.next_run = EPOCH  # due at once

    def due(self, now: dt.datetime) -> list[str]:
        """The names of the jobs due at ``now``."""
        self.now = now
        return [job.name for job in self._jobs() if job.should_run]

    def run_due(self, now: dt.datetime, budget_seconds: float | None = None) -> list[str]:
        """Run the jobs due at ``now``, most overdue first; the names of those that failed.

        With a budget, no job starts once the jobs of this pass have taken that long: the
        rest stay due for the next pass, so a slow job delays mail intake by at most itself.
        """
        self.now = now
        started = time.perf_counter()
        failed = []
        for job in sorted(j for j in self._jobs() if j.should_run):
            if budget_seconds is not None and time.perf_counter() - started > budget_seconds:
                break
            try:
                job.run()
            except self.expected as exc:
                if self.on_expected is not None:
                    self.on_expected(job.name, exc)
                else:
                    log.error(
                        "job %s failed: %s; it runs again in %d s", job.name, exc, job.interval
                    )
                failed.append(job.name)
            except Exception:  # a job's failure must not stop the daemon or the other jobs
                log.exception("job %s failed; it runs again in %d s", job.name, job.interval)
                failed.append(job.name)
        return failed

    def next_due(self) -> dt.datetime | None:
        """When the next job is due."""
        runs = [job.next_run for job in self._jobs() if job.next_run is not None]
        return min(runs) if runs else None

    def _jobs(self) -> list[_ClockJob]:
        return [job for job in self.scheduler.jobs if isinstance(job, _ClockJob)]
