"""The service loop: ``schedule`` says when to wake up; the database says what is due.

Threads: the main thread owns signals, the scheduler, sd_notify and the watchdog; two
worker lanes run jobs one at a time, each with its own store connection: the archive lane
(its waits for the archive's back-off never hold up anything else) and the main lane
(scan, check, report). The watchdog is pinged only while every lane is idle or has
reported progress within ``schedule.stall_after``, and no job is overdue by more than
``stall_after`` (measured on the monotonic clock: a hung check, or a scheduler that stopped
waking jobs, stops the pings and systemd restarts the unit). A wall clock that steps back
re-plans the schedule at once (what is due lives in the database).

Store errors (a full disk, a read-only state directory) are retried with a back-off that
doubles (``STORE_BACKOFF_S`` up to ``STORE_BACKOFF_MAX_S``); the status line says so.

Signals: SIGTERM/SIGINT stop taking new work, let the running job finish its in-flight
requests (each has a deadline) and commit, then exit 0; a second signal exits at once.
SIGHUP reloads the config. Every job is wrapped: an error is logged and the loop goes on;
``MAX_STORE_FAILURES`` consecutive store or config failures exit 1 so ``Restart=`` acts.
"""

from __future__ import annotations

import fcntl
import logging
import os
import queue
import signal
import threading
import time
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from pathlib import Path
from types import FrameType
from typing import IO, Any

import schedule

from linkwatch.clock import Clock, iso, parse_instant, system_clock
from linkwatch.config import Settings, job_intervals, load_settings
from linkwatch.cycle import JOB_ORDER, JobContext, run_job
from linkwatch.errors import ConfigError, DaemonRunningError, LinkwatchError, StoreError
from linkwatch.notify import Notifier
from linkwatch.store import Store, open_store

log = logging.getLogger(__name__)

MAX_STORE_FAILURES = 3
TICK_S = 0.5
STOP_TIMEOUT_S = 45.0
CLOCK_SKEW = timedelta(minutes=1)
STORE_BACKOFF_S = 1.0
STORE_BACKOFF_MAX_S = 60.0
#: which lane runs which job: the archive waits on the archive, never on the others
LANES = {"archive": ("archive",), "main": ("scan", "check", "report")}
LANE_OF = {job: lane for lane, jobs in LANES.items() for job in jobs}
#: put in every lane's queue at stop, so an idle lane ends now rather than after a tick
_WAKE = ""


class _Lane:
    """One worker thread's queue and what it is doing."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.requests: queue.Queue[str] = queue.Queue()
        self.pending: set[str] = set()
        self.busy: str | None = None
        self.heartbeat = time.monotonic()
        self.progress = (0, 0)
        self.store_error: str | None = None

    def beat(self, done: int, total: int) -> None:
        self.heartbeat = time.monotonic()
        self.progress = (done, total)


def lock_path(settings: Settings) -> Path:
    return settings.state_path.with_name(settings.state_path.name + ".daemon.lock")


class DaemonLock:
    """An exclusive ``flock`` beside the database: one daemon per state."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file: IO[str] | None = None

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        f = open(self.path, "a+", encoding="utf-8")
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.seek(0)
            pid = f.read().strip() or "?"
            f.close()
            raise DaemonRunningError(
                f"a linkwatch daemon (pid {pid}) already runs on this state ({self.path}); "
                "stop it first, or use the CLI beside it"
            ) from None
        f.seek(0)
        f.truncate()
        f.write(str(os.getpid()))
        f.flush()
        self._file = f

    def release(self) -> None:
        if self._file is not None:
            fcntl.flock(self._file, fcntl.LOCK_UN)
            self._file.close()
            self._file = None


def daemon_pid(settings: Settings) -> int | None:
    """The pid of the daemon running on this state, or None."""
    path = lock_path(settings)
    if not path.exists():
        return None
    with open(path, encoding="utf-8") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            text = f.read().strip()
            return int(text) if text.isdigit() else -1
        fcntl.flock(f, fcntl.LOCK_UN)
    return None


