"""One object per host for a run: its queue, in-flight count, spacing, ``Retry-After`` window
and counters (``Host``), and the lanes that work through every host's queue fairly
(``run_hosts``).

Rules, in the order a lane applies them:

* At most ``check.per_host`` lanes per host take that host's URLs in turn, so hosts never
  wait on each other; a global semaphore (FIFO) caps checks in flight.
* Requests to one host start at least ``check.host_interval_s`` apart (measured on actual
  request starts, redirect hops and soft-404 probes included). A lane sleeps until its
  host's next turn *before* it takes a global slot, so waiting for one host never holds a
  slot another host could use, and claims the turn only once it holds a slot (when the
  request really starts): a lane that waited for a slot cannot start closer to the
  previous request than the spacing. Spacing waits are not network time: they do not
  count against a check's deadline.
* A ``Retry-After`` (429, or 503 with the header) pauses that host only. When the window
  ends before the run's own deadline (``run_deadline``, on the loop's clock), the host's
  lanes wait for it and go on with its remaining URLs in the same run; a window reaching
  it defers the rest of the host (``defer``) to a later run. A URL answered ``503`` is
  asked once more after the window (most are transient); a ``429`` is the URL's answer for
  this run.
* Once ``stop`` is set no lane starts another URL; checks in flight finish within their
  deadline, and what is left stays in the hosts' queues for the caller to account for.
"""

from __future__ import annotations

import asyncio
import collections
import contextvars
import math
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from linkwatch.model import CheckResult, Outcome

#: set by a lane to the host whose turn it has just claimed: the check's first request to
#: that host uses the claimed turn instead of claiming another
CLAIMED: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "linkwatch_claimed_turn", default=None
)
STOP_POLL_S = 0.25  # how often a lane waiting out a window looks at ``stop``


def now() -> float:
    """The schedule's clock: the running event loop's (``time.monotonic`` unless a test
    runs the lanes on a loop whose time is virtual)."""
    return asyncio.get_running_loop().time()


@dataclass(frozen=True, slots=True)
class Job:
    """One URL to check; ``key`` is its index in the batch."""

    key: int
    url: str
    host: str
    fetch_body: bool = True
    canonical: bool = True  # the batch's URLs are canonical keys


@dataclass
class Host:
    """Everything a run knows about one host."""

    name: str
    interval_s: float
    queue: collections.deque[Job] = field(default_factory=collections.deque)
    in_flight: int = 0
    next_turn: float = -math.inf  # now(): the earliest start of the next request
    not_before: float = 0.0  # now(): the end of its Retry-After window
    requested: int = 0  # requests sent (every hop and probe)
    rate_limited: int = 0  # answers that asked us to wait
    waited_s: float = 0.0  # time spent waiting out its windows
    rechecked: set[int] = field(default_factory=set)  # jobs asked again after a 503
    held: dict[int, CheckResult] = field(default_factory=dict)  # their first answers

    def claim_turn(self) -> float:
        """Claim the next request start; returns how long to sleep until it."""
        at = now()
        start = max(at, self.next_turn)
        self.next_turn = start + self.interval_s
        self.requested += 1
        return start - at

    async def take_turn(self) -> float:
        """Sleep until this host's next turn (unless the lane already claimed it for
        this check); returns the seconds slept."""
        if CLAIMED.get() == self.name:
            CLAIMED.set(None)
            return 0.0
        wait = self.claim_turn()
        if wait > 0:
            await asyncio.sleep(wait)
        return wait

    def sent(self, at: float) -> None:
        """A request to this host really went out at ``at`` (after its DNS look-up and
        connect): the next one waits the spacing from there."""
        self.next_turn = max(self.next_turn, at + self.interval_s)

    def hold(self, seconds: float) -> None:
        """The host asked us to wait ``seconds`` (``Retry-After``, already capped)."""
        self.rate_limited += 1
        self.not_before = max(self.not_before, now() + seconds)

    @property
    def window_s(self) -> float:
        """Seconds left of its ``Retry-After`` window (0 when none)."""
        return max(0.0, self.not_before - now())


class HostPool:
    """The run's hosts by name, and the global cap on checks in flight."""

    def __init__(self, concurrency: int, interval_s: float) -> None:
        self.interval_s = interval_s
        self.slots = asyncio.Semaphore(max(1, concurrency))
        self._hosts: dict[str, Host] = {}

    def get(self, name: str) -> Host:
        host = self._hosts.get(name)
        if host is None:
            host = self._hosts[name] = Host(name, self.interval_s)
        return host


Check = Callable[[Job], Awaitable[CheckResult]]
Report = Callable[[Job, CheckResult], None]
Defer = Callable[[Host, list[Job]], None]
RetryWait = Callable[[CheckResult], float | None]


async def run_hosts(
    pool: HostPool,
    hosts: list[Host],
    *,
    per_host: int,
    check: Check,
    report: Report,
    defer: Defer,
    retry_wait: RetryWait,
    stop: threading.Event,
    run_deadline: float,
) -> None:
    """Check every queued URL of ``hosts`` (until ``stop``), ``report`` each result."""
    lanes = [
        _lane(
            pool,
            host,
            check=check,
            report=report,
            defer=defer,
            retry_wait=retry_wait,
            stop=stop,
            run_deadline=run_deadline,
        )
        for host in hosts
        for _ in range(min(max(1, per_host), len(host.queue)))
    ]
    await asyncio.gather(*lanes)


async def _lane(
    pool: HostPool,
    host: Host,
    *,
    check: Check,
    report: Report,
    defer: Defer,
    retry_wait: RetryWait,
    stop: threading.Event,
    run_deadline: float,
) -> None:
    while host.queue and not stop.is_set():
        if host.window_s > 0:
            if host.not_before >= run_deadline:  # the run would end waiting
                rest = list(host.queue)
                host.queue.clear()
                defer(host, rest)
                return
            await _wait_out(host, stop)
            continue
        turn = host.next_turn - now()
        if turn > 0:  # wait for the host's turn before taking a global slot
            await asyncio.sleep(turn)
            continue
        async with pool.slots:
            if stop.is_set():
                return
            if host.next_turn > now() or not host.queue or host.window_s > 0:
                continue  # another lane took the turn (or the last job) meanwhile
            job = host.queue.popleft()
            host.claim_turn()  # the turn is claimed when the request really starts
            host.in_flight += 1
            CLAIMED.set(host.name)
            try:
                result = await check(job)
            finally:
                CLAIMED.set(None)
                host.in_flight -= 1
        _answered(
            host, job, result, report=report, retry_wait=retry_wait, run_deadline=run_deadline
        )


def _answered(
    host: Host,
    job: Job,
    result: CheckResult,
    *,
    report: Report,
    retry_wait: RetryWait,
    run_deadline: float,
) -> None:
    if result.outcome is Outcome.RATE_LIMITED:
        host.hold(retry_wait(result) or 0.0)
        if (
            result.status == 503
            and job.key not in host.rechecked
            and host.not_before < run_deadline
        ):
            host.rechecked.add(job.key)
            host.held[job.key] = result
            host.queue.append(job)  # once more after the window, after the others
            return
    host.held.pop(job.key, None)
    report(job, result)


async def _wait_out(host: Host, stop: threading.Event) -> None:
    """Sleep until ``host``'s window ends (or ``stop``)."""
    started = now()
    while not stop.is_set():
        left = host.not_before - now()
        if left <= 0:
            break
        await asyncio.sleep(min(left, STOP_POLL_S))
    host.waited_s += now() - started
