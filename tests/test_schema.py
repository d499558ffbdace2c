"""Schema creation and upgrades: idempotent, and an older database is brought up to date."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

from mailflow.store.database import open_database
from mailflow.store.models import Meta
from mailflow.store.schema import SCHEMA_VERSION, init_schema


def indexes(db) -> set[str]:  # type: ignore[no-untyped-def]
    rows = db.execute_sql("SELECT name FROM sqlite_master WHERE type = 'index'").fetchall()
    return {name for (name,) in rows}


def test_a_version_1_database_loses_its_superseded_indexes(tmp_path: Path) -> None:
    """Upgrading a schema-1 database drops the single-column indexes the composite ones replaced."""
    db = open_database(f"sqlite:///{tmp_path}/old.db")
    assert init_schema(db) == SCHEMA_VERSION
    # Make it look like version 1 had left it.
    db.execute_sql('CREATE INDEX "event_kind" ON "event" ("kind")')
    db.execute_sql('CREATE INDEX "outbox_status" ON "outbox" ("status")')
    Meta.update(value="1").where(Meta.key == "schema_version").execute()

    assert init_schema(db) == SCHEMA_VERSION
    assert {"event_kind", "outbox_status"}.isdisjoint(indexes(db))
    assert {"event_kind_at", "outbox_status_next_attempt_at"} <= indexes(db)
    assert Meta.get(Meta.key == "schema_version").value == str(SCHEMA_VERSION)
    assert init_schema(db) == SCHEMA_VERSION  # and again: nothing to do


def test_several_processes_create_a_fresh_database_at_once(tmp_path: Path) -> None:
    """Turning a new file into WAL needs it alone, and SQLite says "locked" instead of waiting:
    processes opening a new database together all get it (they wait, then retry)."""
    context = multiprocessing.get_context("fork")
    start = context.Barrier(8)
    results = context.Queue()
    url = f"sqlite:///{tmp_path}/fresh.db"
    procs = [context.Process(target=_open_at_once, args=(url, start, results)) for _ in range(8)]
    for proc in procs:
        proc.start()
    outcomes = [results.get(timeout=60) for _ in procs]
    for proc in procs:
        proc.join(10)
    assert outcomes == ["ok"] * 8, outcomes


def _open_at_once(url: str, start, results) -> None:  # type: ignore[no-untyped-def]
    start.wait()
    try:
        init_schema(open_database(url, busy_seconds=10))
        results.put("ok")
    except Exception as exc:
        results.put(f"{type(exc).__name__}: {exc}")


def test_a_version_2_database_gets_service_level_columns_and_its_open_tickets_clocks(
    tmp_path: Path,
) -> None:
    """Upgrading adds the update deadline and the targets column with indexed deadlines; the
    daemon's backfill then gives open tickets stored before it their clocks."""
    import datetime as dt

    from mailflow import config as config_mod
    from mailflow.daemon import open_services
    from mailflow.pipeline.handling import handle
    from mailflow.process.service_levels import backfill
    from mailflow.sources import RawMail
    from mailflow.store.models import SlaTimer, Ticket
    from tests.mails import build

    services = open_services(config_mod.defaults(tmp_path))
    now = dt.datetime(2026, 12, 1, 2, 0, tzinfo=dt.UTC)
    raw = build("a@example.cn", "support@example.com", "[紧急] 全部瘫痪", "x")
    assert handle(RawMail(raw, "t:1"), now, services).action == "created"
    db = services.db
    for column in ("respond_by", "resolve_by", "update_by"):
        db.execute_sql(f'DROP INDEX "ticket_{column}"')
    db.execute_sql('ALTER TABLE "ticket" DROP COLUMN "update_by"')
    db.execute_sql('ALTER TABLE "ticket" DROP COLUMN "sla"')
    db.execute_sql('DELETE FROM "sla_timer"')
    Meta.update(value="2").where(Meta.key == "schema_version").execute()

    assert init_schema(db) == SCHEMA_VERSION
    assert {"ticket_respond_by", "ticket_resolve_by", "ticket_update_by"} <= indexes(db)
    assert Ticket.get().sla == {}
    assert backfill(now, services) == 1
    assert Ticket.get().sla["targets"]["respond"] == {"minutes": 15, "clock": "24x7"}
    assert SlaTimer.select().count() == 6  # respond and resolve: warning, breach, second level
    assert backfill(now, services) == 0
