"""Running a batch of checks against the store: ``check_links(...) -> CheckSummary``.

Every host of the batch gets its queue (``hosts.run_hosts``: per-host lanes, spacing,
``Retry-After`` windows waited out within the run's deadline, a global cap). The store's
links come least recently checked first (never-checked and deferred links before links
checked lately), so a host that stops a run early cannot starve the same links every run.
Results are judged here (``verdict.judge``) and written in short transactions every
``FLUSH_EVERY`` results or ``FLUSH_INTERVAL_S`` seconds, never across network I/O. A host
window that ends after the run's deadline (``check.run_deadline``) is stored
(``hosts.not_before``) and defers the host's remaining links to a later run; ad-hoc URLs
left unchecked are reported one by one as ``not_checked`` with the reason.

Network-down detection: the latest outcome of each of the last ``WINDOW`` hosts is kept.
With at least ``WINDOW_MIN`` hosts in it, the run is judged a local outage (its failures
are flagged and are not strikes) when

* at least ``DOWN_SHARE`` of them could not be reached at all (DNS or connect failure,
  timeout without an answer) and one of those had answered before, or
* (nearly) all of them could not be reached, answered before or not: every one of at least
  ``WINDOW_MIN`` hosts, or ``ALL_DOWN_SHARE`` of at least ``ALL_DOWN_MIN``. Real link rot
  never takes out every host of a corpus at once, so this holds on a first run too, when
  no host has answered yet.

The first results wait until the window is full (``WINDOW`` hosts, or every host of the
batch) so that an outage at the start of a run cannot strike, and so that the failures
that come back first (an unknown name fails in milliseconds, a page takes a round trip)
cannot pass for an outage on their own.
"""

from __future__ import annotations

import collections
import logging
import math
import random
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from linkwatch.check import CheckContext, check_url, open_context
from linkwatch.check.body import similarity
from linkwatch.check.classify import is_unreachable
from linkwatch.check.hosts import Host, Job, run_hosts
from linkwatch.check.hosts import now as hosts_now
from linkwatch.check.loop import run as run_loop
from linkwatch.check.transport import Resolver, system_resolver
from linkwatch.clock import Clock, iso, parse_instant
from linkwatch.config import CheckSettings, Settings
from linkwatch.errors import CorpusError
from linkwatch.model import CheckResult, Link, LinkState, Outcome
from linkwatch.store import Store
from linkwatch.store.checks import CheckRecord
from linkwatch.store.events import Event
from linkwatch.urls import host_of, try_canonicalize
from linkwatch.verdict import Rules, judge

log = logging.getLogger(__name__)

FLUSH_EVERY = 500  # results per write transaction (a few ms); at least every second
FLUSH_INTERVAL_S = 1.0
WINDOW = 20
WINDOW_MIN = 5
DOWN_SHARE = 0.8
ALL_DOWN_SHARE = 0.9
ALL_DOWN_MIN = 10
MAX_LISTED = 100
CHUNK = 5000
NOT_CHECKED = "not_checked"  # the outcome field of an ad-hoc URL this run did not request


@dataclass
class Target:
    url: str
    host: str
    link: Link | None = None  # a known link (ad-hoc URLs may be unknown)
    canonical: bool = True  # ``url`` is a canonical key (not a URL that failed to be one)


@dataclass
class CheckSummary:
    total: int = 0
    checked: int = 0
    deferred: int = 0
    not_checked: int = 0
    by_outcome: collections.Counter[str] = field(default_factory=collections.Counter)
    by_state: collections.Counter[str] = field(default_factory=collections.Counter)
    newly_dead: list[str] = field(default_factory=list)
    recovered: list[str] = field(default_factory=list)
    network_down: bool = False
    stopped: bool = False
    elapsed_s: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "total": self.total,
            "checked": self.checked,
            "deferred": self.deferred,
            "not_checked": self.not_checked,
            "by_outcome": dict(sorted(self.by_outcome.items())),
            "by_state": dict(sorted(self.by_state.items())),
            "newly_dead": len(self.newly_dead),
            "recovered": len(self.recovered),
            "newly_dead_urls": self.newly_dead[:MAX_LISTED],
            "recovered_urls": self.recovered[:MAX_LISTED],
            "network_down": self.network_down,
            "stopped": self.stopped,
            "elapsed_s": round(self.elapsed_s, 3),
        }


