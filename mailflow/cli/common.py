"""What every command shares: exit codes, the logger, and finding the configuration."""

from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path

from mailflow import config as config_mod
from mailflow.config import Config
from mailflow.store.database import open_database
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
