"""Per-host politeness: minimum spacing between requests, Retry-After, global concurrency.

Per-host *concurrency* comes from the batch runner (at most ``per_host`` workers per host);
this module spaces requests to one host at least ``interval_s`` apart (measured on actual
request starts) and remembers when a host asked us to wait (``Retry-After``). Waiting for
one host does not hold up another: a worker sleeps for its own host's turn before it takes
a global slot (``reserve``), and only tops the wait up inside it (``take_turn``).
"""

from __future__ import annotations

import asyncio
import time


class HostLimiter:
    """Spacing per host, a global cap on checks in flight, and per-host 'not before' times."""

    def __init__(self, concurrency: int, interval_s: float) -> None:
        self.interval_s = interval_s
        self._global = asyncio.Semaphore(max(1, concurrency))
        self._next_start: dict[str, float] = {}
        self._last_start: dict[str, float] = {}
        self._not_before: dict[str, float] = {}

    async def reserve(self, host: str) -> None:
        """Sleep for (most of) ``host``'s wait *before* taking a global slot, so a worker
        waiting for its host's turn does not hold a slot another host could use."""
        if self.interval_s <= 0:
            return
        now = time.monotonic()
        start = max(now, self._next_start.get(host, 0.0))
        self._next_start[host] = start + self.interval_s
        if start > now:
            await asyncio.sleep(start - now)

    async def take_turn(self, host: str) -> None:
        """Right before each request: at least ``interval_s`` after the host's last one.

        The turn is claimed before sleeping, so two requests waiting for the same host
        (a lane and a soft-404 probe, say) get successive turns, not the same one."""
        if self.interval_s <= 0:
            return
        now = time.monotonic()
        turn = max(now, self._last_start.get(host, float("-inf")) + self.interval_s)
        self._last_start[host] = turn
        if turn > now:
            await asyncio.sleep(turn - now)

    @property
    def slots(self) -> asyncio.Semaphore:
        """The global check slots (``async with limiter.slots:`` holds one)."""
        return self._global

    def hold_off(self, host: str, seconds: float) -> None:
        """``host`` asked us to wait ``seconds`` (Retry-After, already capped)."""
        until = time.monotonic() + seconds
        self._not_before[host] = max(self._not_before.get(host, 0.0), until)

    def is_held_off(self, host: str) -> bool:
        return self._not_before.get(host, 0.0) > time.monotonic()
