"""The shared backend: PostgreSQL through psycopg 3, for several workers on several machines.

The store's SQL is written once, in the subset both engines speak (``ON CONFLICT ...
excluded``, ``RETURNING``, window functions, ``coalesce``, ``CASE``); this backend only
turns SQLite's ``?`` placeholders into psycopg's ``%s``. Values are bound on the client
(``ClientCursor``, psycopg's documented cursor for queries written with untyped
placeholders): PostgreSQL then types each literal from its context, as SQLite does, where
server-side binding would fail on ``? IS NULL``.

Writes keep SQLite's semantics: one writer at a time, taken with a transaction-scoped
advisory lock right after ``BEGIN`` and waited for up to the busy timeout
(``lock_timeout``), so the store's read-then-write batches stay correct with N workers.
Host leases (``linkwatch.store.leases``) decide who checks what; the write lock only
keeps each short batch atomic.
"""

from __future__ import annotations

import itertools
import re
from functools import lru_cache
from pathlib import Path
from typing import Any

from linkwatch.errors import StoreBusyError, StoreError
from linkwatch.scrub import redact_password
from linkwatch.store.migrations import STEPS, postgres_ddl

#: ``pg_advisory_xact_lock`` key of the one writer ("link" in ASCII)
WRITE_LOCK = 0x6C696E6B
SCHEMA_TABLE = "linkwatch_migrations"
_STREAMS = itertools.count(1)


def is_postgres_url(target: str | Path) -> bool:
    return isinstance(target, str) and target.split(":", 1)[0] in ("postgresql", "postgres")


@lru_cache(maxsize=4096)
def to_pyformat(sql: str) -> str:
    """``?`` placeholders (outside string literals) as ``%s``; literal ``%`` doubled."""
    out: list[str] = []
    quoted = False
    for ch in sql:
        if ch == "'":
            quoted = not quoted
            out.append(ch)
        elif ch == "%":
            out.append("%%")
        elif ch == "?" and not quoted:
            out.append("%s")
        else:
            out.append(ch)
    return "".join(out)


class PgConnection:
    """The slice of the DB-API the store uses, over a psycopg connection."""

    def __init__(self, conn: Any) -> None:
        self.raw = conn

    def execute(self, sql: str, params: Any = ()) -> Any:
        if not params:
            return self.raw.execute(sql)
        return self.raw.execute(to_pyformat(sql), list(params))

    def executemany(self, sql: str, seq: Any) -> Any:
        rows = [list(r) for r in seq]
        cursor = self.raw.cursor()
        if rows:
            cursor.executemany(to_pyformat(sql), rows)
        return cursor

    @property
    def in_transaction(self) -> bool:
        from psycopg import pq

        return bool(self.raw.info.transaction_status != pq.TransactionStatus.IDLE)

    def close(self) -> None:
        self.raw.close()


