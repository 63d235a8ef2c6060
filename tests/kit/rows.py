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


# -- reading what the jobs wrote (what tests assert on; the code itself never needs it) --


def check_history(store: Any, link_id: int, limit: int = 50) -> list[dict[str, Any]]:
    return list(store.query(
        "SELECT * FROM checks WHERE link_id = ? ORDER BY checked_at DESC, id DESC LIMIT ?",
        [link_id, limit],
    ))  # fmt: skip


def state_history(store: Any, link_id: int) -> list[dict[str, Any]]:
    return list(store.query(
        "SELECT at, from_state, to_state, reason FROM state_changes WHERE link_id = ? "
        "ORDER BY at, id",
        [link_id],
    ))  # fmt: skip


def document_link_ids(store: Any, path: str) -> list[int]:
    """Links the document at ``path`` cites now."""
    rows = store.query(
        "SELECT DISTINCT c.link_id FROM citations c JOIN documents d ON d.id = c.document_id "
        "WHERE d.path = ? AND c.ended_at IS NULL ORDER BY c.link_id",
        [path],
    )
    return [int(r["link_id"]) for r in rows]


def active_citations(store: Any, link_id: int) -> list[dict[str, Any]]:
    """Where a link is cited now: document path, line, column, text, source, raw URL."""
    return list(store.query(
        "SELECT d.path AS document, c.line, c.col AS column, c.text, c.source, "
        "c.raw_url AS raw, c.fragment, c.first_seen_at, c.last_seen_at, "
        "d.front_matter_url, d.access_date FROM citations c "
        "JOIN documents d ON d.id = c.document_id "
        "WHERE c.link_id = ? AND c.ended_at IS NULL ORDER BY d.path, c.line, c.col",
        [link_id],
    ))  # fmt: skip
