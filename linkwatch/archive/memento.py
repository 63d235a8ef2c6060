"""Copies in other web archives, through the Memento protocol (RFC 7089).

When the Wayback Machine has no good capture of a dead page from before it was cited,
other public archives often do. Each configured source (``archive.memento_sources``,
``name=TimeMap prefix``) serves a TimeMap, ``GET <prefix><original URL>``, in
``application/link-format`` (RFC 6690): one ``<uri>; rel="..."; datetime="..."`` link per
memento, large maps paged through a ``rel="timemap"`` link (``wayback-api.md`` §4.4, §7).
A source may be one archive (archive.today) or an aggregator (Memento Time Travel) that
lists mementos of many archives; each memento is named after the archive that holds it.

A TimeMap says nothing about what was captured (a 404 page is a memento too), so the
chosen memento is replayed once: it counts only when the archive answers 2xx for it.
Wayback mementos listed by an aggregator are left out (CDX, with status codes, has
already answered for the Wayback Machine).

Every request: no proxy from the environment, a hard deadline, and a per-archive budget
(``archive.memento_per_minute``) with the archive's 429 ``Retry-After`` honoured.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from urllib.parse import urlsplit

import httpx

from linkwatch.archive.deadline import call_with_deadline
from linkwatch.archive.limits import Limits, limiter_for
from linkwatch.archive.lookup import archive_client, raise_for_status, retry_after_s
from linkwatch.config import Settings
from linkwatch.errors import ArchiveRateLimited, ArchiveUnavailable
from linkwatch.model import WAYBACK
from linkwatch.urls import archive_name

MAX_PAGES = 5  # of one paged TimeMap
MAX_TIMEMAP_BYTES = 4 * 1024 * 1024
VERIFY_AT_MOST = 3  # mementos replayed, in order of preference, before giving up
SHORT_WAIT_S = 30.0  # a Retry-After up to this is waited for in the run
_LINK = re.compile(r"<([^>]*)>((?:\s*;\s*[A-Za-z][\w.-]*\s*=\s*(?:\"[^\"]*\"|[^\",;\s]*))*)")
_PARAM = re.compile(r";\s*([A-Za-z][\w.-]*)\s*=\s*(?:\"([^\"]*)\"|([^\",;\s]*))")


@dataclass(frozen=True)
class Link:
    """One link of a link-format document."""

    uri: str
    rels: frozenset[str]
    params: dict[str, str]


@dataclass(frozen=True)
class Memento:
    """A copy of the page in some archive, as a TimeMap lists it."""

    archive: str
    uri: str
    at: datetime

    @property
    def timestamp(self) -> str:
        return self.at.strftime("%Y%m%d%H%M%S")


@dataclass(frozen=True)
class Source:
    name: str
    timemap: str  # the TimeMap URL of a page is this prefix + the page's URL

    @property
    def host(self) -> str:
        return urlsplit(self.timemap).hostname or ""


def parse_sources(entries: tuple[str, ...]) -> list[Source]:
    """``archive.memento_sources`` entries, ``name=https://.../timemap/`` (checked when
    the settings are loaded)."""
    sources = []
    for entry in entries:
        name, _sep, prefix = entry.partition("=")
        sources.append(Source(name.strip(), prefix.strip()))
    return sources


def parse_link_format(text: str) -> list[Link]:
    """The links of an ``application/link-format`` body (RFC 6690), in order. Lines need
    not end where links do; anything unparseable between links is skipped."""
    links = []
    for match in _LINK.finditer(text):
        params: dict[str, str] = {}
        for name, quoted, bare in _PARAM.findall(match.group(2)):
            params.setdefault(name.lower(), quoted if quoted else bare)
        rels = frozenset(params.get("rel", "").lower().split())
        links.append(Link(match.group(1).strip(), rels, params))
    return links


def mementos_of(links: list[Link], source: Source) -> Iterator[Memento]:
    for link in links:
        if "memento" not in link.rels or "datetime" not in link.params:
            continue
        try:
            at = parsedate_to_datetime(link.params["datetime"]).astimezone(UTC)
        except (TypeError, ValueError, IndexError):
            continue
        if urlsplit(link.uri).scheme not in ("http", "https"):
            continue  # never a javascript: or data: "memento" into the report
        yield Memento(archive_name(link.uri, source.name), link.uri, at)


def next_page(links: list[Link], current: str) -> str | None:
    """A paged TimeMap's link to its next page."""
    for link in links:
        if "timemap" in link.rels and "self" not in link.rels and link.uri != current:
            if urlsplit(link.uri).scheme in ("http", "https"):
                return link.uri
    return None