def check_links(
    settings: Settings,
    store: Store | None,
    *,
    clock: Clock,
    select: str = "due",
    doc: str | None = None,
    urls: Sequence[str] | None = None,
    stop: threading.Event | None = None,
    progress: Callable[[int, int], None] | None = None,
    on_result: Callable[[dict[str, Any]], None] | None = None,
    limit: int | None = None,
    resolver: Resolver = system_resolver,
    rng: random.Random | None = None,
    hosts: Sequence[str] | None = None,
) -> CheckSummary:
    """Check due/all/one document's links, or ad-hoc ``urls``; record what the store knows.
    ``hosts`` keeps to the links of those hosts (a worker's leased ones)."""
    if select not in ("due", "all"):
        raise ValueError(f"select must be 'due' or 'all', not {select!r}")
    started = time.monotonic()
    run = _Run(
        settings,
        store,
        clock,
        stop or threading.Event(),
        progress,
        on_result,
        resolver,
        rng or random.Random(),  # noqa: S311 - jitter, not secrets
    )
    if urls is not None or store is None:
        targets = _adhoc_targets(store, urls or (), limit)
        run.summary.total = len(targets)
        run.execute(targets)
    else:
        _check_stored(run, store, clock(), select, doc, limit, hosts)
    run.summary.elapsed_s = time.monotonic() - started
    run.summary.stopped = run.stop.is_set()
    return run.summary


def _check_stored(
    run: _Run,
    store: Store,
    now: datetime,
    select: str,
    doc: str | None,
    limit: int | None,
    hosts: Sequence[str] | None = None,
) -> None:
    """The store's links in chunks of ``CHUNK`` (bounded memory for large corpora)."""
    if doc is not None and not store.document_known(doc):
        raise CorpusError(
            f"document {doc!r} is not in the database; run 'linkwatch scan' "
            "first and give the path as the scan recorded it"
        )
    ids = store.due_link_ids(now, select=select, doc=doc, limit=limit, hosts=hosts)
    run.summary.total = len(ids)
    for start in range(0, len(ids), CHUNK):
        if run.stop.is_set():
            break
        links = store.links_by_ids(ids[start : start + CHUNK])
        run.execute([Target(lk.url, lk.host or host_of(lk.url), lk) for lk in links])


def _adhoc_targets(store: Store | None, urls: Sequence[str], limit: int | None) -> list[Target]:
    """Ad-hoc URLs, deduplicated by canonical key; known links carry their row."""
    keyed: dict[str, bool] = {}  # canonical key (or the URL itself) -> is a canonical key
    for url in urls:
        key, _ = try_canonicalize(url.strip())
        keyed.setdefault(key or url.strip(), key is not None)
    known = store.links_by_url(keyed) if store is not None else {}
    found = [
        Target(key, host_of(key), known.get(key), canonical)
        for key, canonical in keyed.items()
        if key
    ]
    return found[:limit] if limit is not None else found


def retry_wait(settings: CheckSettings, result: CheckResult) -> float | None:
    """How long a rate-limited host asked us to wait, capped by ``check.retry_after_cap``."""
    if result.outcome is not Outcome.RATE_LIMITED:
        return None
    wait = result.retry_after_s
    if wait is None:
        wait = settings.recheck_rate_limited_s
    return min(wait, settings.retry_after_cap_s)


