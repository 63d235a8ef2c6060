"""The store's contract: WAL, one short write path, migrations, refusing newer schemas."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

import pytest

from linkwatch.errors import StoreBusyError, StoreError
from linkwatch.store import Store, open_store
from linkwatch.store.migrations import KNOWN_STEPS
from tests.kit.rows import insert, insert_all


def test_a_sqlite_state_opens_in_wal_mode_with_foreign_keys(tmp_path: Path) -> None:
    with open_store(tmp_path / "x.db") as store:
        assert store.scalar("PRAGMA journal_mode") == "wal"
        assert store.scalar("PRAGMA foreign_keys") == 1


def test_foreign_keys_hold_on_both_backends(store: Store) -> None:
    with pytest.raises(StoreError):
        with store.write() as db:
            insert(db, "citations", {"document_id": 999, "link_id": 999, "line": 1,
                                     "source": "text", "raw_url": "x", "first_seen_at": "t",
                                     "last_seen_at": "t"})  # fmt: skip
    assert store.scalar("SELECT count(*) FROM citations") == 0


def test_the_schema_is_at_the_newest_step_on_both_backends(store: Store) -> None:
    from linkwatch.store.migrations import KNOWN_STEPS

    assert store.applied_steps() == KNOWN_STEPS
    assert store.integrity_check() == "ok"


def test_times_and_key_prefixes_compare_byte_by_byte_on_both_backends(store: Store) -> None:
    """ISO times and ``meta`` key ranges rely on byte order: PostgreSQL's columns use the
    "C" collation whatever the cluster's locale."""
    for key in ("archive.a", "archive_b", "Archive.c", "archive.Z", "archive/x"):
        store.set_meta(key, "1")
    keys = [r["key"] for r in store.query(
        "SELECT key FROM meta WHERE key >= ? AND key < ? ORDER BY key", ["archive.", "archive/"]
    )]  # fmt: skip
    assert keys == ["archive.Z", "archive.a"]


def test_write_rolls_back_on_error(store: Store) -> None:
    with pytest.raises(RuntimeError):
        with store.write() as db:
            insert(db, "meta", {"key": "k", "value": "v"})
            raise RuntimeError("boom")
    assert store.get_meta("k") is None


def test_nested_writes_join_the_outer_transaction(store: Store) -> None:
    with store.write():
        store.set_meta("a", "1")
        store.set_meta("b", "2")
    assert (store.get_meta("a"), store.get_meta("b")) == ("1", "2")


def test_a_second_writer_waits_instead_of_failing(tmp_path: Path) -> None:
    path = tmp_path / "x.db"
    first, second = open_store(path), open_store(path, busy_timeout_s=5)
    try:
        entered = threading.Event()

        def hold_lock() -> None:
            with first.write():
                first.set_meta("holder", "first")
                entered.set()
                time.sleep(0.5)

        t = threading.Thread(target=hold_lock)
        t.start()
        entered.wait(2)
        second.set_meta("waiter", "second")  # blocks until the first commits
        t.join()
        assert second.get_meta("holder") == "first"
        assert second.get_meta("waiter") == "second"
    finally:
        first.close()
        second.close()


def test_a_writer_that_cannot_get_the_lock_gets_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "x.db"
    first, second = open_store(path), open_store(path, busy_timeout_s=0.1)
    try:
        with first.write():
            with pytest.raises(StoreBusyError, match="try again"):
                second.set_meta("k", "v")
    finally:
        first.close()
        second.close()


def test_readers_are_not_blocked_by_a_writer(tmp_path: Path) -> None:
    path = tmp_path / "x.db"
    writer, reader = open_store(path), open_store(path, busy_timeout_s=0.1)
    try:
        writer.set_meta("k", "old")
        with writer.write():
            writer.conn.execute("UPDATE meta SET value = 'new' WHERE key = 'k'")
            assert reader.get_meta("k") == "old"
        assert reader.get_meta("k") == "new"
    finally:
        writer.close()
        reader.close()