def preferred(mementos: list[Memento], access: datetime | None) -> list[Memento]:
    """InternetArchiveBot's order across archives: the last copy at or before the access
    date first (newest to oldest), then those after it (oldest first)."""
    ordered = sorted(mementos, key=lambda m: m.at)
    if access is None:
        return ordered[::-1]
    before = [m for m in ordered if m.at <= access]
    after = [m for m in ordered if m.at > access]
    return before[::-1] + after


@dataclass(frozen=True)
class Found:
    """What the other archives had: the chosen memento (replayed 2xx) and whether any
    source could not be asked (then the answer may change on a later run)."""

    memento: Memento | None
    status: int | None
    trouble: tuple[str, ...] = ()


class MementoLookup:
    """TimeMaps of the configured sources, and one replay to check the chosen copy."""

    def __init__(self, settings: Settings, stop: threading.Event) -> None:
        a = settings.archive
        self.settings = settings
        self.sources = parse_sources(a.memento_sources)
        self.stop = stop
        self.requests = 0
        self._limits = Limits(1, 1, max(1, a.memento_per_minute), a.rate_window_s)
        self._client: httpx.Client | None = None

    def close(self) -> None:
        if self._client is not None:
            self._client.close()

    @property
    def client(self) -> httpx.Client:
        if self._client is None:
            self._client = archive_client(self.settings)
        return self._client

    def find(self, url: str, access: datetime | None) -> Found:
        """The best copy of ``url`` outside the Wayback Machine, by the IABot rule."""
        mementos: dict[str, Memento] = {}
        trouble: list[str] = []
        for source in self.sources:
            for attempt in range(2):  # a short "wait" (429 + Retry-After) is waited out once
                try:
                    for m in self._timemap(source, url):
                        if m.archive != WAYBACK:
                            mementos.setdefault(m.uri, m)
                except ArchiveRateLimited as exc:
                    if attempt == 0 and 0 <= exc.retry_after_s <= SHORT_WAIT_S:
                        continue
                    trouble.append(f"{source.name}: {exc}")
                except ArchiveUnavailable as exc:
                    trouble.append(f"{source.name}: {exc}")
                break
        for memento in preferred(list(mementos.values()), access)[:VERIFY_AT_MOST]:
            try:
                status = self.replay_status(memento.uri)
            except (ArchiveUnavailable, ArchiveRateLimited) as exc:
                trouble.append(f"{memento.archive}: {exc}")
                continue
            if 200 <= status < 300:
                return Found(memento, status, tuple(trouble))
        return Found(None, None, tuple(trouble))

    def _timemap(self, source: Source, url: str) -> list[Memento]:
        found: list[Memento] = []
        page: str | None = source.timemap + url
        for _ in range(MAX_PAGES):
            if page is None:
                break
            res = self._get(page, f"{source.name} TimeMap")
            if res.status_code == 404:
                break  # never archived there
            raise_for_status(res, f"{source.name} TimeMap")
            links = parse_link_format(res.text[:MAX_TIMEMAP_BYTES])
            found += mementos_of(links, source)
            page = next_page(links, page)
        return found

    def replay_status(self, uri: str) -> int:
        """The status the archive replays ``uri`` with (a Wayback URL is asked of
        ``archive.wayback_url``, where the Wayback Machine is configured to be)."""
        wayback = self.settings.archive.wayback_url.rstrip("/")
        for public in ("https://web.archive.org", "http://web.archive.org"):
            if uri.startswith(public + "/") and wayback != public:
                uri = wayback + uri[len(public) :]
        res = self._get(uri, "memento replay", body=False)
        if res.status_code == 429:
            raise_for_status(res, "memento replay")
        return res.status_code

    def _get(self, url: str, what: str, *, body: bool = True) -> httpx.Response:
        host = (urlsplit(url).hostname or "").lower()
        limiter = limiter_for(f"memento:{host}", self._limits)
        ticket = limiter.acquire_lookup(self.stop)
        if ticket is None:
            raise ArchiveUnavailable(f"{what}: no budget left in this run")
        self.requests += 1

        def call() -> httpx.Response:
            if body:
                return self.client.get(url)
            with self.client.stream("GET", url) as res:
                return res  # status and headers only; the replay itself is not needed

        try:
            res = call_with_deadline(call, self.settings.archive.request_timeout_s, what)
        except httpx.HTTPError as exc:
            raise ArchiveUnavailable(f"{what}: {type(exc).__name__}") from None
        finally:
            ticket.answered()
        if res.status_code == 429:
            seconds = retry_after_s(res.headers.get("Retry-After"))
            limiter.back_off(
                seconds if seconds is not None else self.settings.archive.backoff_429_s
            )
        return res
