"""One attempt at one queue item: look up, maybe capture, poll, verify -> ``Decision``.

Network only; the one database write it needs mid-way (the job id, *before* polling) goes
through ``Journal``. Everything else is returned as a ``Decision`` for the queue to record.

Per item:

- a submitted job (from this run or one before a restart) is polled again, never
  resubmitted; once its status has expired (~1 h) CDX alone decides;
- a failing or dead link gets the InternetArchiveBot look-up (last 2xx capture at or before
  the access date, else the first after); a capture is tried only while the page may still
  be alive;
- a new link is looked up with the availability API; a good capture inside
  ``if_not_archived_within`` means nothing to do, else Save Page Now 2 is asked (with
  ``if_not_archived_within`` again, so the archive itself refuses a duplicate);
- success is verified through CDX: a 2xx capture must be listed, and our own last check
  must not have seen a soft 404 or block page; failure is also checked against CDX (the
  archive sometimes reports failure although it archived).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Protocol

from linkwatch.archive.choose import (
    BAD_PAGE_OUTCOMES,
    GONE_OUTCOMES,
    REJECTED,
    access_instant,
    is_good_capture,
    wayback_timestamp,
)
from linkwatch.archive.limits import ArchiveLimiter
from linkwatch.archive.lookup import Capture, Stopped
from linkwatch.archive.privacy import lookup_refusal, submit_refusal
from linkwatch.archive.spn2 import JobStatus, Retry, SubmitReply, classify_status_ext
from linkwatch.clock import Clock, parse_instant
from linkwatch.config import Settings
from linkwatch.errors import ArchiveError, ArchiveRateLimited, ArchiveUnavailable
from linkwatch.model import ArchiveAction, ArchiveItem, LinkState, Snapshot
from linkwatch.urls import host_of

if TYPE_CHECKING:
    from linkwatch.archive import CaptureService, SnapshotLookup
    from linkwatch.archive.memento import MementoLookup

STATUS_RETENTION_S = 3600.0  # SPN2 keeps job status ~1 h; after that ids look "pending"
VERIFY_GIVE_UP_S = 86400.0  # a reported capture not in CDX after a day: capture again
MAX_RETRY_S = 7 * 86400.0
HELD_RETRY_S = 3600.0  # a held-back URL is looked at again after its next check
NEED_KEYS = (
    "captures need keys: set LINKWATCH_IA_ACCESS_KEY and LINKWATCH_IA_SECRET_KEY, "
    "or archive.credentials_file"
)


class Journal(Protocol):
    def submitted(self, link_id: int, job_id: str) -> None: ...
    def last_outcome(self, link_id: int) -> str | None: ...


@dataclass(frozen=True)
class Decision:
    """What to record for the item. ``status=None`` leaves the queue row as it is."""

    action: ArchiveAction
    status: str | None
    found: tuple[Snapshot, ...] = ()
    error: str | None = None
    retry_in_s: float | None = None
    add_attempt: bool = False
    keep_job: bool = False
    requeue: bool = False  # rate limited: try again in this run once the limiter allows
    unavailable: bool = False  # the archive itself is in trouble


@dataclass
class Context:
    settings: Settings
    lookup: SnapshotLookup
    spn2: CaptureService
    limiter: ArchiveLimiter
    journal: Journal
    clock: Clock
    stop: threading.Event
    capture_block: str | None = None  # why captures are off for this run (no keys, 401, ...)
    mementos: MementoLookup | None = None  # other archives, for dead links
    on_session_limit: Callable[[], None] = field(default=lambda: None)

    @property
    def window_s(self) -> float:
        return self.settings.archive.if_not_archived_within_s

    def retry_in(self, attempts: int) -> float:
        base = self.settings.archive.retry_backoff_s
        return float(min(MAX_RETRY_S, base * 2 ** max(0, attempts - 1)))

    def until_tomorrow(self) -> float:
        now = self.clock()
        tomorrow = (now + timedelta(days=1)).replace(hour=0, minute=5, second=0, microsecond=0)
        return (tomorrow - now).total_seconds()


def _found(caps: list[Capture], source: str, verified: int = 0) -> tuple[Snapshot, ...]:
    return tuple(Snapshot(c.timestamp, c.url, c.status, source, verified) for c in caps)


def attempt(item: ArchiveItem, ctx: Context) -> Decision:
    """Work one item; never raises for archive trouble (it becomes the ``Decision``)."""
    try:
        if item.status == "submitted" and item.job_id:
            return _resume(item, ctx)
        if (
            item.state in (LinkState.FAILING.value, LinkState.DEAD.value)
            or item.reason == "drifted"
        ):
            return _for_failing(item, ctx)
        return _for_live(item, ctx)
    except Stopped:
        return Decision(ArchiveAction.QUEUED, None, error="stopped before finishing")
    except ArchiveRateLimited as exc:
        return Decision(ArchiveAction.QUEUED, None, error=str(exc), requeue=True)
    except ArchiveUnavailable as exc:
        return Decision(
            ArchiveAction.QUEUED,
            None,
            error=str(exc),
            retry_in_s=ctx.settings.archive.retry_backoff_s,
            unavailable=True,
        )
    except ArchiveError as exc:
        return Decision(ArchiveAction.FAILED, "failed", error=str(exc), add_attempt=True)


def _for_live(item: ArchiveItem, ctx: Context) -> Decision:
    now = ctx.clock()
    newest = ctx.lookup.newest(item.url, now)
    found = _found([newest], "availability") if newest else ()
    if newest is not None and newest.is_2xx and item.last_outcome not in BAD_PAGE_OUTCOMES:
        age = (now - parse_instant(_iso(newest.timestamp))).total_seconds()
        if age <= ctx.window_s:
            return Decision(ArchiveAction.ALREADY_ARCHIVED, "done", found)
    if item.last_outcome in BAD_PAGE_OUTCOMES | GONE_OUTCOMES:
        return Decision(
            ArchiveAction.SKIPPED,
            "pending",
            found,
            error=f"last check saw {item.last_outcome}: a capture now would not be a good snapshot",
            retry_in_s=ctx.settings.archive.retry_backoff_s,
        )
    return _capture(item, ctx, found)


def _for_failing(item: ArchiveItem, ctx: Context) -> Decision:
    """The Wayback Machine's last good capture from before the access date is the
    snapshot; without one, other archives are asked too (their copy from before it beats
    a Wayback capture made after), and the rule picks across them all."""
    access = access_instant(item.access_dates) or access_instant([item.first_seen_at])
    cutoff = wayback_timestamp(access) if access else None
    caps = ctx.lookup.captures(item.url, to_ts=cutoff, limit=-1, only_2xx=True)
    if caps:
        return Decision(ArchiveAction.ALREADY_ARCHIVED, "done", _found(caps, "cdx", 1))
    if cutoff:
        caps = ctx.lookup.captures(item.url, from_ts=cutoff, limit=1, only_2xx=True)
    found = _found(caps, "cdx", 1)
    others = ctx.mementos if _may_ask_others(item, ctx) else None
    elsewhere = others.find(item.url, access) if others is not None else None
    if elsewhere is not None and elsewhere.memento is not None:
        m = elsewhere.memento
        found += (Snapshot(m.timestamp, m.uri, elsewhere.status, "memento", 1, m.archive),)
    if found:
        return Decision(ArchiveAction.ALREADY_ARCHIVED, "done", found)
    trouble = elsewhere.trouble if elsewhere is not None else ()
    gone = (
        item.state == LinkState.DEAD.value
        or item.last_outcome in GONE_OUTCOMES | BAD_PAGE_OUTCOMES
        or item.reason == "drifted"  # what answers now is not what was cited: no capture
    )
    if gone and trouble:  # another archive may still have it: ask again later
        return Decision(
            ArchiveAction.FAILED,
            "pending",
            add_attempt=True,
            error="no good copy in the Wayback Machine; other archives could not be asked: "
            + "; ".join(trouble)[:300],
            retry_in_s=ctx.retry_in(item.attempts + 1),
        )
    if gone:
        asked = " or other archives" if ctx.mementos and ctx.mementos.sources else ""
        return Decision(
            ArchiveAction.FAILED,
            "failed",
            add_attempt=True,
            error=f"no good copy in the Wayback Machine{asked}, and the page is gone",
        )
    return _capture(item, ctx, ())


def _may_ask_others(item: ArchiveItem, ctx: Context) -> bool:
    if ctx.mementos is None or not ctx.mementos.sources:
        return False
    refusal = lookup_refusal(
        host_of(item.url),
        item.last_outcome,
        item.last_addresses,
        ctx.settings.archive.submit_networks,
    )
    return refusal is None


def _capture(item: ArchiveItem, ctx: Context, found: tuple[Snapshot, ...]) -> Decision:
    held = submit_refusal(
        item.last_outcome,
        item.last_status,
        item.last_addresses,
        ctx.settings.archive.submit_networks,
    )
    if held is not None:
        return Decision(
            ArchiveAction.SKIPPED, "pending", found, error=held, retry_in_s=HELD_RETRY_S
        )
    if ctx.capture_block:
        retry = 86400.0 if ctx.capture_block == NEED_KEYS else ctx.settings.archive.retry_backoff_s
        return Decision(
            ArchiveAction.SKIPPED, "pending", found, error=ctx.capture_block, retry_in_s=retry
        )
    ticket = ctx.limiter.acquire_capture(ctx.stop)
    if ticket is None:
        raise Stopped
    if ctx.capture_block:  # keys refused or budget gone while we waited for the slot
        ticket.answered()
        ctx.limiter.release_slot()
        return _capture(item, ctx, found)
    try:
        reply = ctx.spn2.submit(item.url)
    except ArchiveRateLimited as exc:
        ctx.limiter.release_slot()
        _back_off(ctx, exc)
        raise
    except ArchiveUnavailable as exc:
        # every failed submission counts (5xx, no reply): the back-off doubles and
        # archive.max_attempts ends it, instead of a resubmission every retry_backoff_s
        if exc.replied:
            ctx.limiter.release_slot()
        else:  # the archive may have started the job: its slot stays taken until
            ctx.limiter.hold_lost()  # /save/status/user says what is free
            ctx.on_session_limit()
        return Decision(
            ArchiveAction.QUEUED,
            "pending",
            found,
            error=str(exc),
            add_attempt=True,
            retry_in_s=ctx.retry_in(item.attempts + 1),
            unavailable=True,
        )
    except BaseException:
        ctx.limiter.release_slot()
        raise
    finally:
        ticket.answered()
    if reply.retry is not None or reply.job_id is None:
        ctx.limiter.release_slot()
        return found_plus(found, _refused(item, ctx, reply))
    submitted_at = ctx.clock()
    try:
        ctx.journal.submitted(item.link_id, reply.job_id)  # persisted before polling
    except BaseException:
        ctx.limiter.release_slot()
        raise
    decision = _poll_and_verify(item, ctx, reply.job_id, submitted_at, reply)
    return found_plus(found, decision)


def found_plus(found: tuple[Snapshot, ...], d: Decision) -> Decision:
    return replace(d, found=found + d.found) if found else d


def _back_off(ctx: Context, exc: ArchiveRateLimited) -> None:
    wait = exc.retry_after_s if exc.retry_after_s >= 0 else ctx.settings.archive.backoff_429_s
    ctx.limiter.back_off(wait)


def _refused(item: ArchiveItem, ctx: Context, reply: SubmitReply) -> Decision:
    if reply.retry is None:  # no job id but "same snapshot": a recent capture exists
        return _recent_or_retry(item, ctx, "the archive reports a recent capture")
    return _by_retry_class(item, ctx, reply.retry, reply.error, submitted=True)


def _by_retry_class(
    item: ArchiveItem, ctx: Context, retry: Retry, error: str, *, submitted: bool
) -> Decision:
    pending = ArchiveAction.QUEUED
    if retry is Retry.AUTH:
        ctx.capture_block = "archive.org refused the keys (HTTP 401); check the archive keys"
        return Decision(
            ArchiveAction.SKIPPED,
            "pending",
            error=ctx.capture_block,
            retry_in_s=ctx.settings.archive.retry_backoff_s,
        )
    if retry is Retry.SESSIONS:
        ctx.on_session_limit()
        return Decision(pending, None, error=error, requeue=True)
    if retry is Retry.ACCOUNT_DAILY:
        ctx.limiter.pause_captures(ctx.until_tomorrow())
        ctx.capture_block = "the account's daily capture budget is used up"
        return Decision(pending, "pending", error=error, retry_in_s=ctx.until_tomorrow())
    if retry is Retry.TOMORROW:
        return _recent_or_retry(item, ctx, error, retry_in=ctx.until_tomorrow())
    if retry is Retry.NEVER:
        return Decision(
            ArchiveAction.FAILED, "failed", error=f"permanent: {error}", add_attempt=submitted
        )
    return Decision(
        pending,
        "pending",
        error=error,
        add_attempt=submitted,
        retry_in_s=ctx.retry_in(item.attempts + 1),
    )


def _recent_or_retry(
    item: ArchiveItem, ctx: Context, error: str, *, retry_in: float | None = None
) -> Decision:
    since = ctx.clock() - timedelta(seconds=max(ctx.window_s, 86400.0))
    caps = ctx.lookup.captures(item.url, from_ts=wayback_timestamp(since), limit=-1, only_2xx=True)
    if caps:
        return Decision(ArchiveAction.ALREADY_ARCHIVED, "done", _found(caps, "cdx", 1))
    return Decision(
        ArchiveAction.QUEUED,
        "pending",
        error=error,
        retry_in_s=retry_in or ctx.retry_in(item.attempts + 1),
    )


def _resume(item: ArchiveItem, ctx: Context) -> Decision:
    assert item.job_id is not None and item.submitted_at is not None
    submitted_at = parse_instant(item.submitted_at)
    age = (ctx.clock() - submitted_at).total_seconds()
    if age > STATUS_RETENTION_S:
        good = _captured_since(item, ctx, submitted_at)
        if good is not None:
            return Decision(ArchiveAction.CAPTURED, "done", _found([good], "spn2", 1))
        if age > VERIFY_GIVE_UP_S:
            return Decision(
                ArchiveAction.QUEUED,
                "pending",
                retry_in_s=0.0,
                error=f"job {item.job_id} expired without a capture in CDX",
            )
        return Decision(
            ArchiveAction.QUEUED,
            "submitted",
            keep_job=True,
            error=f"job {item.job_id}: capture not listed by CDX yet",
            retry_in_s=ctx.settings.archive.retry_backoff_s,
        )
    if not ctx.limiter.acquire_slot(ctx.stop):
        raise Stopped
    return _poll_and_verify(item, ctx, item.job_id, submitted_at, None)


def _poll_and_verify(
    item: ArchiveItem,
    ctx: Context,
    job_id: str,
    submitted_at: datetime,
    reply: SubmitReply | None,
) -> Decision:
    """Holds a concurrency slot on entry; releases it once the job is final or given up."""
    a = ctx.settings.archive
    delay = reply.delay_s if reply is not None else None
    try:
        if delay is not None and delay > a.poll_timeout_s:
            return Decision(
                ArchiveAction.QUEUED,
                "submitted",
                keep_job=True,
                error=f"job {job_id}: the archive starts it in {delay:.0f} s",
                retry_in_s=delay + a.poll_interval_s,
            )
        status = _poll(job_id, ctx, time.monotonic() + a.poll_timeout_s)
    finally:
        ctx.limiter.release_slot()
    same = reply is not None and reply.same_snapshot
    if status is not None and status.state == "success":
        return _verify(item, ctx, status, same)
    good = _captured_since(item, ctx, submitted_at)
    if good is not None:  # reported failure (or never answered) although it archived
        return Decision(ArchiveAction.CAPTURED, "done", _found([good], "spn2", 1))
    if status is None:
        return Decision(
            ArchiveAction.QUEUED,
            "submitted",
            keep_job=True,
            error=f"job {job_id} still pending after {a.poll_timeout_s:g} s",
            retry_in_s=ctx.retry_in(item.attempts + 1),
        )
    retry = classify_status_ext(status.status_ext or "")
    return _by_retry_class(item, ctx, retry, status.error, submitted=False)


def _poll(job_id: str, ctx: Context, deadline: float) -> JobStatus | None:
    a = ctx.settings.archive
    while True:
        wait = a.poll_interval_s
        if time.monotonic() + wait > deadline:
            return None
        if ctx.stop.wait(wait):
            raise Stopped
        if not ctx.limiter.acquire_poll(ctx.stop):
            raise Stopped
        try:
            status = ctx.spn2.status(job_id)
        except ArchiveRateLimited as exc:
            _back_off(ctx, exc)  # before the next poll may leave
            continue
        except ArchiveUnavailable:
            continue
        finally:
            ctx.limiter.poll_done()
        if status.state != "pending":
            return status
        if status.retry_after_s and status.retry_after_s > a.poll_interval_s:
            if ctx.stop.wait(min(status.retry_after_s, 60.0) - a.poll_interval_s):
                raise Stopped


def _verify(item: ArchiveItem, ctx: Context, status: JobStatus, same: bool) -> Decision:
    ts = status.timestamp or ""
    original = status.original_url or item.url
    rows = ctx.lookup.captures(original, from_ts=ts, to_ts=ts, limit=10) if ts else []
    action = ArchiveAction.ALREADY_ARCHIVED if same else ArchiveAction.CAPTURED
    if not rows:
        unverified = Capture(ts, status.http_status, original) if ts else None
        return Decision(
            ArchiveAction.QUEUED,
            "submitted",
            keep_job=True,
            found=_found([unverified], "spn2") if unverified else (),
            error="capture not listed by CDX yet; verifying later",
            retry_in_s=ctx.settings.archive.retry_backoff_s,
        )
    row = next((r for r in rows if r.is_2xx), rows[0])
    outcome = ctx.journal.last_outcome(item.link_id)
    if is_good_capture(row.status, outcome):
        return Decision(action, "done", _found([row], "spn2", 1))
    if row.is_2xx:
        return Decision(
            ArchiveAction.FAILED,
            "pending",
            _found([row], "spn2", REJECTED),
            error=f"captured while our last check saw {outcome}: not a good snapshot",
            retry_in_s=ctx.retry_in(item.attempts + 1),
        )
    return Decision(
        ArchiveAction.FAILED,
        "pending",
        _found([row], "spn2"),
        error=f"the archive captured HTTP {row.status}: not a good snapshot",
        retry_in_s=ctx.retry_in(item.attempts + 1),
    )


def _captured_since(item: ArchiveItem, ctx: Context, since: datetime) -> Capture | None:
    """A good capture of the link made since ``since`` (minus a little clock skew)."""
    start = wayback_timestamp(since - timedelta(minutes=2))
    caps = ctx.lookup.captures(item.url, from_ts=start, limit=-1, only_2xx=True)
    if not caps:
        return None
    outcome = ctx.journal.last_outcome(item.link_id)
    return caps[-1] if is_good_capture(caps[-1].status, outcome) else None


def _iso(ts: str) -> str:
    return f"{ts[0:4]}-{ts[4:6]}-{ts[6:8]}T{ts[8:10]}:{ts[10:12]}:{ts[12:14]}Z"
