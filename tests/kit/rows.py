"""Test data written straight into the state tables, the same way on SQLite and PostgreSQL.

``db`` is what ``Store.write()`` yields (or ``store.conn``). Table and column names come
from the tests themselves, never from input.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

#: tables keyed by something other than an ``id`` column
_NO_ID = {"archive_queue", "hosts", "meta", "leases", "event_deliveries"}


def insert(db: Any, table: str, row: Mapping[str, Any]) -> int | None:
    """Insert one row; its ``id`` where the table has one."""
    cols = ", ".join(row)
    marks = ", ".join("?" for _ in row)
    returning = "" if table in _NO_ID else " RETURNING id"
    cur = db.execute(
        f"INSERT INTO {table} ({cols}) VALUES ({marks}){returning}",  # noqa: S608
        list(row.values()),
    )
    return None if table in _NO_ID else int(cur.fetchone()[0])


def insert_all(db: Any, table: str, rows: Iterable[Mapping[str, Any]]) -> list[int | None]:
    return [insert(db, table, row) for row in rows]


def update(db: Any, table: str, id_: int, values: Mapping[str, Any]) -> None:
    sets = ", ".join(f"{k} = ?" for k in values)
    db.execute(f"UPDATE {table} SET {sets} WHERE id = ?", [*values.values(), id_])  # noqa: S608


def rows_where(db: Any, table: str, where: str, params: list[Any]) -> list[dict[str, Any]]:
    cur = db.execute(f"SELECT * FROM {table} WHERE {where}", params)  # noqa: S608
    names = [d[0] for d in cur.description]
    return [dict(zip(names, r, strict=True)) for r in cur]


def get(db: Any, table: str, id_: int) -> dict[str, Any]:
    found = rows_where(db, table, "id = ?", [id_])
    if not found:
        raise KeyError(f"no {table} row {id_}")
    return found[0]
