"""Optional robots.txt (``check.honor_robots``, off by default: we fetch only what a person
cited). RFC 9309 semantics: a 4xx robots.txt allows everything, a 5xx or unreachable one
disallows everything; fetched once per origin and run, under the same address policy,
deadline and size cap as any check. Parsing is protego's.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit, urlunsplit

from protego import Protego

ROBOTS_TIMEOUT_S = 10.0
ROBOTS_MAX_BYTES = 500 * 1024
Fetch = Callable[[str], Awaitable[tuple[int, bytes]]]


class Robots:
    """One origin's rules: allow all, disallow all, or parsed rules."""

    def __init__(self, rules: Protego | None, allow_all: bool) -> None:
        self._rules = rules
        self._allow_all = allow_all

    def allows(self, url: str, agent: str) -> bool:
        if self._rules is None:
            return self._allow_all
        return bool(self._rules.can_fetch(url, agent))


def robots_url(url: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/robots.txt", "", ""))


class RobotsCache:
    """robots.txt per origin per run, fetched once even when asked concurrently."""

    def __init__(self, fetch: Fetch) -> None:
        self._fetch = fetch
        self._tasks: dict[str, asyncio.Task[Robots]] = {}

    async def for_url(self, url: str) -> Robots:
        key = robots_url(url)
        task = self._tasks.get(key)
        if task is None:
            task = asyncio.ensure_future(self._load(key))
            self._tasks[key] = task
        return await asyncio.shield(task)

    async def _load(self, url: str) -> Robots:
        try:
            async with asyncio.timeout(ROBOTS_TIMEOUT_S):
                status, body = await self._fetch(url)
        except Exception:  # noqa: BLE001 - unreachable robots.txt: RFC 9309 says disallow
            return Robots(None, allow_all=False)
        if 200 <= status < 300:
            return Robots(Protego.parse(body.decode("utf-8", errors="replace")), True)
        return Robots(None, allow_all=400 <= status < 500)

    async def aclose(self) -> None:
        for task in self._tasks.values():
            task.cancel()
        await asyncio.gather(*self._tasks.values(), return_exceptions=True)
