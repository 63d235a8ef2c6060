"""The four jobs of a cycle (scan -> check -> archive -> report), each recorded as a run.

``run_job`` is the one place a job is started, by ``linkwatch run`` and by the daemon alike:
it writes a ``runs`` row, calls the stage, and finishes the row with the stage's summary or
the error. What each job works on is decided by the database (what is due), never here.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from linkwatch.clock import Clock
from linkwatch.config import Settings
from linkwatch.store import Store

log = logging.getLogger(__name__)

Progress = Callable[[int, int], None]
JOB_ORDER = ("scan", "check", "archive", "report")


@dataclass
class JobContext:
    settings: Settings
    store: Store
    clock: Clock
    stop: threading.Event = field(default_factory=threading.Event)
    progress: Progress | None = None


def _scan(ctx: JobContext) -> dict[str, Any]:
    from linkwatch.jobs.scan import scan_corpus

    return scan_corpus(ctx.settings, ctx.store, progress=ctx.progress, stop=ctx.stop).to_dict()


def _notify(ctx: JobContext, summary: dict[str, Any]) -> dict[str, Any]:
    """Deliver the events a job recorded (feed, webhook, command) right after it."""
    from linkwatch.jobs.notify import deliver

    sent = deliver(ctx.settings, ctx.store, ctx.clock)
    return {**summary, "notify": sent} if sent else summary


def _check(ctx: JobContext) -> dict[str, Any]:
    from linkwatch.jobs.check import check_links

    summary = check_links(
        ctx.settings,
        ctx.store,
        clock=ctx.clock,
        select="due",
        stop=ctx.stop,
        progress=ctx.progress,
    )
    return _notify(ctx, summary.to_dict())


def _archive(ctx: JobContext) -> dict[str, Any]:
    # archive.enabled = false is handled by the queue itself (it plans, captures nothing)
    from linkwatch.jobs.archive import work_archive_queue

    summary = work_archive_queue(
        ctx.settings, ctx.store, clock=ctx.clock, stop=ctx.stop, progress=ctx.progress
    )
    return _notify(ctx, summary.to_dict())


def _report(ctx: JobContext) -> dict[str, Any]:
    from linkwatch.jobs.report import generate_report

    return generate_report(ctx.settings, ctx.store, clock=ctx.clock).to_dict()


JOBS: dict[str, Callable[[JobContext], dict[str, Any]]] = {
    "scan": _scan,
    "check": _check,
    "archive": _archive,
    "report": _report,
}


@contextmanager
def recorded_run(store: Store, name: str) -> Iterator[dict[str, Any]]:
    """Record a job run by hand (``linkwatch scan``, ``check``, ``archive``) in ``runs``
    like the daemon's: fill the yielded dict with the summary."""
    run_id = store.start_run(name)
    summary: dict[str, Any] = {}
    try:
        yield summary
    except BaseException as exc:
        status = "aborted" if isinstance(exc, KeyboardInterrupt) else "error"
        store.finish_run(run_id, status=status, error=f"{type(exc).__name__}: {exc}")
        raise
    store.finish_run(run_id, status="ok", summary=summary)


def run_job(name: str, ctx: JobContext) -> dict[str, Any]:
    """Run one job and record it. Re-raises the job's exception after recording it."""
    run_id = ctx.store.start_run(name)
    try:
        summary = JOBS[name](ctx)
    except BaseException as exc:
        status = "aborted" if isinstance(exc, KeyboardInterrupt) else "error"
        ctx.store.finish_run(run_id, status=status, error=f"{type(exc).__name__}: {exc}")
        raise
    status = "aborted" if ctx.stop.is_set() else "ok"
    ctx.store.finish_run(run_id, status=status, summary=summary)
    return summary
