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

import logging
import os
import secrets
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from linkwatch.clock import Clock, parse_instant
from linkwatch.config import Settings, job_intervals
from linkwatch.store import Store

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
    other workers."""
    from linkwatch.jobs.check import check_links

    summary = WorkerSummary(holder or worker_id())
    ws, cs = settings.worker, settings.check
    started = time.monotonic()
    try:
        while not stop.is_set():
            if max_time_s is not None and time.monotonic() - started >= max_time_s:
                break
            if roles:
                _take_roles(settings, store, clock, stop, summary)
            hosts = store.claim_hosts(summary.holder, clock(), ws.lease_s, ws.hosts_per_claim)
            if hosts:
                summary.claims += 1
                summary.hosts += len(hosts)
                renew = _Renewer(store, summary.holder, clock, ws.lease_s, progress)
                result = check_links(
                    settings, store, clock=clock, stop=stop, progress=renew, hosts=hosts
                )
                summary.checked += result.checked
                for outcome, n in result.by_outcome.items():
                    summary.by_outcome[outcome] = summary.by_outcome.get(outcome, 0) + n
                next_request = clock() + timedelta(seconds=cs.host_interval_s)
                store.release_hosts(summary.holder, hosts, next_request)
                continue
            if once and store.count_due_links(clock()) == 0:
                break
            stop.wait(ws.idle_s)
    finally:
        summary.stopped = stop.is_set()
        summary.elapsed_s = time.monotonic() - started
        store.release_all(summary.holder)
    return summary


class _Renewer:
    """The checker's progress callback: renews this worker's leases every third of
    their length, so a long batch never loses its hosts while it is alive."""

    def __init__(
        self,
        store: Store,
        holder: str,
        clock: Clock,
        ttl_s: float,
        progress: Callable[[int, int], None] | None,
    ) -> None:
        self.store, self.holder, self.clock, self.ttl_s = store, holder, clock, ttl_s
        self.progress = progress
        self.last = time.monotonic()

    def __call__(self, done: int, total: int) -> None:
        if time.monotonic() - self.last >= self.ttl_s / 3:
            self.store.renew_leases(self.holder, self.clock(), self.ttl_s)
            self.last = time.monotonic()
        if self.progress is not None:
            self.progress(done, total)


def _take_roles(
    settings: Settings, store: Store, clock: Clock, stop: threading.Event, summary: WorkerSummary
) -> None:
    """The leader's jobs (scan, report, notifications) and the archive lane, when due and
    when this worker holds (or can take) their lease."""
    from linkwatch.cycle import JobContext, run_job

    ttl = settings.worker.lease_s
    due = _due_jobs(settings, store, clock())
    ctx = JobContext(settings, store, clock, stop)
    for role, jobs in ((LEADER, ("scan", "report")), (ARCHIVE, ("archive",))):
        wanted = [j for j in jobs if j in due]
        if not wanted or not store.acquire_lease(role, summary.holder, clock(), ttl):
            continue
        for job in wanted:
            if stop.is_set():
                return
            try:
                run_job(job, ctx)
                summary.roles[job] = summary.roles.get(job, 0) + 1
            except Exception:  # a failed job is recorded in runs; the worker goes on
                log.exception("%s failed; the worker goes on checking", job)
            store.acquire_lease(role, summary.holder, clock(), ttl)  # renew between jobs


def _due_jobs(settings: Settings, store: Store, now: datetime) -> set[str]:
    due = set()
    for job, interval in job_intervals(settings).items():
        if job == "check" or interval <= 0:
            continue
        last = store.last_finished_at(job)
        if last is None or (now - parse_instant(last)).total_seconds() >= interval:
            due.add(job)
    return due
