"""Opening the database and the one write path (``BEGIN`` ... ``COMMIT``), on either backend.

Every SQL statement in linkwatch lives in ``linkwatch.store``; the other stages call
methods on ``Store``. The state is a SQLite file (the embedded default,
``linkwatch.store.sqlite``) or a PostgreSQL database shared by several workers
(``state.url = "postgresql://..."``, ``linkwatch.store.postgres``). The SQL is the same
for both; no transaction is ever held across network I/O.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Self

from linkwatch.clock import Clock, iso, system_clock
from linkwatch.errors import StoreError
from linkwatch.store.migrations import KNOWN_STEPS
from linkwatch.store.postgres import PostgresBackend, is_postgres_url
from linkwatch.store.sqlite import SqliteBackend

SQLITE_PREFIX = "sqlite:///"

Row = dict[str, Any]
"""A database row by column name. Rows never leave the store: the method that read one
turns it into a record of ``linkwatch.model`` (``tests/test_architecture.py`` holds the
store's public methods to that)."""


def backend_for(target: str | Path, *, busy_timeout_s: float) -> SqliteBackend | PostgresBackend:
    """``postgresql://...`` -> PostgreSQL; ``sqlite:///path`` or a path -> SQLite."""
    if is_postgres_url(target):
        return PostgresBackend(str(target), busy_timeout_s=busy_timeout_s)
    text = str(target)
    if text.startswith(SQLITE_PREFIX):
        target = text[len(SQLITE_PREFIX) :] or ":memory:"
    elif "://" in text:
        raise StoreError(
            f"state.url {text.split('://')[0]}:// is not a database linkwatch knows: use "
            "postgresql://... or sqlite:///PATH"
        )
    return SqliteBackend(target, busy_timeout_s=busy_timeout_s)


class StoreCore:
    """Connection, migrations and transactions. Area methods live in mixins."""

    def __init__(
        self, target: str | Path, *, busy_timeout_s: float = 10.0, clock: Clock = system_clock
    ) -> None:
        self.clock = clock
        self._in_write = False
        self.backend = backend_for(target, busy_timeout_s=busy_timeout_s)
        self.conn: Any = self.backend.conn
        #: where the state is, for messages (a PostgreSQL URL without its password)
        self.where = self.backend.where
        self.path = self.backend.path
        try:
            self._migrate()
        except StoreError:
            self.close()
            raise
        except self.backend.errors as exc:
            self.close()
            raise self.backend.open_error(exc) from None

    @property
    def dialect(self) -> str:
        return self.backend.name

    def _migrate(self) -> None:
        unknown = [name for name in self.backend.applied_steps() if name not in KNOWN_STEPS]
        if unknown:
            raise StoreError(
                f"database {self.where} has schema step {unknown[-1]!r}, newer than this "
                "linkwatch knows; upgrade linkwatch or restore a backup"
            )
        if self.backend.pending_steps():
            # take the write lock first so two processes never migrate at once
            with self.write():
                if self.backend.pending_steps():
                    self.backend.apply_steps(self.now())

    def applied_steps(self) -> list[str]:
        return self.backend.applied_steps()

    def now(self) -> str:
        return iso(self.clock())

    @contextmanager
    def write(self) -> Iterator[Any]:
        """A short write transaction: ``BEGIN`` (holding the one write lock) -> work ->
        ``COMMIT``; yields the connection.

        Nested use joins the outer transaction. Never do network I/O inside.
        """
        if self._in_write:
            yield self.conn
            return
        self.backend.begin_write()
        self._in_write = True
        try:
            yield self.conn
            self.backend.commit()
        except self.backend.errors as exc:
            self.backend.rollback()
            raise self.backend.write_error(exc) from None
        except BaseException:
            self.backend.rollback()
            raise
        finally:
            self._in_write = False

    @contextmanager
    def snapshot(self) -> Iterator[None]:
        """Reads that see one consistent state (the report reads everything at once)."""
        own = not self._in_write and not self.backend.in_transaction
        if own:
            self.backend.begin_read()
        try:
            yield
        finally:
            if own:
                self.backend.commit()

    def query(self, sql: str, params: Any = ()) -> list[Row]:
        """Rows by column name, for the store's own record readers."""
        cursor = self.conn.execute(sql, params)
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor]

    def counts(self, sql: str, params: Any = ()) -> dict[str, int]:
        """A ``SELECT key, count(*) ...`` as key -> count."""
        return {str(key): int(n) for key, n in self.conn.execute(sql, params)}

    def scalar(self, sql: str, params: Any = ()) -> Any:
        row = self.conn.execute(sql, params).fetchone()
        return None if row is None else row[0]

    def integrity_check(self) -> str:
        return self.backend.integrity_check()

    def backup(self, target: str | Path) -> None:
        self.backend.backup(target)

    def get_meta(self, key: str) -> str | None:
        value = self.scalar("SELECT value FROM meta WHERE key = ?", [key])
        return None if value is None else str(value)

    def set_meta(self, key: str, value: str | None) -> None:
        with self.write() as db:
            db.execute(
                "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) "
                "DO UPDATE SET value = excluded.value",
                [key, value],
            )

    def close(self) -> None:
        self.backend.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
