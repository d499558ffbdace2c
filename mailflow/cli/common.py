"""What every command shares: exit codes, the logger, and finding the configuration."""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import os
from pathlib import Path

from mailflow import config as config_mod
from mailflow.config import Config, Person
from mailflow.daemon import build_transport
from mailflow.delivery.delivery import Delivery
from mailflow.delivery.outbox import FlushResult
from mailflow.errors import WorkflowError
from mailflow.services import Services
from mailflow.store.database import open_database
from mailflow.store.models import Ticket
from mailflow.store.schema import init_schema

log = logging.getLogger("mailflow")

EX_OK = 0
EX_FAILURE = 1
EX_USAGE = 2
EX_DATAERR = 65
EX_TEMPFAIL = 75  # sysexits.h: the MTA keeps the mail and retries
EX_CONFIG = 78


def load_config(explicit: str | None) -> Config:
    """The config from -c / $MAILFLOW_CONFIG / ./config.toml, else the embedded defaults."""
    path = config_mod.locate(explicit, os.environ, Path.cwd())
    if path is None:
        log.info("no config file; using embedded defaults (SQLite + Maildir under %s)", Path.cwd())
        return config_mod.defaults(Path.cwd())
    return config_mod.load(path)


def open_read(args: argparse.Namespace) -> Config:
    config = load_config(args.config)
    db = open_database(config.database_url, config.database_busy_seconds)
    init_schema(db)
    return config


def find_ticket(written: str) -> Ticket:
    """The ticket a command names (``TS…`` or ``[TS…]``, any case)."""
    number = written.strip().strip("[]").upper()
    ticket: Ticket | None = Ticket.get_or_none(Ticket.number == number)
    if ticket is None:
        raise WorkflowError(f"no ticket {number}")
    return ticket


def staff(config: Config, address: str) -> Person:
    """The configured engineer or supervisor ``--as`` names."""
    person = config.person(address)
    if person is None or person.role not in ("engineer", "supervisor"):
        raise WorkflowError(
            f"--as {address or '(missing)'}: give a configured engineer or supervisor "
            "(or set MAILFLOW_ACTOR)"
        )
    return person


def deliver(services: Services, now: dt.datetime) -> FlushResult:
    """Send what a command queued, now (what is left is sent by ``run``)."""
    delivery = Delivery(services, build_transport(services.config, os.environ))
    try:
        return delivery.flush(now)
    finally:
        delivery.close()
