"""The service loop in-process, with jobs replaced by small functions: scheduling,
error containment, the watchdog rule and stopping. (test_service.py runs the real
daemon as a subprocess against the simulated web and the fake Wayback Machine.)"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from linkwatch import cycle, daemon
from linkwatch.config import Settings, load_settings
from linkwatch.daemon import Daemon
from linkwatch.errors import StoreError
from linkwatch.store import open_store
from tests.daemon.conftest import NotifySocket

Job = Callable[[cycle.JobContext], dict[str, Any]]


def settings_for(tmp_path: Path, **schedule: str) -> Settings:
    values = {
        "scan_every": "1h",
        "check_every": "1h",
        "archive_every": "1h",
        "report_every": "1h",
        "stall_after": "1s",
        **schedule,
    }
    return load_settings(
        None,
        env={},
        overrides={"state": {"path": str(tmp_path / "state" / "l.db")}, "schedule": values},
    )


@pytest.fixture
def jobs(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[float]]:
    """Every job records when it ran; tests override single jobs."""
    calls: dict[str, list[float]] = {name: [] for name in cycle.JOB_ORDER}

    def recorder(name: str) -> Job:
        def job(ctx: cycle.JobContext) -> dict[str, Any]:
            calls[name].append(time.monotonic())
            return {"ok": 1}

        return job

    monkeypatch.setattr(cycle, "JOBS", {name: recorder(name) for name in cycle.JOB_ORDER})
    return calls


@pytest.fixture
def running() -> Iterator[Callable[[Daemon], threading.Thread]]:
    started: list[tuple[Daemon, threading.Thread]] = []
    results: dict[int, int] = {}

    def start(d: Daemon) -> threading.Thread:
        t = threading.Thread(target=lambda: results.setdefault(id(d), d.run()), daemon=True)
        t.start()
        started.append((d, t))
        return t

    yield start
    for d, t in started:
        d.stop.set()
        t.join(10)


def wait_for(predicate: Callable[[], bool], timeout: float = 5.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.02)
    return False


def test_overdue_jobs_run_once_at_start_in_order(
    tmp_path: Path, jobs: dict[str, list[float]], running: Callable[[Daemon], threading.Thread]
) -> None:
    d = Daemon(lambda: settings_for(tmp_path))
    running(d)
    assert wait_for(lambda: all(jobs[j] for j in cycle.JOB_ORDER))
    main = [j for j in cycle.JOB_ORDER if j != "archive"]
    assert sorted(main, key=lambda j: jobs[j][0]) == main  # one lane: in order
    assert jobs["archive"][0] >= jobs["check"][0]  # its own lane, after the first check
    time.sleep(0.6)
    assert all(len(jobs[j]) == 1 for j in cycle.JOB_ORDER)


def test_jobs_not_yet_due_are_not_rerun_after_a_restart(
    tmp_path: Path, jobs: dict[str, list[float]], running: Callable[[Daemon], threading.Thread]
) -> None:
    def all_finished() -> bool:
        with open_store(tmp_path / "state" / "l.db") as s:
            return all(s.last_finished_at(j) for j in cycle.JOB_ORDER)

    first = Daemon(lambda: settings_for(tmp_path))
    t = running(first)
    # stop only once every job's run is recorded as finished: a job still running when
    # the daemon stops is recorded "aborted", and rightly runs again after the restart
    assert wait_for(all_finished)
    first.stop.set()
    t.join(5)
    second = Daemon(lambda: settings_for(tmp_path))
    running(second)
    time.sleep(1.0)
    assert all(len(jobs[j]) == 1 for j in cycle.JOB_ORDER)


def test_intervals_wake_the_jobs_again(
    tmp_path: Path, jobs: dict[str, list[float]], running: Callable[[Daemon], threading.Thread]
) -> None:
    d = Daemon(lambda: settings_for(tmp_path, check_every="1s"))
    running(d)
    assert wait_for(lambda: len(jobs["check"]) >= 3, timeout=6)
    assert len(jobs["scan"]) == 1


def test_a_job_that_raises_does_not_stop_the_loop(
    tmp_path: Path,
    jobs: dict[str, list[float]],
    monkeypatch: pytest.MonkeyPatch,
    running: Callable[[Daemon], threading.Thread],
) -> None:
    attempts: list[int] = []

    def flaky(ctx: cycle.JobContext) -> dict[str, Any]:
        attempts.append(1)
        if len(attempts) == 1:
            raise RuntimeError("a bug in one run")
        return {}

    monkeypatch.setitem(cycle.JOBS, "check", flaky)
    d = Daemon(lambda: settings_for(tmp_path, check_every="1s"))
    t = running(d)
    assert wait_for(lambda: len(attempts) >= 2, timeout=6)
    assert t.is_alive()
    d.stop.set()
    t.join(5)
    with open_store(tmp_path / "state" / "l.db") as s:
        statuses = [r["status"] for r in s.query("SELECT status FROM runs WHERE job='check'")]
    assert statuses[0] == "error" and "ok" in statuses[1:]


@pytest.mark.slow
def test_repeated_store_failures_exit_non_zero(
    tmp_path: Path, jobs: dict[str, list[float]], monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(ctx: cycle.JobContext) -> dict[str, Any]:
        raise StoreError("disk full")

    for name in cycle.JOB_ORDER:
        monkeypatch.setitem(cycle.JOBS, name, broken)
    d = Daemon(lambda: settings_for(tmp_path))
    started = time.monotonic()
    assert d.run() == 1
    assert time.monotonic() - started < 10


def test_an_idle_daemon_stops_at_once_not_after_its_tick(
    tmp_path: Path,
    jobs: dict[str, list[float]],
    running: Callable[[Daemon], threading.Thread],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Stopping wakes the idle lanes (and an archive lane still waiting for the first
    check): with a 30 s tick, the daemon still ends well inside systemd's stop timeout."""
    monkeypatch.setattr(daemon, "TICK_S", 30.0)
    d = Daemon(lambda: settings_for(tmp_path))
    t = running(d)
    assert wait_for(lambda: bool(jobs["report"]))
    time.sleep(0.2)
    began = time.monotonic()
    d.stop.set()
    t.join(10)
    assert not t.is_alive() and time.monotonic() - began < 5.0


