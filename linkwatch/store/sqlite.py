"""The embedded backend: one SQLite file in WAL mode (the default).

Readers never block the writer (WAL); writers queue on SQLite's busy timeout
(``BEGIN IMMEDIATE``) instead of failing; migrations are sqlite-utils' own.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Any

from sqlite_utils import Database

from linkwatch.errors import StoreBusyError, StoreError
from linkwatch.store.migrations import KNOWN_STEPS, sqlite_migrations

_MIGRATIONS = sqlite_migrations()


def _busy(exc: BaseException) -> bool:
    return "locked" in str(exc) or "busy" in str(exc)


def _use_wal(conn: sqlite3.Connection, deadline: float) -> None:
    """Put the file in WAL mode (it stays so). Switching takes an exclusive lock and
    SQLite answers "locked" at once, without its busy handler, while another connection
    opens the same new file: so the switch is retried until ``deadline``, and skipped
    when the file is in WAL mode already (every open after the first)."""
    while True:
        try:
            if conn.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
                conn.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if not _busy(exc) or time.monotonic() >= deadline:
                raise
            time.sleep(0.01)


class SqliteBackend:
    name = "sqlite"
    errors: tuple[type[BaseException], ...] = (sqlite3.Error,)

    def __init__(self, path: str | Path, *, busy_timeout_s: float) -> None:
        self.path = Path(path)
        self.where = str(path)
        memory = str(path) == ":memory:"
        try:
            if not memory:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(
                str(path), timeout=busy_timeout_s, isolation_level=None, check_same_thread=False
            )
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(f"cannot open database {path}: {exc}") from None
        self.conn: Any = conn
        self.db = Database(conn)
        try:
            conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_s * 1000)}")
            if not memory:
                _use_wal(conn, time.monotonic() + busy_timeout_s)
            conn.execute("PRAGMA synchronous = NORMAL")
            conn.execute("PRAGMA foreign_keys = ON")
        except sqlite3.Error as exc:
            self.close()
            raise self.open_error(exc) from None

    def open_error(self, exc: BaseException) -> StoreError:
        if _busy(exc):
            return StoreBusyError(
                f"database {self.where} is busy; another linkwatch is migrating it, try again"
            )
        if isinstance(exc, sqlite3.OperationalError):
            return StoreError(f"cannot open database {self.where}: {exc}")
        return StoreError(f"{self.where} is not a usable linkwatch database: {exc}")

    # -- schema ------------------------------------------------------------------------
    def applied_steps(self) -> list[str]:
        return [m.name for m in _MIGRATIONS.applied(self.db)]

    def pending_steps(self) -> bool:
        return bool(_MIGRATIONS.pending(self.db))

    def apply_steps(self, now: str) -> None:
        """Inside the write transaction: the pending steps, in order."""
        if _MIGRATIONS.pending(self.db):
            _MIGRATIONS.apply(self.db)

    # -- transactions ------------------------------------------------------------------
    def begin_write(self) -> None:
        try:
            self.conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            if _busy(exc):
                raise StoreBusyError(
                    f"database {self.where} stayed locked by another writer; try again"
                ) from None
            raise StoreError(f"cannot write to {self.where}: {exc}") from None

    def begin_read(self) -> None:
        self.conn.execute("BEGIN")

    def commit(self) -> None:
        self.conn.execute("COMMIT")

    def rollback(self) -> None:
        try:
            self.conn.execute("ROLLBACK")
        except sqlite3.Error:
            pass  # no transaction left (SQLite may have rolled back itself)

    @property
    def in_transaction(self) -> bool:
        return bool(self.conn.in_transaction)

    def write_error(self, exc: BaseException) -> StoreError:
        """A write that failed, as a store error that says what happened and what to do:
        the transaction was rolled back, so nothing half-written is left."""
        text = str(exc)
        if _busy(exc):
            return StoreBusyError(
                f"database {self.where} stayed locked by another writer; try again"
            )
        if "full" in text:
            return StoreError(
                f"the disk holding {self.where} is full ({text}): the change was "
                "rolled back and nothing is lost; free some space and it is "
                "retried"
            )
        if "readonly" in text or "read-only" in text:
            return StoreError(
                f"{self.where} is read-only ({text}): the change was rolled back; "
                "make the state directory writable for linkwatch"
            )
        return StoreError(f"cannot write to {self.where}: {text}")

    # -- maintenance -------------------------------------------------------------------

    def stream(self, sql: str, batch: int) -> Any:
        """A cursor that reads rows as they are fetched (``fetchmany``)."""
        return self.conn.execute(sql)

    def integrity_check(self) -> str:
        row = self.conn.execute("PRAGMA integrity_check").fetchone()
        return str(row[0])

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

    def close(self) -> None:
        try:
            self.conn.close()
        except sqlite3.Error:
            pass


__all__ = ["KNOWN_STEPS", "SqliteBackend"]
