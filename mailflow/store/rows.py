"""Fast row writes and lookups for the hot path, and the event every change leaves behind."""

from __future__ import annotations

import datetime as dt
from typing import Any, TypeVar

import peewee as pw

from mailflow.store.models import BaseModel, Event, Ticket, database_proxy, utc

M = TypeVar("M", bound=BaseModel)


_DEFAULTS: dict[type[BaseModel], list[tuple[str, Any]]] = {}
# Keyed by the database's kind too: one process may use SQLite and PostgreSQL (the tests do).
_INSERT_SQL: dict[
    tuple[type[BaseModel], tuple[str, ...], type, str], tuple[str, list[pw.Field]]
] = {}


def insert_row(model: type[BaseModel], **values: Any) -> int:
    """INSERT one row and return its id, through a statement built once per column set.

    peewee builds every query anew, which costs ten times what executing it does; the hot
    path (several rows per mail) uses this instead. Python-side defaults are applied as
    ``Model.create`` would, and values go through each field's ``db_value``.
    """
    db, quote, _ = _table_of(model.id)
    _with_defaults(model, values)
    returning = ""
    if not isinstance(db, pw.SqliteDatabase):
        returning = f" RETURNING {quote}{model.id.column_name}{quote}"
    sql, fields = _statement(model, tuple(values), returning)
    params = [f.db_value(v) for f, v in zip(fields, values.values(), strict=True)]  # type: ignore[no-untyped-call]
    cursor = db.execute_sql(sql, params)  # type: ignore[no-untyped-call]
    if isinstance(db, pw.SqliteDatabase):
        return int(cursor.lastrowid)
    return int(cursor.fetchone()[0])


def insert_new_rows(model: type[BaseModel], rows: list[dict[str, Any]]) -> None:
    """INSERT rows (all with the same columns) as ``insert_row`` does, one statement for
    all, leaving out any that would repeat a unique key (``ON CONFLICT DO NOTHING``)."""
    if not rows:
        return
    for values in rows:
        _with_defaults(model, values)
    sql, fields = _statement(model, tuple(rows[0]), " ON CONFLICT DO NOTHING")
    db = database_proxy.obj
    params = [
        [f.db_value(v) for f, v in zip(fields, values.values(), strict=True)]  # type: ignore[no-untyped-call]
        for values in rows
    ]
    db.cursor().executemany(sql, params)


def _with_defaults(model: type[BaseModel], values: dict[str, Any]) -> None:
    """Python-side defaults for the columns ``values`` leaves out, as ``Model.create``."""
    defaults = _DEFAULTS.get(model)
    if defaults is None:
        defaults = _DEFAULTS[model] = [
            (name, field.default)
            for name, field in model._meta.fields.items()
            if field.default is not None
        ]
    for name, default in defaults:
        if name not in values:
            values[name] = default() if callable(default) else default


def _statement(
    model: type[BaseModel], names: tuple[str, ...], tail: str
) -> tuple[str, list[pw.Field]]:
    """``INSERT INTO table (names) VALUES (...)`` and ``tail``, built once per column set."""
    db, quote, table = _table_of(model.id)
    key = (model, names, type(db), tail)
    cached = _INSERT_SQL.get(key)
    if cached is None:
        fields = [model._meta.fields[name] for name in names]
        columns = ", ".join(f"{quote}{f.column_name}{quote}" for f in fields)
        marks = ", ".join([db.param] * len(fields))
        sql = f"INSERT INTO {table} ({columns}) VALUES ({marks}){tail}"
        cached = _INSERT_SQL[key] = (sql, fields)
    return cached


def create_row(model: type[M], **values: Any) -> M:
    """``Model.create`` through ``insert_row``: the instance, with its id."""
    instance = model(**values)
    instance.id = insert_row(model, **values)
    instance._dirty.clear()  # type: ignore[attr-defined]  # as saved: a later save(only=dirty_fields) writes what changed
    return instance


def value_exists(field: pw.Field, value: Any) -> bool:
    """Whether any row has ``value`` in ``field`` (an indexed column), cheaply."""
    db, q, table = _table_of(field)
    sql = f"SELECT 1 FROM {table} WHERE {q}{field.column_name}{q} = {db.param} LIMIT 1"
    return db.execute_sql(sql, [field.db_value(value)]).fetchone() is not None  # type: ignore[no-untyped-call]


def count_since(key: pw.Field, value: Any, at: pw.Field, since: dt.datetime) -> int:
    """Rows whose ``key`` is ``value`` and whose ``at`` is ``since`` or later (one index seek)."""
    db, q, table = _table_of(key)
    sql = (
        f"SELECT COUNT(*) FROM {table} WHERE {q}{key.column_name}{q} = {db.param} "
        f"AND {q}{at.column_name}{q} >= {db.param}"
    )
    params = [key.db_value(value), at.db_value(utc(since))]  # type: ignore[no-untyped-call]
    return int(db.execute_sql(sql, params).fetchone()[0])  # type: ignore[no-untyped-call]


def _table_of(field: pw.Field) -> tuple[pw.Database, str, str]:
    """The bound database, its identifier quote and the quoted table of ``field``."""
    db = database_proxy.obj
    quote = db.quote_char if hasattr(db, "quote_char") else '"'
    return db, quote, f"{quote}{field.model._meta.table_name}{quote}"


def add_event(ticket: Ticket | int, at: dt.datetime, actor: str, kind: str, **data: Any) -> None:
    """Record one change on a ticket (given as a row or its id)."""
    insert_row(Event, ticket=ticket, at=utc(at), actor=actor, kind=kind, data=data)