def next_runs(settings: Settings, store: Store, now: datetime) -> dict[str, str]:
    """When each job is next due, from its last successful run (what ``status`` shows)."""
    out: dict[str, str] = {}
    for job, interval in job_intervals(settings).items():
        last = store.last_finished_at(job)
        if interval <= 0:
            out[job] = "never (disabled)"
        elif last is None or parse_instant(last) > now + CLOCK_SKEW:
            out[job] = "now"  # never ran, or its last run is "in the future": the clock went back
        else:
            out[job] = max(now, parse_instant(last) + timedelta(seconds=interval)).isoformat(
                timespec="seconds"
            )
    return out


class Daemon:
    def __init__(
        self,
        load: Callable[[], Settings],
        *,
        clock: Clock = system_clock,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self._load = load
        self.clock = clock
        self.notifier = Notifier(env)
        self.stop = threading.Event()
        self._reload = threading.Event()
        self._lanes = {name: _Lane(name) for name in LANES}
        self._pending_lock = threading.Lock()
        self._fatal: str | None = None
        self._failures = 0
        self._failures_lock = threading.Lock()
        self._started = time.monotonic()
        self._stalled = False
        self._last_done: dict[str, float] = {}  # job -> monotonic time it last ended
        #: the archive lane starts after the first check: captures need a check's verdict
        #: on every new link (only URLs seen at public addresses are ever submitted)
        self._checked = threading.Event()
        self.settings = load()
        self.scheduler = schedule.Scheduler()

    # -- scheduling -------------------------------------------------------------------
    def request(self, job: str) -> None:
        """Ask the job's lane to run ``job`` soon; requests for a queued job coalesce."""
        lane = self._lanes[LANE_OF.get(job, "main")]
        with self._pending_lock:
            if job in lane.pending:
                return
            lane.pending.add(job)
        lane.requests.put(job)

    def _plan(self) -> None:
        self.scheduler.clear()
        for job, interval in job_intervals(self.settings).items():
            if interval > 0:
                self.scheduler.every(max(1, round(interval))).seconds.do(self.request, job)
        if self.settings.schedule.report_at:
            self.scheduler.every().day.at(self.settings.schedule.report_at).do(
                self.request, "report"
            )

    def _request_overdue(self, store: Store) -> None:
        now = self.clock()
        for job in JOB_ORDER:
            due = next_runs(self.settings, store, now)[job]
            if due == "now" or (due[0].isdigit() and parse_instant(due) <= now):
                self.request(job)

    # -- signals ----------------------------------------------------------------------
    def _on_stop_signal(self, signum: int, frame: FrameType | None) -> None:
        if self.stop.is_set():
            log.warning("second signal: exiting now")
            os._exit(128 + signum)
        log.info("signal %s: finishing in-flight work, then exiting", signal.Signals(signum).name)
        self.stop.set()

    def _on_hup(self, signum: int, frame: FrameType | None) -> None:
        self._reload.set()

    def install_signals(self) -> None:
        signal.signal(signal.SIGTERM, self._on_stop_signal)
        signal.signal(signal.SIGINT, self._on_stop_signal)
        signal.signal(signal.SIGHUP, self._on_hup)

    # -- the workers ------------------------------------------------------------------
    def _worker(self, lane: _Lane) -> None:
        store: Store | None = None
        if lane.name == "archive":
            while not self._checked.wait(TICK_S):
                if self.stop.is_set():
                    return
        try:
            while not self.stop.is_set() and self._fatal is None:
                try:
                    job = lane.requests.get(timeout=TICK_S)
                except queue.Empty:
                    continue
                if job == _WAKE:
                    continue
                with self._pending_lock:
                    lane.pending.discard(job)
                store = self._run_one(lane, job, store)
        finally:
            if store is not None:
                store.close()

    def _run_one(self, lane: _Lane, job: str, store: Store | None) -> Store | None:
        lane.beat(0, 0)  # first: the watchdog must never see the new job with an old beat
        lane.busy = job
        settings = self.settings
        try:
            if store is None:
                store = open_store(
                    settings.state_target,
                    busy_timeout_s=settings.state.busy_timeout_s,
                    clock=self.clock,
                )
            ctx = JobContext(settings, store, self.clock, self.stop, lane.beat)
            summary = run_job(job, ctx)
            with self._failures_lock:
                self._failures = 0
            lane.store_error = None
            log.info("%s done: %s", job, _brief(summary))
        except (StoreError, ConfigError) as exc:
            self._store_failed(lane, job, store, exc)
            store = None
        except LinkwatchError as exc:
            log.error("%s failed: %s", job, exc)
        except Exception:
            log.exception("%s failed with an unexpected error; the daemon goes on", job)
        finally:
            self._last_done[job] = time.monotonic()
            if job == "check":
                self._checked.set()
            lane.busy = None
            lane.beat(0, 0)
        return store

    def _store_failed(
        self, lane: _Lane, job: str, store: Store | None, exc: LinkwatchError
    ) -> None:
        """A store (or config) failure: logged once as what it is, retried after a
        back-off that doubles; ``MAX_STORE_FAILURES`` in a row end the daemon (exit 1) so
        systemd's ``Restart=`` takes over."""
        with self._failures_lock:
            self._failures += 1
            failures = self._failures
        wait = min(STORE_BACKOFF_MAX_S, STORE_BACKOFF_S * 2 ** (failures - 1))
        kind = "store" if isinstance(exc, StoreError) else "config"
        log.error(
            "%s failed (%s error, %d in a row; retrying in %.0f s): %s",
            job,
            kind,
            failures,
            wait,
            exc,
        )
        lane.store_error = f"{kind} error: {exc}"
        if store is not None:
            store.close()
        if failures >= MAX_STORE_FAILURES:
            self._fatal = f"{failures} {kind} failures in a row: {exc}"
        elif not self.stop.wait(wait):
            self.request(job)  # the same job again once the back-off has passed

    # -- the main loop ----------------------------------------------------------------
    def _watchdog_due(self) -> bool:
        """Ping only while every lane progresses and no job is long overdue."""
        return self._stall_reason() is None

    def _stall_reason(self) -> str | None:
        """Why the daemon is stalled (a job making no progress, a job long overdue), or
        None."""
        stall = self.settings.schedule.stall_after_s
        now = time.monotonic()
        for lane in self._lanes.values():
            if lane.busy is not None and now - lane.heartbeat >= stall:
                return f"{lane.busy} made no progress for {now - lane.heartbeat:.0f} s"
        busy = {lane.busy for lane in self._lanes.values()}
        for job, interval in job_intervals(self.settings).items():
            if interval <= 0 or job in busy:
                continue
            last = self._last_done.get(job, self._started)
            if now - last > interval + stall:
                # the scheduler stopped waking it (a clock step, a bug)
                return f"{job} is overdue by {now - last - interval:.0f} s"
        return None

    def _watch_for_stalls(self) -> None:
        """A stall becomes one ``stalled`` event (feed, webhook, command), delivered from
        a thread of its own so a slow webhook never holds up the watchdog pings; the
        next stall after the daemon recovered is a new event."""
        reason = self._stall_reason()
        if reason is None:
            if self._stalled:
                log.info("the daemon makes progress again")
            self._stalled = False
            return
        if self._stalled:
            return
        self._stalled = True
        log.error("the daemon is stalled: %s", reason)
        threading.Thread(
            target=self._report_stall, args=(reason,), name="linkwatch-stall", daemon=True
        ).start()

    def _report_stall(self, reason: str) -> None:
        from linkwatch.jobs.notify import deliver
        from linkwatch.store.events import Event

        try:
            with open_store(self.settings.state_target, clock=self.clock) as store:
                store.add_events([Event("stalled", "", iso(self.clock()), reason)])
                deliver(self.settings, store, self.clock)
        except Exception:  # the journal has the stall already (logged above)
            log.exception("could not record the stall as an event")

    def _status_line(self) -> str:
        parts = []
        for lane in self._lanes.values():
            if lane.store_error:
                parts.append(f"{lane.store_error[:120]} (retrying)")
            elif lane.busy is not None:
                done, total = lane.progress
                parts.append(f"{lane.busy} {done}/{total}" if total else lane.busy)
        return "; ".join(parts) or "idle"

    def _clock_stepped_back(self) -> None:
        """The wall clock went back: ``schedule`` would wait for its old next-run times,
        so plan again and run what the database says is due."""
        log.warning("the wall clock stepped back; planning the schedule again")
        self._plan()
        try:
            with open_store(self.settings.state_target, clock=self.clock) as store:
                self._request_overdue(store)
        except StoreError as exc:
            log.error("cannot read what is due: %s", exc)

    def _reload_settings(self) -> None:
        self._reload.clear()
        try:
            self.settings = self._load()
        except ConfigError as exc:
            self._failures += 1
            log.error("reload failed, keeping the previous settings: %s", exc)
            if self._failures >= MAX_STORE_FAILURES:
                self._fatal = f"config could not be read {self._failures} times: {exc}"
            return
        log.info("settings reloaded from %s", self.settings.source)
        self._plan()

    def run(self) -> int:
        lock = DaemonLock(lock_path(self.settings))
        lock.acquire()
        try:
            return self._serve()
        finally:
            lock.release()
            self.notifier.close()

    def _serve(self) -> int:
        with open_store(self.settings.state_target, clock=self.clock) as store:
            aborted = store.abort_stale_runs()
            if aborted:
                log.warning("%d run(s) ended by a crash; their due work will be redone", aborted)
            self._request_overdue(store)
        if "check" not in self._lanes["main"].pending:
            self._checked.set()  # no check due at start: nothing to wait for
        self._plan()
        workers = [
            threading.Thread(
                target=self._worker, args=(lane,), name=f"linkwatch-{lane.name}", daemon=True
            )
            for lane in self._lanes.values()
        ]
        for worker in workers:
            worker.start()
        self.notifier.ready(f"started; state {self.settings.state_where}")
        log.info("daemon started (pid %d, state %s)", os.getpid(), self.settings.state_where)
        ping_every = (self.notifier.watchdog_s or 0) / 2
        last_ping = 0.0
        last_status = ""
        last_wall = time.time()
        while not self.stop.is_set() and self._fatal is None:
            if self._reload.is_set():
                self._reload_settings()
            if time.time() < last_wall - 1.0:
                self._clock_stepped_back()
            last_wall = time.time()
            self.scheduler.run_pending()
            if ping_every and time.monotonic() - last_ping >= ping_every and self._watchdog_due():
                self.notifier.watchdog()
                last_ping = time.monotonic()
            self._watch_for_stalls()
            line = self._status_line()
            if line != last_status:
                self.notifier.status(line)
                last_status = line
            self.stop.wait(min(TICK_S, ping_every or TICK_S))
        self.stop.set()
        self.notifier.stopping()
        self._checked.set()  # the archive lane may still wait for the first check
        for lane in self._lanes.values():
            lane.requests.put(_WAKE)
        deadline = time.monotonic() + STOP_TIMEOUT_S
        for worker in workers:
            worker.join(max(0.0, deadline - time.monotonic()))
        if any(worker.is_alive() for worker in workers):
            log.error("the running job did not stop within %ss; exiting anyway", STOP_TIMEOUT_S)
            return 1
        if self._fatal is not None:
            log.error("exiting: %s", self._fatal)
            return 1
        log.info("daemon stopped")
        return 0


def _brief(summary: dict[str, Any]) -> str:
    items = [f"{k}={v}" for k, v in summary.items() if isinstance(v, int | float | str)]
    return ", ".join(items[:8])


def make_daemon(
    config_path: str | None, overrides: dict[str, dict[str, Any]], clock: Clock = system_clock
) -> Daemon:
    return Daemon(lambda: load_settings(config_path, overrides=overrides), clock=clock)
