"""A worker on a shared state (issue 16): many of them, on one or many machines, share the
checks of one PostgreSQL database and keep every host's politeness between them.

A worker loops: claim a few hosts that have due links and that no one else holds (a lease
with an expiry, ``linkwatch.store.leases``), check those hosts' due links with the
ordinary checker (which keeps ``check.host_interval_s`` and ``check.per_host`` per host),
renew the leases while it works, then give the hosts back with "nothing before my last
request plus the spacing" stored for the next holder. A worker killed mid-batch stops
renewing: its hosts are claimed by the others once the lease has run out, and every
result it had recorded stays (results are written in short batches as they come).

Two roles are held by one worker at a time, each with its own lease: the **leader** runs
scan and report when their schedule says so and delivers notifications; the **archive**
lane's holder works the archive queue, so one Save Page Now account's limits (and the
back-off it was told, stored in the database) hold across all workers.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import secrets
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from linkwatch.clock import Clock, parse_instant
from linkwatch.config import Settings, job_intervals
from linkwatch.store import Store
from linkwatch.store.leases import WORKER_PREFIX

if TYPE_CHECKING:
    from linkwatch.cycle import JobContext

log = logging.getLogger(__name__)

LEADER = "leader"
ARCHIVE = "archive"


def worker_id() -> str:
    """This worker's name in the lease table: machine, pid and a random part."""
    return f"{socket.gethostname()}/{os.getpid()}/{secrets.token_hex(3)}"


@dataclass
class WorkerSummary:
    holder: str
    claims: int = 0
    hosts: int = 0
    checked: int = 0
    by_outcome: dict[str, int] = field(default_factory=dict)
    roles: dict[str, int] = field(default_factory=dict)
    stopped: bool = False
    elapsed_s: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "holder": self.holder,
            "claims": self.claims,
            "hosts": self.hosts,
            "checked": self.checked,
            "by_outcome": dict(sorted(self.by_outcome.items())),
            "roles": dict(sorted(self.roles.items())),
            "stopped": self.stopped,
            "elapsed_s": round(self.elapsed_s, 3),
        }


def work(
    settings: Settings,
    store: Store,
    *,
    clock: Clock,
    stop: threading.Event,
    holder: str | None = None,
    once: bool = False,
    max_time_s: float | None = None,
    roles: bool = True,
    progress: Callable[[int, int], None] | None = None,
) -> WorkerSummary:
    """Work until ``stop`` (or, with ``once``, until no link is due any more, or
    ``max_time_s`` has passed). ``roles=False`` leaves scan, report and archive to
    other workers.

    The checks run in ``worker.slots`` threads, each with its own connection, its own
    share of ``check.concurrency`` and its own leases (holder ``<worker>#<slot>``): a
    slot that finishes its hosts claims new ones at once, so one slow host never holds
    up the rest. This thread keeps the worker's own lease (``worker:<id>``, which the
    fair share counts) and runs the roles."""
    summary = WorkerSummary(holder or worker_id())
    ws = settings.worker
    started = time.monotonic()
    deadline = None if max_time_s is None else started + max_time_s
    lock = threading.Lock()
    slots = [
        threading.Thread(
            target=_slot,
            args=(settings, clock, stop, summary, f"{summary.holder}#{n}", lock, once, deadline),
            name=f"linkwatch-slot-{n}",
            daemon=True,
        )
        for n in range(ws.slots)
    ]
    name = WORKER_PREFIX + summary.holder
    renewer = _Renewer(settings, summary.holder, clock)
    try:
        store.acquire_lease(name, summary.holder, clock(), ws.lease_s)
        renewer.start()
        if roles:  # a due scan first, so the slots find its links
            _take_roles(settings, store, clock, stop, summary)
        for slot in slots:
            slot.start()
        while any(slot.is_alive() for slot in slots):
            store.acquire_lease(name, summary.holder, clock(), ws.lease_s)
            if roles and not stop.is_set():
                _take_roles(settings, store, clock, stop, summary)
            if progress is not None:
                progress(summary.checked, 0)
            for slot in slots:
                slot.join(ws.idle_s / len(slots))
        if once and roles and not stop.is_set():
            _final_report(settings, store, clock, stop, summary)
    finally:
        if not stop.is_set() and any(slot.is_alive() for slot in slots):
            stop.set()  # an error here: the slots finish their checks in flight and stop
        for slot in slots:
            slot.join()
        renewer.close()
        summary.stopped = stop.is_set()
        summary.elapsed_s = time.monotonic() - started
        store.release_all(summary.holder)
    return summary