@pytest.mark.slow
def test_watchdog_pings_only_while_work_progresses(
    tmp_path: Path,
    jobs: dict[str, list[float]],
    monkeypatch: pytest.MonkeyPatch,
    notify_socket: NotifySocket,
    running: Callable[[Daemon], threading.Thread],
) -> None:
    release = threading.Event()

    def hanging_check(ctx: cycle.JobContext) -> dict[str, Any]:
        assert ctx.progress is not None
        ctx.progress(0, 1)
        release.wait(10)  # a check that makes no progress
        return {}

    monkeypatch.setitem(cycle.JOBS, "check", hanging_check)
    env = {"NOTIFY_SOCKET": str(notify_socket.path), "WATCHDOG_USEC": "400000"}
    d = Daemon(lambda: settings_for(tmp_path, stall_after="1s"), env=env)
    running(d)
    assert wait_for(lambda: any("STATUS=check" in m for m in notify_socket.drain()))
    time.sleep(1.2)  # past stall_after: pings must stop
    notify_socket.drain()
    notify_socket.messages.clear()
    time.sleep(1.0)
    assert "WATCHDOG=1" not in notify_socket.drain()
    release.set()
    assert wait_for(lambda: "WATCHDOG=1" in notify_socket.drain(), timeout=3)


def test_ready_is_sent_after_start_up(
    tmp_path: Path,
    jobs: dict[str, list[float]],
    notify_socket: NotifySocket,
    running: Callable[[Daemon], threading.Thread],
) -> None:
    d = Daemon(lambda: settings_for(tmp_path), env={"NOTIFY_SOCKET": str(notify_socket.path)})
    running(d)
    assert wait_for(lambda: any(m.startswith("READY=1") for m in notify_socket.drain()))


def test_report_at_adds_a_daily_report_at_that_time(tmp_path: Path) -> None:
    import datetime as dt

    d = Daemon(lambda: settings_for(tmp_path, report_at="06:30", report_every="0"))
    d._plan()
    daily = [j for j in d.scheduler.jobs if j.unit == "days"]
    assert len(daily) == 1 and daily[0].at_time == dt.time(6, 30)
    assert all(j.job_func.args != ("report",) for j in d.scheduler.jobs if j.unit == "seconds")


