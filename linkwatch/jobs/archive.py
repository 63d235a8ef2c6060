"""Working the persistent archive queue: plan, then attempt due items within the limits.

``work_archive_queue`` is what ``linkwatch archive``, ``linkwatch run`` and the daemon
call. Network work runs in a small thread pool (one capture slot per configured
concurrent capture, plus two for look-ups); every database access goes through one lock
in the calling thread's ``Store`` (the worker threads never hold a transaction across
network I/O). A set ``stop`` event ends the run quickly: no new items are started, polls
stop at once, submitted job ids stay in the queue and the next run resumes them.
"""

from __future__ import annotations

import json
import logging
import math
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass, field, replace
from datetime import timedelta
from typing import Any

from linkwatch.archive.attempt import NEED_KEYS, Context, Decision, attempt
from linkwatch.archive.choose import REJECTED, access_instant, choose_snapshot
from linkwatch.archive.limits import ArchiveLimiter, shared_limiter
from linkwatch.archive.lookup import Lookup
from linkwatch.archive.memento import MementoLookup
from linkwatch.archive.spn2 import SPN2Client
from linkwatch.clock import Clock, iso, parse_instant
from linkwatch.config import Settings
from linkwatch.errors import ArchiveError, ArchiveRateLimited, ArchiveUnavailable
from linkwatch.model import ArchiveAction, ArchiveItem, LinkState
from linkwatch.scrub import scrub
from linkwatch.store import Store
from linkwatch.store.events import Event
from linkwatch.urls import InvalidURL, canonicalize

log = logging.getLogger("linkwatch.archive")

META_BACKOFF = "archive.backoff_until"
VERIFY_COPIES_PER_RUN = 50  # cited archived copies replayed per run
META_USER_STATUS = "archive.user_status"
MAX_REQUEUES = 3  # per item per run, after 429s / session limits
MAX_UNAVAILABLE = 5
HEARTBEAT_S = 5.0  # consecutive "archive unavailable" answers end the run


@dataclass
class ArchiveSummary:
    planned: int = 0
    due: int = 0
    handled: int = 0
    captured: int = 0
    already_archived: int = 0
    queued: int = 0
    failed: int = 0
    skipped: int = 0
    captures_enabled: bool = True
    captures_note: str | None = None
    lookups: int = 0
    backoffs: int = 0
    backoff_until: str | None = None
    stopped: bool = False
    elapsed_s: float = 0.0
    errors: list[str] = field(default_factory=list)

    def count(self, action: ArchiveAction) -> None:
        self.handled += 1
        setattr(self, action.value, getattr(self, action.value) + 1)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class _Journal:
    """The workers' one mid-attempt write (the job id) and fresh reads, under the lock."""

    def __init__(self, store: Store, clock: Clock, lock: threading.Lock) -> None:
        self.store, self.clock, self.lock = store, clock, lock

    def submitted(self, link_id: int, job_id: str) -> None:
        with self.lock:
            self.store.mark_archive_submitted(link_id, job_id, self.clock())

    def last_outcome(self, link_id: int) -> str | None:
        with self.lock:
            return self.store.link_last_outcome(link_id)


def work_archive_queue(
    settings: Settings,
    store: Store,
    *,
    clock: Clock,
    stop: threading.Event | None = None,
    progress: Callable[[int, int], None] | None = None,
    on_result: Callable[[dict[str, Any]], None] | None = None,
    max_items: int | None = None,
    urls: Sequence[str] | None = None,
) -> ArchiveSummary:
    """Plan the queue, then work what is due (or only ``urls``, queued as ``manual``).

    ``progress(done, total)`` follows every item and beats every few seconds while jobs
    are polled; ``on_result`` gets one record per link handled (``url, action,
    snapshot_url, snapshot_timestamp, error, reason``). Both are called in this thread,
    never beside a worker's use of ``store``. ``stop`` ends the run within about a second;
    ``max_items`` bounds it. Raises ``ArchiveError`` only for a ``urls`` entry that is not
    an http(s) URL; archive trouble is recorded per item, never raised.
    """
    started = time.monotonic()
    summary = ArchiveSummary(captures_enabled=settings.credentials is not None)
    if settings.credentials is None:
        summary.captures_note = NEED_KEYS
    link_ids = None
    if urls:
        link_ids = store.enqueue_archive_urls([_canonical(u) for u in urls], clock())
    summary.planned = store.plan_archive_queue(clock(), settings.check.drift_below)
    if not settings.archive.enabled and not urls:
        summary.captures_note = "archiving is off (archive.enabled = false)"
        return summary
    items = store.due_archive_items(clock(), limit=max_items, link_ids=link_ids)
    summary.due = len(items)
    if items or (not urls and store.unverified_cited_copies(1)):
        runner = _Runner(settings, store, clock, stop or threading.Event(), summary)
        runner.progress, runner.on_result = progress, on_result
        runner.run(items)
    summary.elapsed_s = round(time.monotonic() - started, 3)
    return summary


