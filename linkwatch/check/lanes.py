"""Working through each host's queue of URLs: ``run_lanes(ctx, lanes, stop, report, defer)``.

Per host at most ``check.per_host`` lanes take that host's URLs in turn, so hosts never
wait on each other; the context's ``HostLimiter`` spaces requests to a host and caps the
checks in flight. A host that answers 429/503 with ``Retry-After`` is held off: its lanes
hand their remaining URLs to ``defer`` instead of requesting them. Once ``stop`` is set no
lane starts another URL; checks in flight finish (each within its deadline).

The same code runs in-process and in the worker processes of ``linkwatch.check.shard``.
"""

from __future__ import annotations

import asyncio
import collections
import threading
from collections.abc import Callable
from dataclasses import dataclass

from linkwatch.check import CheckContext, check_url
from linkwatch.config import CheckSettings, duration_s
from linkwatch.model import CheckResult, Outcome


@dataclass(frozen=True, slots=True)
class Job:
    """One URL to check; ``key`` is its index in the batch."""

    key: int
    url: str
    host: str
    fetch_body: bool = True
    canonical: bool = True  # the batch's URLs are canonical keys


Lanes = dict[str, collections.deque[Job]]
Report = Callable[[Job, CheckResult], None]
Defer = Callable[[str, list[Job]], None]


def retry_wait(settings: CheckSettings, result: CheckResult) -> float | None:
    """How long a rate-limited host asked us to wait, capped by ``check.retry_after_cap``."""
    if result.outcome is not Outcome.RATE_LIMITED:
        return None
    wait = result.retry_after_s
    if wait is None:
        wait = duration_s(settings.recheck_rate_limited)
    return min(wait, duration_s(settings.retry_after_cap))


async def run_lanes(
    ctx: CheckContext, lanes: Lanes, stop: threading.Event, report: Report, defer: Defer
) -> None:
    """Check every queued URL (until ``stop``), ``report`` each result as it comes."""
    per_host = max(1, ctx.settings.per_host)
    await asyncio.gather(*(
        _lane(ctx, host, queue, stop, report, defer)
        for host, queue in lanes.items() for _ in range(min(per_host, len(queue)))
    ))


async def _lane(
    ctx: CheckContext, host: str, queue: collections.deque[Job], stop: threading.Event,
    report: Report, defer: Defer,
) -> None:
    while queue and not stop.is_set():
        if ctx.limiter.is_held_off(host):
            waiting = list(queue)
            queue.clear()
            defer(host, waiting)
            return
        job = queue.popleft()
        await ctx.limiter.reserve(host)
        async with ctx.limiter.slots:
            if stop.is_set():
                queue.appendleft(job)
                return
            result = await check_url(job.url, ctx, fetch_body=job.fetch_body,
                                     canonical=job.canonical)
        if result.outcome is Outcome.RATE_LIMITED:
            ctx.limiter.hold_off(host, retry_wait(ctx.settings, result) or 0.0)
        report(job, result)