class _Run:
    def __init__(
        self,
        settings: Settings,
        store: Store | None,
        clock: Clock,
        stop: threading.Event,
        progress: Callable[[int, int], None] | None,
        on_result: Callable[[dict[str, Any]], None] | None,
        resolver: Resolver,
        rng: random.Random,
    ) -> None:
        self.settings, self.store, self.clock, self.stop = settings, store, clock, stop
        self.progress, self.on_result = progress, on_result
        self.resolver, self.rng = resolver, rng
        self.rules = Rules.from_settings(settings.check)
        self.summary = CheckSummary()
        self.done = 0
        self.records: list[CheckRecord] = []
        self.events: list[Event] = []
        self.drift_below = settings.check.drift_below
        self.answered: set[str] = set()
        self.answered_unsaved: set[str] = set()
        self.targets: list[Target] = []
        self.answered_before: set[str] = set()
        self.window: collections.OrderedDict[str, bool] = collections.OrderedDict()
        self.window_min = 0
        self.waiting: list[tuple[Target, CheckResult]] = []
        self.last_flush = time.monotonic()
        self.fingerprint_every_s = settings.check.fingerprint_every_s

    def execute(self, targets: list[Target]) -> None:
        self.targets = targets
        queues = self._by_host(targets)
        if self.store is not None:
            self.answered_before = self.store.hosts_answered_before(queues)
        self.window_min = min(WINDOW, len(queues))
        run_loop(self._execute(queues))
        self._judge_waiting(final=True)
        self._flush(force=True)

    async def _execute(self, queues: dict[str, list[Job]]) -> None:
        async with open_context(
            self.settings, self.clock, resolver=self.resolver, rng=self.rng
        ) as ctx:
            cs = self.settings.check
            # the run waits for no Retry-After window that ends at or after this
            deadline = hosts_now() + cs.run_deadline_s
            hosts = self._hosts(ctx, queues)

            async def check(job: Job) -> CheckResult:
                # validators only for a liveness check: a wanted body must not be a 304
                link = None if job.fetch_body else self.targets[job.key].link
                return await check_url(
                    job.url,
                    ctx,
                    fetch_body=job.fetch_body,
                    canonical=job.canonical,
                    etag=link.etag if link else None,
                    last_modified=link.last_modified if link else None,
                )

            await run_hosts(
                ctx.hosts,
                hosts,
                per_host=cs.per_host,
                check=check,
                report=self._report,
                defer=self._defer_host,
                retry_wait=self._retry_wait,
                stop=self.stop,
                run_deadline=deadline,
            )
            for host in hosts:  # stopped: what is left was not requested
                if host.queue:
                    rest = list(host.queue)
                    host.queue.clear()
                    self._left(host, rest, "the run was stopped before it was requested")

    def _hosts(self, ctx: CheckContext, queues: dict[str, list[Job]]) -> list[Host]:
        """The run's ``Host`` objects with their queues; a window stored by an earlier run
        (or another process) is honoured here too."""
        held = self.store.held_hosts(self.clock()) if self.store is not None else {}
        hosts = []
        for name, jobs in queues.items():
            host = ctx.hosts.get(name)
            host.queue.extend(jobs)
            if name in held:
                left = (held[name] - self.clock()).total_seconds()
                host.not_before = max(host.not_before, hosts_now() + left)
            hosts.append(host)
        return hosts

    def _report(self, job: Job, result: CheckResult) -> None:
        self._handle(self.targets[job.key], result)

    def _defer_host(self, host: Host, jobs: list[Job]) -> None:
        """``host`` asked us to wait beyond this run's deadline."""
        until = self.clock() + timedelta(seconds=math.ceil(host.window_s))
        self._left(
            host,
            jobs,
            f"the host asked us to wait until {iso(until)} (Retry-After), "
            "after the end of this run",
            until,
        )

    def _left(
        self, host: Host, jobs: list[Job], reason: str, until: datetime | None = None
    ) -> None:
        """Jobs this run did not check: a first answer held for a recheck counts; known
        links are deferred in the store; ad-hoc URLs are reported as not checked."""
        rest: list[Target] = []
        for job in jobs:
            held = host.held.pop(job.key, None)
            if held is not None:
                self._handle(self.targets[job.key], held)
            else:
                rest.append(self.targets[job.key])
        if rest:
            self._defer(rest, until, reason)

    def _by_host(self, targets: list[Target]) -> dict[str, list[Job]]:
        queues: dict[str, list[Job]] = {}
        for key, target in enumerate(targets):
            queues.setdefault(target.host, []).append(
                Job(key, target.url, target.host, self._wants_body(target), target.canonical)
            )
        return queues

    def _wants_body(self, target: Target) -> bool:
        link = target.link
        if link is None or link.state is not LinkState.ALIVE or not link.content_hash:
            return True
        taken = link.fingerprint_at
        if not taken:
            return True
        age = (self.clock() - parse_instant(taken)).total_seconds()
        return age >= self.fingerprint_every_s

    # -- results --------------------------------------------------------------------------
    def _handle(self, target: Target, result: CheckResult) -> None:
        if result.status is not None and target.host not in self.answered:
            self.answered.add(target.host)
            self.answered_unsaved.add(target.host)
        if result.outcome not in (
            Outcome.SKIPPED_POLICY,
            Outcome.SKIPPED_SCHEME,
            Outcome.INVALID_URL,
            Outcome.SKIPPED_ROBOTS,
            Outcome.SKIPPED_EXCLUDED,
        ):
            self.window[target.host] = is_unreachable(result.outcome, result.error, result.status)
            self.window.move_to_end(target.host)
            while len(self.window) > WINDOW:
                self.window.popitem(last=False)
        if result.outcome is Outcome.RATE_LIMITED:
            self._hold(target, result)
        self.summary.checked += 1
        self.waiting.append((target, result))
        self._judge_waiting(final=False)
        self._count_progress()
        self._flush()

    def _retry_wait(self, result: CheckResult) -> float | None:
        return retry_wait(self.settings.check, result)

    def _hold(self, target: Target, result: CheckResult) -> None:
        """Store a rate-limited host's window, so every process and run honours it."""
        wait = self._retry_wait(result) or 0.0
        if self.store is not None and wait > 0:
            self.store.hold_host(target.host, self.clock() + timedelta(seconds=wait))

    def _network_down(self) -> bool:
        seen = len(self.window)
        if seen < max(self.window_min, 1) or seen < WINDOW_MIN:
            return False
        unreachable = [h for h, down in self.window.items() if down]
        if len(unreachable) == seen or (
            seen >= ALL_DOWN_MIN and len(unreachable) >= ALL_DOWN_SHARE * seen
        ):
            return True  # nearly every host at once: the network, not link rot
        if len(unreachable) < DOWN_SHARE * seen:
            return False
        return any(h in self.answered_before or h in self.answered for h in unreachable)

    def _judge_waiting(self, final: bool) -> None:
        if not final and len(self.window) < self.window_min:
            return
        down = self._network_down()
        for target, result in self.waiting:
            self._judge(target, result, down and not result.outcome.is_alive)
        self.waiting.clear()

    def _judge(self, target: Target, result: CheckResult, network_down: bool) -> None:
        self.summary.by_outcome[result.outcome.value] += 1
        self.summary.network_down |= network_down
        state: str | None = None
        link = target.link
        if link is not None and self.store is not None:
            prev = link.status
            verdict = judge(
                prev,
                result.outcome,
                result.checked_at,
                self.rules,
                network_down=network_down,
                retry_after_s=self._retry_wait(result),
                rng=self.rng,
            )
            state = verdict.status.state.value
            self.summary.by_state[state] += 1
            if verdict.status.state is not prev.state:
                if verdict.status.state is LinkState.DEAD:
                    self.summary.newly_dead.append(target.url)
                elif (
                    prev.state in (LinkState.DEAD, LinkState.FAILING, LinkState.UNVERIFIABLE)
                    and result.outcome.is_alive
                ):
                    self.summary.recovered.append(target.url)
            alike = similarity(link.first_sketch, result.sketch)
            self.records.append(
                CheckRecord(link.id, result, verdict, prev.state, network_down, alike)
            )
            self.events += events_of(
                link, prev.state, verdict.status.state, result, alike, self.drift_below
            )
        if self.on_result is not None:
            self.on_result(result_record(result, state, network_down))

    def _defer(self, targets: list[Target], until: datetime | None, reason: str) -> None:
        ids = [t.link.id for t in targets if t.link is not None]
        if ids and self.store is not None and until is not None:
            self.store.defer_links(ids, until)
        for target in targets:
            known = target.link is not None and self.store is not None
            if known:
                self.summary.deferred += 1
            else:
                self.summary.not_checked += 1
            if self.on_result is not None:
                self.on_result(
                    {
                        "url": target.url,
                        "outcome": NOT_CHECKED,
                        "status": None,
                        "final_url": None,
                        "redirects": [],
                        "elapsed_ms": 0,
                        "error": f"not requested: {reason}",
                        "retry_at": iso(until) if until is not None else None,
                        "state": target.link.state.value if target.link is not None else None,
                        "deferred": known,
                    }
                )
            self._count_progress()

    def _count_progress(self) -> None:
        self.done += 1
        if self.progress is not None:
            self.progress(self.done, self.summary.total)

    def _flush(self, force: bool = False) -> None:
        if self.store is None:
            self.records.clear()
            return
        due = len(self.records) >= FLUSH_EVERY or (
            time.monotonic() - self.last_flush >= FLUSH_INTERVAL_S
        )
        if not (force or due) or not (self.records or self.answered_unsaved):
            return
        self.store.record_checks(self.records, self.answered_unsaved)
        self.store.add_events(self.events)
        self.events = []
        self.records = []
        self.answered_unsaved = set()
        self.last_flush = time.monotonic()