def _open_together(target: str, n: int = 6) -> list[str]:
    """``n`` threads open ``target`` at the same instant; the errors they got."""
    failures: list[str] = []
    together = threading.Barrier(n)

    def open_it() -> None:
        together.wait()
        try:
            with open_store(target, busy_timeout_s=5) as s:
                s.last_finished_at("scan")
        except StoreError as exc:
            failures.append(str(exc))

    threads = [threading.Thread(target=open_it) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    return failures


def test_processes_opening_one_new_database_at_once_all_get_in(tmp_path: Path) -> None:
    """A CLI started beside a starting daemon: whoever switches the new file to WAL
    first, the others wait for it (SQLite answers "locked" at once, not after the busy
    timeout) instead of failing."""
    failures = [f for n in range(20) for f in _open_together(str(tmp_path / str(n) / "l.db"))]
    assert failures == []


def test_workers_migrating_one_new_postgresql_database_at_once_all_get_in(
    pg_url: str,
) -> None:
    assert _open_together(pg_url) == []
    with open_store(pg_url) as s:
        names = [r["name"] for r in s.query("SELECT name FROM linkwatch_migrations")]
    assert len(names) == len(set(names)) == len(KNOWN_STEPS)  # each step applied once


def test_reopening_applies_no_migration_twice(tmp_path: Path) -> None:
    path = tmp_path / "x.db"
    open_store(path).close()
    s = open_store(path)
    try:
        names = [r["name"] for r in s.query("SELECT name FROM _sqlite_migrations")]
        assert len(names) == len(set(names)) >= 2
    finally:
        s.close()


def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "x.db"
    open_store(path).close()
    conn = sqlite3.connect(path)
    conn.execute(
        "INSERT INTO _sqlite_migrations (migration_set, name, applied_at) "
        "VALUES ('linkwatch', 'm999_from_the_future', 'x')"
    )
    conn.commit()
    conn.close()
    with pytest.raises(StoreError, match="newer than this linkwatch"):
        open_store(path)


def test_a_file_that_is_not_a_database_is_a_store_error(tmp_path: Path) -> None:
    path = tmp_path / "x.db"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreError, match="not a usable"):
        open_store(path)


def test_a_postgresql_state_is_backed_up_with_pg_dump(pg_url: str, tmp_path: Path) -> None:
    with open_store(pg_url) as store:
        with pytest.raises(StoreError, match="pg_dump .*db copy --to sqlite"):
            store.backup(tmp_path / "backup.db")
    assert not (tmp_path / "backup.db").exists()


def test_backup_is_a_consistent_copy(tmp_path: Path) -> None:
    store = open_store(tmp_path / "live.db")
    store.set_meta("k", "v")
    target = tmp_path / "backup.db"
    store.backup(target)
    copy = open_store(target)
    try:
        assert copy.get_meta("k") == "v" and copy.integrity_check() == "ok"
    finally:
        copy.close()
    with pytest.raises(StoreError, match="exists"):
        store.backup(target)
    store.close()


def test_a_full_disk_is_a_clear_store_error_and_loses_nothing(tmp_path) -> None:
    """SQLite's own "database or disk is full" (here: a page limit), mid-transaction:
    a StoreError that says what to do, the transaction rolled back, and the same write
    succeeds once there is room again."""
    from linkwatch.errors import StoreError
    from linkwatch.store import open_store

    store = open_store(tmp_path / "full.db")
    try:
        pages = store.conn.execute("PRAGMA page_count").fetchone()[0]
        store.conn.execute(f"PRAGMA max_page_count = {pages + 1}")
        rows = [{"key": f"k{i}", "value": "x" * 2000} for i in range(200)]
        with pytest.raises(StoreError, match="disk .* is full.*rolled back"):
            with store.write() as db:
                insert_all(db, "meta", rows)
        assert store.scalar("SELECT count(*) FROM meta WHERE key LIKE 'k%'") == 0
        store.conn.execute("PRAGMA max_page_count = 1073741823")
        with store.write() as db:
            insert_all(db, "meta", rows)
        assert store.scalar("SELECT count(*) FROM meta WHERE key LIKE 'k%'") == 200
    finally:
        store.close()