def _canonical(url: str) -> str:
    try:
        return canonicalize(url)
    except InvalidURL as exc:
        raise ArchiveError(f"cannot archive {url!r}: {exc}") from None


class _Runner:
    def __init__(
        self,
        settings: Settings,
        store: Store,
        clock: Clock,
        stop: threading.Event,
        summary: ArchiveSummary,
    ) -> None:
        self.settings, self.store, self.clock = settings, store, clock
        self.caller_stop = stop  # the caller's (the daemon's signal handler sets it)
        self.stop = threading.Event()  # ours: also set when the run ends on an error
        self.summary = summary
        self.lock = threading.Lock()
        self.limiter: ArchiveLimiter = shared_limiter(settings)
        self.backoffs_persisted = self.limiter.backoffs
        self.progress: Callable[[int, int], None] | None = None
        self.on_result: Callable[[dict[str, Any]], None] | None = None
        self.requeues: dict[int, int] = {}
        self.unavailable_streak = 0
        self.last_beat = time.monotonic()
        self.secrets = settings.credentials.revealed() if settings.credentials else ()

    def run(self, items: list[ArchiveItem]) -> None:
        self._restore_backoff()
        spn2 = SPN2Client(self.settings)
        lookup = Lookup(self.settings, self.limiter, self.stop)
        mementos = MementoLookup(self.settings, self.stop)
        ctx = Context(
            self.settings,
            lookup,
            spn2,
            self.limiter,
            _Journal(self.store, self.clock, self.lock),
            self.clock,
            self.stop,
            capture_block=self.summary.captures_note,
            mementos=mementos,
        )
        ctx.on_session_limit = lambda: self._consult_user_status(ctx)
        try:
            self._verify_cited_copies(mementos)
            if items and ctx.capture_block is None:
                self._consult_user_status(ctx)
            self._work(items, ctx)
        finally:
            spn2.close()
            mementos.close()
            self.summary.lookups = lookup.requests
            self.summary.backoffs = self.limiter.backoffs
            self.summary.stopped = self.caller_stop.is_set()
            if ctx.capture_block and ctx.capture_block != NEED_KEYS:
                self.summary.captures_note = ctx.capture_block
            self._persist_backoff()

    def _work(self, items: list[ArchiveItem], ctx: Context) -> None:
        todo = deque(items)
        total = len(items)
        workers = min(16, self.settings.archive.concurrent_captures + 2)
        running: dict[Future[Decision], ArchiveItem] = {}
        with ThreadPoolExecutor(workers, thread_name_prefix="linkwatch-archive") as pool:
            try:
                while todo or running:
                    if self.caller_stop.is_set():
                        self.stop.set()
                    while todo and len(running) < workers and not self._should_end():
                        item = todo.popleft()
                        running[pool.submit(attempt, item, ctx)] = item
                    if not running:
                        break
                    done, _ = wait(list(running), timeout=0.1, return_when=FIRST_COMPLETED)
                    for fut in done:
                        item = running.pop(fut)
                        again = self._record(item, fut.result())
                        if again is not None:
                            todo.append(again)
                        else:
                            self._beat(total, force=True)
                    self._beat(total)
                    if self.limiter.backoffs != self.backoffs_persisted:
                        self._persist_backoff()  # at once: a process killed mid-wait
            except BaseException:
                self.stop.set()  # the other workers end at once; the error goes up
                raise

    def _beat(self, total: int, *, force: bool = False) -> None:
        """``progress`` after every item, and every few seconds while jobs are polled
        (every call in flight has a hard deadline, so a beat means the run is alive)."""
        now = time.monotonic()
        if self.progress is not None and (force or now - self.last_beat >= HEARTBEAT_S):
            self.last_beat = now
            with self.lock:  # callbacks may use the store: never beside a worker's write
                self.progress(self.summary.handled, total)

    def _should_end(self) -> bool:
        if self.stop.is_set():
            return True
        if self.limiter.backoff_remaining() > self.limiter.limits.patience_s:
            note = "the archive asked us to back off; the queue resumes on a later run"
            if note not in self.summary.errors:
                self.summary.errors.append(note)
            return True
        if self.unavailable_streak >= MAX_UNAVAILABLE:
            if "archive unavailable" not in self.summary.errors:
                self.summary.errors.append("archive unavailable")
            return True
        return False

    # -- recording ---------------------------------------------------------------------
    def _record(self, item: ArchiveItem, d: Decision) -> ArchiveItem | None:
        """Record one decision; returns the item again if it should be retried this run.

        The error text came from the archive (or a proxy): it is scrubbed of the keys and
        any Authorization header before it is stored, printed or reported."""
        if d.error:
            d = replace(d, error=scrub(d.error, self.secrets))
        self.unavailable_streak = self.unavailable_streak + 1 if d.unavailable else 0
        if d.requeue and not self.stop.is_set():
            n = self.requeues.get(item.link_id, 0)
            if n < MAX_REQUEUES:
                self.requeues[item.link_id] = n + 1
                with self.lock:
                    fresh = self.store.archive_item(item.link_id)
                if fresh is not None:
                    return fresh
        with self.lock:
            action, error = self._write(item, d)
            row = self.store.chosen_snapshot(item.link_id)
        self.summary.count(action)
        if error and len(self.summary.errors) < 20:
            self.summary.errors.append(f"{item.url}: {error}")
        if self.on_result is not None:
            with self.lock:
                self.on_result(
                    {
                        "url": item.url,
                        "action": action.value,
                        "snapshot_url": row[0],
                        "snapshot_timestamp": row[1],
                        "error": error,
                        "reason": item.reason,
                    }
                )
        return None

    def _write(self, item: ArchiveItem, d: Decision) -> tuple[ArchiveAction, str | None]:
        now = self.clock()
        store = self.store
        if d.found:
            store.record_snapshots(item.link_id, d.found, now)
        current = store.archive_item(item.link_id)
        if current is None:
            return d.action, d.error
        status = d.status or current.status
        error = d.error
        consumed = d.add_attempt or current.attempts > item.attempts
        attempts = current.attempts + int(d.add_attempt)
        if (
            status in ("pending", "submitted")
            and consumed
            and attempts >= self.settings.archive.max_attempts
        ):
            status, error = "failed", f"gave up after {attempts} attempts: {error}"
        next_at = current.next_attempt_at
        if d.status is not None or d.retry_in_s is not None:
            next_at = iso(now + timedelta(seconds=d.retry_in_s or 0.0))
        if status in ("done", "failed"):
            next_at = None
        store.finish_archive_item(
            item.link_id,
            status=status,
            now=now,
            error=error if status != "done" else None,
            next_attempt_at=next_at,
            add_attempt=d.add_attempt,
            keep_job=status == "submitted" or d.keep_job,
        )
        if status == "failed":  # for good: no capture, and no copy found to show
            store.add_events(
                [
                    Event(
                        "capture_failed", item.url, iso(now), scrub(error or "", self.secrets) or ""
                    )
                ]
            )
        self._choose(item)
        return _action(d, status), error if status != "done" else None

    def _verify_cited_copies(self, mementos: MementoLookup) -> None:
        """A citation that points at an archived copy is checked for what it is: the copy
        is replayed once (a 2xx from the archive makes it a good snapshot; an archived
        error page does not, and the link is then looked up like any other). The archive
        answering slowly or not at all decides nothing: the copy is tried again later."""
        with self.lock:
            copies = self.store.unverified_cited_copies(VERIFY_COPIES_PER_RUN)
        for link_id, copy in copies:
            if self.stop.is_set():
                return
            try:
                status = mementos.replay_status(copy.url)
            except (ArchiveUnavailable, ArchiveRateLimited) as exc:
                log.info("cited copy %s not replayed: %s", copy.url, scrub(str(exc), self.secrets))
                continue
            verified = 1 if 200 <= status < 300 else REJECTED
            with self.lock:
                self.store.record_snapshots(
                    link_id, [replace(copy, status=status, verified=verified)], self.clock()
                )
                if verified == REJECTED:  # show another snapshot, if the link has one
                    self.store.set_chosen_snapshot(link_id, None, None)

    def _choose(self, item: ArchiveItem) -> None:
        candidates = self.store.link_snapshots(item.link_id)
        access = access_instant(item.access_dates) or access_instant([item.first_seen_at])
        # a drifted page answers, but not with what was cited: the IABot rule, like a dead one
        state = LinkState.FAILING.value if item.reason == "drifted" else item.state
        chosen = choose_snapshot(candidates, state=state, access=access)
        if chosen is not None:
            self.store.set_chosen_snapshot(
                item.link_id, chosen.url, chosen.timestamp, chosen.archive
            )

    # -- the archive's budget ----------------------------------------------------------
    def _consult_user_status(self, ctx: Context) -> None:
        """``/save/status/user``: available slots and the daily budget."""
        if not self.limiter.acquire_request(self.stop):
            return
        try:
            user = ctx.spn2.user_status()
        except (ArchiveUnavailable, ArchiveRateLimited) as exc:
            if isinstance(exc, ArchiveRateLimited):
                self.limiter.back_off(
                    exc.retry_after_s
                    if exc.retry_after_s >= 0
                    else self.settings.archive.backoff_429_s
                )
            log.info("archive user status unavailable: %s", scrub(str(exc), self.secrets))
            return
        if user is None:
            return
        with self.lock:
            self.store.set_meta(
                META_USER_STATUS, json.dumps(user.to_dict() | {"at": iso(self.clock())})
            )
        self.limiter.settle_lost(user.available)
        self.limiter.cap_slots(user.available)
        if user.available is not None and user.available <= 0:
            self.limiter.pause_captures(self.settings.archive.rate_window_s / 4)
        limit, used = user.daily_captures_limit, user.daily_captures
        if limit is not None and used is not None and used >= limit:
            ctx.capture_block = "the account's daily capture budget is used up"
            self.limiter.pause_captures(ctx.until_tomorrow())

    def _restore_backoff(self) -> None:
        with self.lock:
            until = self.store.get_meta(META_BACKOFF)
        if not until:
            return
        try:
            remaining = (parse_instant(until) - self.clock()).total_seconds()
        except ValueError:
            return
        if remaining > 0:
            self.limiter.back_off(remaining)

    def _persist_backoff(self) -> None:
        """The archive's back-off into the store, where every process (a restart, a CLI
        run beside the daemon) finds it."""
        self.backoffs_persisted = self.limiter.backoffs
        remaining = self.limiter.backoff_remaining()
        value = (
            iso(self.clock() + timedelta(seconds=math.ceil(remaining))) if remaining > 0 else None
        )
        self.summary.backoff_until = value
        with self.lock:
            self.store.set_meta(META_BACKOFF, value)