def test_an_archive_stage_waiting_on_a_back_off_holds_up_nothing(
    tmp_path: Path,
    jobs: dict[str, list[float]],
    monkeypatch: pytest.MonkeyPatch,
    running: Callable[[Daemon], threading.Thread],
) -> None:
    """The archive sleeps out a long 429 back-off in its own lane; checks keep running."""
    release = threading.Event()

    def sleepy_archive(ctx: cycle.JobContext) -> dict[str, Any]:
        jobs["archive"].append(time.monotonic())
        release.wait(10)
        return {}

    monkeypatch.setitem(cycle.JOBS, "archive", sleepy_archive)
    d = Daemon(lambda: settings_for(tmp_path, check_every="1s"))
    running(d)
    assert wait_for(lambda: bool(jobs["archive"]))
    assert wait_for(lambda: len(jobs["check"]) >= 3, timeout=6)  # while archive waits
    release.set()


def test_a_store_error_is_retried_with_a_back_off_and_named_in_the_status(
    tmp_path: Path,
    jobs: dict[str, list[float]],
    monkeypatch: pytest.MonkeyPatch,
    notify_socket: NotifySocket,
    running: Callable[[Daemon], threading.Thread],
) -> None:
    failures = []

    def full_disk_once(ctx: cycle.JobContext) -> dict[str, Any]:
        failures.append(time.monotonic())
        if len(failures) == 1:
            raise StoreError("the disk holding l.db is full: nothing is lost")
        return {}

    monkeypatch.setitem(cycle.JOBS, "scan", full_disk_once)
    d = Daemon(lambda: settings_for(tmp_path), env={"NOTIFY_SOCKET": str(notify_socket.path)})
    running(d)
    seen: list[str] = []
    assert wait_for(
        lambda: (
            bool(seen.extend(notify_socket.drain()))
            or any("store error" in m and "disk" in m for m in seen)
        )
    )
    assert wait_for(lambda: len(failures) >= 2, timeout=5)  # retried, the daemon alive
    assert failures[1] - failures[0] >= 0.9  # after the back-off, not at once


def test_a_wall_clock_that_steps_back_replans_at_once(
    tmp_path: Path,
    jobs: dict[str, list[float]],
    monkeypatch: pytest.MonkeyPatch,
    running: Callable[[Daemon], threading.Thread],
) -> None:
    d = Daemon(lambda: settings_for(tmp_path, check_every="2s"))
    running(d)
    assert wait_for(lambda: bool(jobs["check"]))
    real_time = time.time
    monkeypatch.setattr(daemon.time, "time", lambda: real_time() - 86400)
    monkeypatch.setattr(d.scheduler, "run_pending", lambda: None)  # schedule is stuck
    before = len(jobs["check"])
    d._plan = lambda: d.request("check")  # type: ignore[method-assign]  # what a replan does
    assert wait_for(lambda: len(jobs["check"]) > before, timeout=3)


def test_a_stalled_job_is_one_stalled_event_in_the_feed(
    tmp_path: Path,
    jobs: dict[str, list[float]],
    running: Callable[[Daemon], threading.Thread],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A job that makes no progress for ``stall_after`` is announced once (not once a
    tick), with what is stuck, on the notification channels."""
    release = threading.Event()

    def hung_scan(ctx: cycle.JobContext) -> dict[str, Any]:
        release.wait(10)
        return {}

    monkeypatch.setitem(cycle.JOBS, "scan", hung_scan)
    base = settings_for(tmp_path)
    from dataclasses import replace

    settings = replace(base, report=replace(base.report, dir=str(tmp_path / "reports")))
    d = Daemon(lambda: settings)
    running(d)

    def stalled() -> list[dict[str, Any]]:
        with open_store(settings.state_target) as store:
            return store.query("SELECT kind, detail FROM events WHERE kind = 'stalled'")

    try:
        assert wait_for(lambda: bool(stalled()), timeout=8)
        time.sleep(0.5)
        (event,) = stalled()  # once, while it stays stalled
        assert "scan made no progress" in event["detail"]
        feed = tmp_path / "reports" / "feed.xml"
        assert wait_for(feed.exists)
        assert "The daemon is stalled" in feed.read_text()
    finally:
        release.set()
