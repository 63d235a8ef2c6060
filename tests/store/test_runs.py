"""Runs are recorded at start and end, so a crash mid-run stays visible."""

from __future__ import annotations

from linkwatch.store import Store
from tests.conftest import FakeClock


def test_a_run_is_recorded_from_start_to_finish(store: Store, clock: FakeClock) -> None:
    run_id = store.start_run("check")
    assert store.last_runs()["check"].status == "running"
    clock.advance(minutes=5)
    store.finish_run(run_id, status="ok", summary={"checked": 3})
    last = store.last_runs()["check"]
    assert last.status == "ok" and last.summary == {"checked": 3}
    assert last.finished_at == "2026-01-01T00:05:00+00:00"
    assert store.last_finished_at("check") == "2026-01-01T00:05:00+00:00"


def test_only_successful_runs_count_as_finished(store: Store) -> None:
    store.finish_run(store.start_run("report"), status="error", error="boom")
    assert store.last_finished_at("report") is None


def test_runs_of_a_dead_process_become_aborted(store: Store) -> None:
    run_id = store.start_run("scan")
    assert store.abort_stale_runs(live_pids=set()) == 1
    row = store.query("SELECT status, error FROM runs WHERE id = ?", [run_id])[0]
    assert row["status"] == "aborted" and "ended before" in row["error"]
    assert store.abort_stale_runs(live_pids=set()) == 0


def test_runs_of_this_process_are_left_alone(store: Store) -> None:
    store.start_run("scan")
    assert store.abort_stale_runs() == 0


def test_an_unreadable_summary_is_kept_as_text_not_a_crash(store: Store) -> None:
    run_id = store.start_run("scan")
    with store.write() as db:
        db.execute("UPDATE runs SET summary = '{broken' WHERE id = ?", [run_id])
    assert store.last_runs()["scan"].summary == {"unreadable": "{broken"}