class PostgresBackend:
    name = "postgresql"

    def __init__(self, url: str, *, busy_timeout_s: float) -> None:
        try:
            import psycopg
        except ImportError:
            raise StoreError(
                "state.url names a PostgreSQL database, but psycopg is not installed: "
                "pip install 'linkwatch[postgresql]'"
            ) from None

        self.errors: tuple[type[BaseException], ...] = (psycopg.Error,)
        self.url = url
        self.where = redact_password(url)
        self.path = None
        try:
            raw = psycopg.connect(
                url,
                autocommit=True,
                cursor_factory=psycopg.ClientCursor,
                connect_timeout=max(1, int(busy_timeout_s)),
                application_name="linkwatch",
            )
        except psycopg.Error as exc:
            raise StoreError(
                f"cannot connect to PostgreSQL at {self.where}: {_first_line(exc)}; check "
                "that the server runs and state.url is right"
            ) from None
        self.conn: Any = PgConnection(raw)
        try:
            raw.execute(f"SET lock_timeout = '{int(busy_timeout_s * 1000)}ms'")
        except psycopg.Error as exc:
            self.close()
            raise self.open_error(exc) from None

    def open_error(self, exc: BaseException) -> StoreError:
        import psycopg.errors

        if isinstance(exc, psycopg.errors.LockNotAvailable):
            return StoreBusyError(
                f"database {self.where} is busy; another linkwatch is migrating it, try again"
            )
        return StoreError(f"cannot open database {self.where}: {_first_line(exc)}")

    # -- schema ------------------------------------------------------------------------
    def applied_steps(self) -> list[str]:
        exists = self.conn.execute("SELECT to_regclass(?)", [SCHEMA_TABLE]).fetchone()[0]
        if exists is None:
            return []
        rows = self.conn.execute(f"SELECT name FROM {SCHEMA_TABLE} ORDER BY applied_at, name")  # noqa: S608
        return [str(r[0]) for r in rows]

    def pending_steps(self) -> bool:
        applied = set(self.applied_steps())
        return any(s.name not in applied for s in STEPS)

    def apply_steps(self, now: str) -> None:
        """Inside the write transaction (which holds the write lock): pending steps, in
        order, each with its record; DDL is transactional in PostgreSQL, so a step that
        fails leaves nothing half-made."""
        self.conn.execute(
            f"CREATE TABLE IF NOT EXISTS {SCHEMA_TABLE} (name TEXT PRIMARY KEY, "
            "applied_at TEXT NOT NULL)"
        )
        applied = set(self.applied_steps())
        for step in STEPS:
            if step.name in applied:
                continue
            for statement in step.statements():
                self.conn.execute(postgres_ddl(statement))
            self.conn.execute(
                f"INSERT INTO {SCHEMA_TABLE} (name, applied_at) VALUES (?, ?)",  # noqa: S608
                [step.name, now],
            )

    # -- transactions ------------------------------------------------------------------
    def begin_write(self) -> None:
        import psycopg

        try:
            self.conn.execute("BEGIN")
            self.conn.execute(f"SELECT pg_advisory_xact_lock({WRITE_LOCK})")
        except psycopg.Error as exc:
            self.rollback()
            raise self.write_error(exc) from None

    def begin_read(self) -> None:
        self.conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")

    def commit(self) -> None:
        self.conn.execute("COMMIT")

    def rollback(self) -> None:
        import psycopg

        try:
            self.conn.execute("ROLLBACK")
        except psycopg.Error:
            pass

    @property
    def in_transaction(self) -> bool:
        return bool(self.conn.in_transaction)

    def write_error(self, exc: BaseException) -> StoreError:
        import psycopg.errors

        text = _first_line(exc)
        if isinstance(exc, psycopg.errors.LockNotAvailable | psycopg.errors.QueryCanceled):
            return StoreBusyError(
                f"database {self.where} stayed locked by another writer; try again"
            )
        if isinstance(exc, psycopg.errors.DiskFull):
            return StoreError(
                f"the disk of the PostgreSQL server {self.where} is full ({text}): the "
                "change was rolled back and nothing is lost; free some space and it is retried"
            )
        if isinstance(exc, psycopg.OperationalError):
            return StoreError(
                f"lost the connection to PostgreSQL at {self.where} ({text}): the change "
                "was rolled back; it is retried once the server answers again"
            )
        return StoreError(f"cannot write to {self.where}: {text}")

    # -- maintenance -------------------------------------------------------------------

    def stream(self, sql: str, batch: int) -> Any:
        """A server-side cursor (inside the caller's transaction): rows come ``batch``
        at a time instead of the whole result at once."""
        cursor = self.conn.raw.cursor(name=f"linkwatch_stream_{next(_STREAMS)}")
        cursor.itersize = batch
        cursor.execute(sql)
        return cursor

    def integrity_check(self) -> str:
        """``ok``, or what is wrong: schema steps missing or unknown, constraints not
        validated, indexes left invalid (a failed ``CREATE INDEX CONCURRENTLY``)."""
        problems: list[str] = []
        applied = self.applied_steps()
        known = [s.name for s in STEPS]
        missing = [n for n in known if n not in applied]
        unknown = [n for n in applied if n not in known]
        if missing:
            problems.append(f"schema steps not applied: {', '.join(missing)}")
        if unknown:
            problems.append(f"schema steps newer than this linkwatch: {', '.join(unknown)}")
        for (name,) in self.conn.execute(
            "SELECT conname FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace "
            "WHERE n.nspname = current_schema() AND NOT c.convalidated"
        ):
            problems.append(f"constraint {name} not validated")
        for (name,) in self.conn.execute(
            "SELECT i.indexrelid::regclass::text FROM pg_index i JOIN pg_class c "
            "ON c.oid = i.indrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = current_schema() AND NOT i.indisvalid"
        ):
            problems.append(f"index {name} is invalid; rebuild it with REINDEX")
        return "; ".join(problems) or "ok"

    def backup(self, target: str | Path) -> None:
        raise StoreError(
            "a PostgreSQL state is backed up with PostgreSQL's own tools: "
            f"pg_dump --format=custom --file {target} '{self.where}' "
            "(or copy it to SQLite: linkwatch db copy --to sqlite:///PATH)"
        )

    def close(self) -> None:
        import psycopg

        try:
            self.conn.close()
        except psycopg.Error:
            pass  # closing a connection that broke: nothing left to release


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return re.sub(r"\s+", " ", text.splitlines()[0])
