"""The daemon: ``loop`` (passes, signals, sleeping), ``ingest`` (one pass over a mailbox),
``waiting`` (IDLE on several mailboxes), ``outage`` (a lost database, said once), ``wiring``
(its parts built from the config), ``report`` (what a pass did). Delivery is
``delivery.delivery`` and its sending process ``delivery.sender``."""

from mailflow.daemon.loop import Worker
from mailflow.daemon.report import CycleReport
from mailflow.daemon.wiring import (
    build_mailbox,
    build_mailboxes,
    build_transport,
    open_services,
    system_clock,
)

__all__ = [
    "CycleReport",
    "Worker",
    "build_mailbox",
    "build_mailboxes",
    "build_transport",
    "open_services",
    "system_clock",
]
