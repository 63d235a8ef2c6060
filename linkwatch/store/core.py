"""Opening the database and the one write path (``BEGIN IMMEDIATE`` ... ``COMMIT``).

Every SQL statement in linkwatch lives in ``linkwatch.store``; the other stages call
methods on ``Store``. Readers never block the writer (WAL); writers queue on SQLite's busy
timeout instead of failing; no transaction is ever held across network I/O.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Self

from sqlite_utils import Database

from linkwatch.clock import Clock, iso, system_clock
from linkwatch.errors import StoreBusyError, StoreError
from linkwatch.store.migrations import KNOWN_STEPS, migrations


class StoreCore:
    """Connection, migrations and transactions. Area methods live in mixins."""

    def __init__(
        self, path: str | Path, *, busy_timeout_s: float = 10.0, clock: Clock = system_clock
    ) -> None:
        self.path = Path(path)
        self.clock = clock
        self._in_write = False
        try:
            if str(path) != ":memory:":
                self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(
                str(path), timeout=busy_timeout_s, isolation_level=None, check_same_thread=False
            )
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(f"cannot open database {path}: {exc}") from None
        self.conn = conn
        self.db = Database(conn)
        try:
            conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_s * 1000)}")
            if str(path) != ":memory:":
                conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
            conn.execute("PRAGMA foreign_keys = ON")
            self._migrate()
        except sqlite3.OperationalError as exc:
            self.close()
            if "locked" in str(exc) or "busy" in str(exc):
                raise StoreBusyError(
                    f"database {path} is busy; another linkwatch is migrating it, try again"
                ) from None
            raise StoreError(f"cannot open database {path}: {exc}") from None
        except sqlite3.DatabaseError as exc:
            self.close()
            raise StoreError(f"{path} is not a usable linkwatch database: {exc}") from None
        except StoreError:
            self.close()
            raise

    def _migrate(self) -> None:
        unknown = [m.name for m in migrations.applied(self.db) if m.name not in KNOWN_STEPS]
        if unknown:
            raise StoreError(
                f"database {self.path} has schema step {unknown[-1]!r}, newer than this "
                "linkwatch knows; upgrade linkwatch or restore a backup"
            )
        if migrations.pending(self.db):
            # take the write lock first so two processes never migrate at once
            with self.write():
                if migrations.pending(self.db):
                    migrations.apply(self.db)

    def now(self) -> str:
        return iso(self.clock())

    @contextmanager
    def write(self) -> Iterator[Database]:
        """A short write transaction: ``BEGIN IMMEDIATE`` -> work -> ``COMMIT``.

        Nested use joins the outer transaction. Never do network I/O inside.
        """
        if self._in_write:
            yield self.db
            return
        try:
            self.conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            if "locked" in str(exc) or "busy" in str(exc):
                raise StoreBusyError(
                    f"database {self.path} stayed locked by another writer; try again"
                ) from None
            raise StoreError(f"cannot write to {self.path}: {exc}") from None
        self._in_write = True
        try:
            yield self.db
            self.conn.execute("COMMIT")
        except sqlite3.Error as exc:
            self._rollback()
            raise self._write_error(exc) from None
        except BaseException:
            self._rollback()
            raise
        finally:
            self._in_write = False

    def _rollback(self) -> None:
        try:
            self.conn.execute("ROLLBACK")
        except sqlite3.Error:
            pass  # no transaction left (SQLite may have rolled back itself)

    def _write_error(self, exc: sqlite3.Error) -> StoreError:
        """A write that failed, as a store error that says what happened and what to do:
        the transaction was rolled back, so nothing half-written is left."""
        text = str(exc)
        if "locked" in text or "busy" in text:
            return StoreBusyError(
                f"database {self.path} stayed locked by another writer; try again"
            )
        if "full" in text:
            return StoreError(
                f"the disk holding {self.path} is full ({text}): the change was "
                "rolled back and nothing is lost; free some space and it is "
                "retried"
            )
        if "readonly" in text or "read-only" in text:
            return StoreError(
                f"{self.path} is read-only ({text}): the change was rolled back; "
                "make the state directory writable for linkwatch"
            )
        return StoreError(f"cannot write to {self.path}: {text}")

    def query(self, sql: str, params: Any = ()) -> list[dict[str, Any]]:
        return list(self.db.query(sql, params))

    def scalar(self, sql: str, params: Any = ()) -> Any:
        row = self.conn.execute(sql, params).fetchone()
        return None if row is None else row[0]

    def integrity_check(self) -> str:
        return str(self.scalar("PRAGMA integrity_check"))

    def backup(self, target: str | Path) -> None:
        """A consistent copy of the live database (``VACUUM INTO``), never ``cp``."""
        target = Path(target)
        if target.exists():
            raise StoreError(f"backup target {target} exists; choose a new file name")
        if not target.parent.is_dir():
            raise StoreError(f"no folder {target.parent} for the backup: create it first")
        try:
            self.conn.execute("VACUUM INTO ?", [str(target)])
        except sqlite3.Error as exc:
            raise StoreError(f"cannot write the backup {target}: {exc}") from None

    def get_meta(self, key: str) -> str | None:
        value = self.scalar("SELECT value FROM meta WHERE key = ?", [key])
        return None if value is None else str(value)

    def set_meta(self, key: str, value: str | None) -> None:
        with self.write() as db:
            db.table("meta").upsert({"key": key, "value": value}, pk="key")

    def close(self) -> None:
        try:
            self.conn.close()
        except sqlite3.Error:
            pass

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
