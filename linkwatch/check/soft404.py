"""Soft-404 detection beyond the page's own words (robustify-style).

A site that answers ``200`` for pages that do not exist betrays itself when a made-up
sibling URL (same directory, random last segment) gets the same page back. We fetch that
sibling once per site directory and run, and call a page soft-404 when its main-text hash
equals the sibling's. Sites that serve their home page for any unknown path are handled
by the same comparison: their real pages differ from the home page, so they stay ``ok``;
the home page itself (path ``/``) is never probed.

A deep link redirected to a site's root is also a soft 404 (InternetArchiveBot's rule).
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

_INDEX_NAMES = ("index", "default", "home", "welcome")


@dataclass(frozen=True, slots=True)
class ProbeResult:
    """What a made-up sibling URL got."""

    status: int | None
    final_url: str | None
    content_hash: str | None


def directory_key(url: str) -> tuple[str, str, str]:
    parts = urlsplit(url)
    return parts.scheme, parts.netloc, parts.path.rsplit("/", 1)[0] + "/"


def _path(url: str) -> str:
    """``urlsplit(url).path`` of an absolute URL, without the general parser."""
    rest = url.partition("#")[0].partition("?")[0]
    scheme_end = rest.find("://")
    if scheme_end < 0:
        return urlsplit(url).path
    start = rest.find("/", scheme_end + 3)
    return rest[start:] if start >= 0 else ""


def last_segment(url: str) -> str:
    return _path(url).rstrip("/").rsplit("/", 1)[-1]


def sibling_url(url: str, rng: random.Random) -> tuple[str, str]:
    """A URL next to ``url`` that almost surely does not exist, and its random token."""
    scheme, netloc, directory = directory_key(url)
    token = "lw" + "".join(rng.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(18))
    last = urlsplit(url).path.rsplit("/", 1)[-1]
    ext = ""
    if "." in last:
        suffix = last.rsplit(".", 1)[1]
        if suffix.isalnum() and len(suffix) <= 5:
            ext = "." + suffix
    return urlunsplit((scheme, netloc, directory + token + ext, "", "")), token


def is_home(url: str) -> bool:
    """A site's root page: path ``/`` (or none) and no query."""
    return _path(url) in ("", "/") and not url.partition("#")[0].partition("?")[2]


def is_redirect_to_home(original: str, final: str) -> bool:
    """A deep link that ended on a site's root page. A root URL with a query
    (``/?utm_source=feed``) is no deep link: a site that drops the query is still there."""
    if _path(original) in ("", "/") or not is_home(final):
        return False
    name = last_segment(original).lower().rsplit(".", 1)[0]
    return name not in _INDEX_NAMES


class ProbeCache:
    """One sibling probe per (scheme, host, directory) per run, shared by concurrent checks."""

    def __init__(self) -> None:
        self._tasks: dict[tuple[str, str, str], asyncio.Task[ProbeResult | None]] = {}

    async def get(
        self, url: str, fetch: Callable[[], Awaitable[ProbeResult | None]]
    ) -> ProbeResult | None:
        key = directory_key(url)
        task = self._tasks.get(key)
        if task is None:
            task = asyncio.ensure_future(fetch())
            self._tasks[key] = task
        return await asyncio.shield(task)

    async def aclose(self) -> None:
        for task in self._tasks.values():
            task.cancel()
        await asyncio.gather(*self._tasks.values(), return_exceptions=True)


def looks_like_sibling(content_hash: str | None, final_url: str, probe: ProbeResult | None) -> bool:
    """The page is indistinguishable from what a made-up URL gets."""
    if probe is None or probe.status is None or not 200 <= probe.status < 300:
        return False
    if probe.final_url is not None and probe.final_url == final_url:
        return True  # both ended on the same page (e.g. a search or error page)
    return content_hash is not None and content_hash == probe.content_hash
