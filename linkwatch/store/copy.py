"""``linkwatch db copy``: one state into another (SQLite -> PostgreSQL, and back), losing
nothing: every table row by row in key order, then counts and a checksum of every table
compared on both sides.

The target must be empty (a new file, or a database with no rows); both are brought to
the newest schema first, so the columns agree. Identity counters on PostgreSQL are moved
past the copied ids, so new rows never collide with copied ones.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from linkwatch.errors import StoreError
from linkwatch.store.core import StoreCore

#: every table in the order its foreign keys allow, with the key it is read in
TABLES: tuple[tuple[str, str], ...] = (
    ("documents", "id"),
    ("links", "id"),
    ("citations", "id"),
    ("checks", "id"),
    ("state_changes", "id"),
    ("hosts", "host"),
    ("snapshots", "id"),
    ("archive_queue", "link_id"),
    ("runs", "id"),
    ("meta", "key"),
    ("events", "id"),
    ("event_deliveries", "event_id, channel"),
    ("leases", "name"),
)
BATCH = 2000


@dataclass(frozen=True)
class TableCopy:
    table: str
    rows: int
    checksum: str


def copy_state(
    source: StoreCore, target: StoreCore, progress: Callable[[str, int], None] | None = None
) -> list[TableCopy]:
    """Copy every row of ``source`` into the empty ``target`` in one transaction, then
    compare counts and checksums; raises ``StoreError`` (and the target is left as it
    was) on any difference."""
    filled = [t for t, _ in TABLES if target.scalar(f"SELECT count(*) FROM {t}")]  # noqa: S608
    if filled:
        raise StoreError(
            f"the target {target.where} already holds rows (in {', '.join(filled)}): copy "
            "into a new, empty database"
        )
    with source.snapshot(), target.write() as db:
        for table, key in TABLES:
            n = 0
            for columns, rows in _batches(source, table, key):
                marks = ", ".join("?" for _ in columns)
                db.executemany(
                    f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})",  # noqa: S608
                    rows,
                )
                n += len(rows)
                if progress is not None:
                    progress(table, n)
        if target.dialect == "postgresql":
            for table, key in TABLES:
                if key == "id":
                    db.execute(
                        f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "  # noqa: S608
                        f"coalesce((SELECT max(id) FROM {table}), 0) + 1, false)"
                    )
    with source.snapshot():
        copied = [TableCopy(t, *_fingerprint(source, t, k)) for t, k in TABLES]
    with target.snapshot():
        landed = [TableCopy(t, *_fingerprint(target, t, k)) for t, k in TABLES]
    for a, b in zip(copied, landed, strict=True):
        if a != b:
            raise StoreError(
                f"table {a.table} differs after the copy ({a.rows} rows, checksum "
                f"{a.checksum[:12]} in the source; {b.rows}, {b.checksum[:12]} in the target)"
            )
    return copied


def _batches(store: StoreCore, table: str, key: str) -> Iterator[tuple[list[str], list[Any]]]:
    cursor = store.backend.stream(f"SELECT * FROM {table} ORDER BY {key}", BATCH)  # noqa: S608
    try:
        columns = [d[0] for d in cursor.description]
        while True:
            rows = cursor.fetchmany(BATCH)
            if not rows:
                return
            yield columns, [tuple(r) for r in rows]
    finally:
        cursor.close()


def _fingerprint(store: StoreCore, table: str, key: str) -> tuple[int, str]:
    """Rows and a SHA-256 over every value of every row in key order (columns by name,
    so the two engines' column order does not matter)."""
    digest = hashlib.sha256()
    n = 0
    for columns, rows in _batches(store, table, key):
        order = sorted(range(len(columns)), key=lambda i: columns[i])
        for row in rows:
            digest.update(repr([(columns[i], _plain(row[i])) for i in order]).encode())
            n += 1
    return n, digest.hexdigest()


def _plain(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)  # SQLite may keep 3.0 as 3 in a REAL column's row
    return value