def events_of(
    link: Link,
    before: LinkState,
    after: LinkState,
    result: CheckResult,
    alike: float | None,
    drift_below: float,
) -> list[Event]:
    """What a check changed that people want to hear of (each once)."""
    at, url, out = iso(result.checked_at), link.url, []
    if after is LinkState.DEAD and before is not LinkState.DEAD:
        out.append(Event("dead", url, at, result.error or result.outcome.value))
    elif before in (LinkState.DEAD, LinkState.FAILING) and after is LinkState.ALIVE:
        out.append(Event("recovered", url, at, f"answers again: {result.outcome.value}"))
    was = link.similarity
    if alike is not None and alike < drift_below and (was is None or was >= drift_below):
        out.append(Event("drifted", url, at, f"its text is {alike:.0%} like the one first read"))
    moved = result.permanent_redirect and result.outcome is Outcome.REDIRECTED
    if moved and not (link.last_outcome is Outcome.REDIRECTED and link.redirect_permanent):
        out.append(Event("moved", url, at, f"moved permanently to {result.final_url}"))
    return out


def result_record(
    result: CheckResult, state: str | None, network_down: bool = False
) -> dict[str, Any]:
    """The JSON line for one checked URL."""
    record: dict[str, Any] = {
        "url": result.url,
        "outcome": result.outcome.value,
        "status": result.status,
        "final_url": result.final_url,
        "redirects": list(result.redirects),
        "elapsed_ms": result.elapsed_ms,
        "error": result.error,
        "state": state,
    }
    if result.permanent_redirect is not None:
        record["permanent"] = result.permanent_redirect
    if result.retry_after_s is not None:
        record["retry_after_s"] = round(result.retry_after_s, 1)
    if result.title is not None:
        record["title"] = result.title
    if network_down:
        record["network_down"] = True
    return record