def _slot(
    settings: Settings,
    clock: Clock,
    stop: threading.Event,
    summary: WorkerSummary,
    holder: str,
    lock: threading.Lock,
    once: bool,
    deadline: float | None,
) -> None:
    """One slot: claim hosts, check them, give them back, until nothing is due."""
    from linkwatch.jobs.check import check_links
    from linkwatch.store import open_store

    ws, cs = settings.worker, settings.check
    share = max(cs.per_host, cs.concurrency // ws.slots)
    mine = dataclasses.replace(settings, check=dataclasses.replace(cs, concurrency=share))
    store = open_store(settings.state_target, busy_timeout_s=settings.state.busy_timeout_s,
                       clock=clock)  # fmt: skip
    try:
        while not stop.is_set() and (deadline is None or time.monotonic() < deadline):
            fair = store.fair_share(summary.holder, clock())
            per_claim = ws.hosts_per_claim or min(4 * share, -(-fair // ws.slots))
            hosts = store.claim_hosts(holder, clock(), ws.lease_s, per_claim)
            if not hosts:
                if once and store.count_due_links(clock()) == 0:
                    return
                stop.wait(ws.idle_s)
                continue
            result = check_links(mine, store, clock=clock, stop=stop, hosts=hosts)
            store.release_hosts(holder, hosts, clock() + timedelta(seconds=cs.host_interval_s))
            with lock:
                summary.claims += 1
                summary.hosts += len(hosts)
                summary.checked += result.checked
                for outcome, n in result.by_outcome.items():
                    summary.by_outcome[outcome] = summary.by_outcome.get(outcome, 0) + n
    except Exception:
        log.exception("a worker slot failed; its leases run out and other workers take over")
    finally:
        try:
            store.release_all(holder)
        finally:
            store.close()


class _Renewer:
    """Renews every lease of the worker and its slots every third of their length, from
    a thread with its own connection: a slot waiting out a long ``Retry-After`` window,
    or the leader running a long scan, keeps what it holds while the worker lives."""

    def __init__(self, settings: Settings, holder: str, clock: Clock) -> None:
        self.settings, self.holder, self.clock = settings, holder, clock
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, name="linkwatch-leases", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def close(self) -> None:
        self._done.set()
        if self._thread.is_alive():
            self._thread.join()

    def _run(self) -> None:
        from linkwatch.store import open_store

        ttl = self.settings.worker.lease_s
        try:
            with open_store(self.settings.state_target, clock=self.clock) as store:
                while not self._done.wait(ttl / 3):
                    store.renew_leases(self.holder, self.clock(), ttl)
        except Exception:  # the slots go on; without renewals their hosts go to others
            log.exception("renewing the worker's leases failed")


def _take_roles(
    settings: Settings, store: Store, clock: Clock, stop: threading.Event, summary: WorkerSummary
) -> None:
    """The leader's jobs (scan, report, notifications) and the archive lane, when due and
    when this worker holds (or can take) their lease."""
    from linkwatch.cycle import JobContext

    ttl = settings.worker.lease_s
    due = _due_jobs(settings, store, clock())
    ctx = JobContext(settings, store, clock, stop)
    for role, jobs in ((LEADER, ("scan", "report")), (ARCHIVE, ("archive",))):
        # a role's holder keeps it while it lives (renewed every turn, due or not)
        if not store.acquire_lease(role, summary.holder, clock(), ttl):
            continue
        wanted = [j for j in jobs if j in due]
        if role == ARCHIVE and not archive_lane_ready(
            store.lease_since(role, summary.holder), clock(), settings.archive.rate_window_s
        ):
            wanted = []
        for job in wanted:
            if stop.is_set():
                return
            _run_role_job(job, ctx, summary)
            store.acquire_lease(role, summary.holder, clock(), ttl)  # renew between jobs
        if role == LEADER:
            _deliver(settings, store, clock)


def _final_report(
    settings: Settings, store: Store, clock: Clock, stop: threading.Event, summary: WorkerSummary
) -> None:
    """``--once``: the leader writes the report of what this pass checked."""
    from linkwatch.cycle import JobContext

    if store.acquire_lease(LEADER, summary.holder, clock(), settings.worker.lease_s):
        _run_role_job("report", JobContext(settings, store, clock, stop), summary)
        _deliver(settings, store, clock)


def _run_role_job(job: str, ctx: JobContext, summary: WorkerSummary) -> None:
    """One of the roles' jobs, recorded in ``runs``; a failure is logged and the worker
    goes on checking."""
    from linkwatch.cycle import run_job

    try:
        run_job(job, ctx)
        summary.roles[job] = summary.roles.get(job, 0) + 1
    except Exception:
        log.exception("%s failed; the worker goes on checking", job)


def _deliver(settings: Settings, store: Store, clock: Clock) -> None:
    """The leader delivers the events every worker's checks recorded (feed, webhook,
    command), once each."""
    from linkwatch.jobs.notify import deliver

    try:
        deliver(settings, store, clock)
    except Exception:  # an undelivered event stays queued and is retried
        log.exception("delivering notifications failed; they are retried")


def archive_lane_ready(since: datetime | None, now: datetime, window_s: float) -> bool:
    """A new holder of the archive lane submits nothing for one rate window: the previous
    holder's captures (all made before its lease ended) then lie outside every window
    the new holder's limiter counts, so the account's per-minute budget holds across
    the hand-over."""
    return since is not None and (now - since).total_seconds() >= window_s


def _due_jobs(settings: Settings, store: Store, now: datetime) -> set[str]:
    due = set()
    for job, interval in job_intervals(settings).items():
        if job == "check" or interval <= 0:
            continue
        last = store.last_finished_at(job)
        if last is None or (now - parse_instant(last)).total_seconds() >= interval:
            due.add(job)
    return due
