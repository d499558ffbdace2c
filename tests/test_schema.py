"""Schema creation and upgrades: idempotent, and an older database is brought up to date."""

from __future__ import annotations

from pathlib import Path

from mailflow.models import SCHEMA_VERSION, Meta, init_schema, open_database


def indexes(db) -> set[str]:  # type: ignore[no-untyped-def]
    rows = db.execute_sql("SELECT name FROM sqlite_master WHERE type = 'index'").fetchall()
    return {name for (name,) in rows}


def test_a_version_1_database_loses_its_superseded_indexes(tmp_path: Path) -> None:
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