def _action(d: Decision, status: str) -> ArchiveAction:
    if status == "failed":
        return ArchiveAction.FAILED
    if status == "done":
        return d.action
    if d.action is ArchiveAction.SKIPPED:
        return ArchiveAction.SKIPPED
    return ArchiveAction.QUEUED


def archive_status(settings: Settings, store: Store) -> dict[str, Any]:
    """For ``linkwatch status`` and the report: captures on or not, queue, budget. No secrets."""
    from linkwatch.archive.privacy import HELD_BACK

    a = settings.archive
    has_keys = settings.credentials is not None
    if not a.enabled:
        captures = "disabled"
    else:
        captures = "enabled" if has_keys else "captures need keys"
    user_raw = store.get_meta(META_USER_STATUS)
    try:
        user = json.loads(user_raw) if user_raw else None
    except ValueError:
        user = None
    return {
        "enabled": a.enabled,
        "captures": captures,
        "captures_message": None if has_keys else NEED_KEYS,
        "credentials": {"access_key": "***", "secret_key": "***"} if has_keys else None,
        "wayback_url": a.wayback_url,
        "availability_url": a.availability_url,
        "queue": store.archive_queue_figures().to_json(),
        "held_back": store.held_back_reasons(HELD_BACK),
        # a link whose capture failed while it was down, alive again and queued anew
        "recovered_capture_queued": store.recovered_awaiting_capture(),
        # citations that point at an archived copy: is the original back?
        "cited_copies": store.cited_copy_figures(),
        "budget": {
            "captures_per_minute": a.captures_per_minute,
            "concurrent_captures": a.concurrent_captures,
            "cdx_per_minute": a.cdx_per_minute,
            "minute_s": a.rate_window_s,
            "backoff_until": store.get_meta(META_BACKOFF),
            "user_status": user,
        },
    }
