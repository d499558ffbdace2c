"""What one pass of the daemon did, for its log line, the CLI and the benchmark."""

from __future__ import annotations

from dataclasses import dataclass, field

from mailflow.pipeline.handling import Outcome


@dataclass
class CycleReport:
    handled: list[Outcome] = field(default_factory=list)
    sent: int = 0
    sla_notices: int = 0
    errors: list[str] = field(default_factory=list)
    poll_seconds: float = 0.0  # measured durations, for the log line and the benchmark
    seconds: float = 0.0
