"""Look-ups of existing snapshots: the availability API and CDX (wayback-api.md §3, §4).

Called with the project's own small httpx client rather than waybackpy: waybackpy 3.0.6
hard-codes its endpoints, sets no timeouts, retries behind the limiter's back, does not
look at HTTP status codes (a 429 HTML page parses as "no captures") and builds its own
``requests`` sessions that take ``HTTP_PROXY`` / ``HTTPS_PROXY`` / ``ALL_PROXY`` from the
environment, none of which its public API lets a caller change. So each look-up is exactly
one request: no proxy from the environment (``trust_env=False``; ``archive.proxy`` when
configured), every status checked, under the process-wide limiter and a hard deadline
(``call_with_deadline``).

Errors: ``ArchiveRateLimited`` (429; the limiter backs off globally first),
``ArchiveUnavailable`` (timeouts, 5xx, dropped connections, garbage) and plain
``ArchiveError`` for a site the Wayback Machine excludes (permanent).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

import httpx

from linkwatch import __version__
from linkwatch.archive.deadline import call_with_deadline
from linkwatch.archive.limits import ArchiveLimiter
from linkwatch.clock import retry_after_seconds
from linkwatch.config import Settings
from linkwatch.errors import ArchiveError, ArchiveRateLimited, ArchiveUnavailable
from linkwatch.urls import wayback_url

GOOD_STATUS = "statuscode:2.."
T = TypeVar("T")


class Stopped(Exception):
    """The caller's stop event was set while waiting for the budget."""


@dataclass(frozen=True)
class Capture:
    """One capture as the archive lists it."""

    timestamp: str
    status: int | None
    original: str

    @property
    def url(self) -> str:
        return wayback_url(self.timestamp, self.original)

    @property
    def is_2xx(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


def user_agent(settings: Settings) -> str:
    contact = settings.check.contact
    return f"linkwatch/{__version__}" + (f" (+{contact})" if contact else "")


def _status(text: str | None) -> int | None:
    try:
        return int(str(text))
    except (TypeError, ValueError):
        return None


def retry_after_s(value: str | None) -> float | None:
    """``Retry-After`` in seconds from now (delta-seconds or HTTP-date), else ``None``."""
    return retry_after_seconds(value, datetime.now(UTC))


CDX_FIELDS = "timestamp,original,statuscode"
#: the archive's answer for a site whose owner asked to be excluded
_BLOCKED = ("blocked", "excluded")


def archive_client(settings: Settings) -> httpx.Client:
    """The archive's HTTP client: no proxy or ``.netrc`` from the environment, one
    deadline per request, the archive's own redirects followed."""
    a = settings.archive
    return httpx.Client(
        trust_env=False,
        proxy=a.proxy or None,
        timeout=httpx.Timeout(a.request_timeout_s),
        follow_redirects=True,
        headers={"User-Agent": user_agent(settings)},
    )


def _blocked(res: httpx.Response) -> bool:
    head = res.text[:500].lower() if res.status_code in (403, 200) else ""
    return "org.archive.util.io.runtimeioexception" in head or (
        res.status_code == 403 and any(word in head for word in _BLOCKED)
    )


def retry_after_or_unknown(seconds: float | None) -> float:
    """``ArchiveRateLimited.retry_after_s``: -1 when the archive did not say."""
    return -1.0 if seconds is None else seconds


def raise_for_status(res: httpx.Response, what: str) -> None:
    if res.status_code == 429:
        raise ArchiveRateLimited(
            f"{what} answered 429 Too Many Requests",
            retry_after_or_unknown(retry_after_s(res.headers.get("Retry-After"))),
        )
    if res.status_code >= 400:
        raise ArchiveUnavailable(f"{what} answered HTTP {res.status_code}")


class Lookup:
    """Availability and CDX look-ups under the limiter and a hard deadline."""

    def __init__(self, settings: Settings, limiter: ArchiveLimiter, stop: threading.Event) -> None:
        self.settings = settings
        self.limiter = limiter
        self.stop = stop
        self.requests = 0
        self._count = threading.Lock()

    def _get(self, url: str, params: dict[str, Any], what: str) -> httpx.Response:
        # one client per look-up: look-ups are a few a minute, and a call abandoned at its
        # deadline (in its own thread) must not share a connection with the next one
        with archive_client(self.settings) as client:
            res = client.get(url, params=params)
            res.read()
        if _blocked(res):
            raise ArchiveError("the Wayback Machine excludes this site")
        raise_for_status(res, what)
        return res

    def newest(self, url: str, at: datetime) -> Capture | None:
        """The availability API's capture closest to ``at`` (any status), or ``None``."""

        def call() -> Any:
            endpoint = self.settings.archive.availability_url.rstrip("/") + "/wayback/available"
            res = self._get(
                endpoint, {"url": url, "timestamp": at.strftime("%Y%m%d%H%M%S")}, "availability API"
            )
            try:
                return res.json()
            except ValueError:
                raise ArchiveUnavailable("availability API answered something not JSON") from None

        data = self._run(call, "availability")
        snaps = data.get("archived_snapshots") if isinstance(data, dict) else None
        closest = (snaps or {}).get("closest") or {} if isinstance(snaps, dict) else {}
        if not isinstance(closest, dict):
            return None
        ts = str(closest.get("timestamp") or "")
        if not closest.get("available") or len(ts) != 14 or not ts.isdigit():
            return None
        original = str(closest.get("url", "")).split(f"/web/{ts}/", 1)[-1] or url
        return Capture(ts, _status(closest.get("status")), original)

    def captures(
        self,
        url: str,
        *,
        from_ts: str | None = None,
        to_ts: str | None = None,
        limit: int = 25,
        only_2xx: bool = False,
    ) -> list[Capture]:
        """CDX rows for ``url`` (exact match) in ``[from_ts, to_ts]``; ``limit < 0`` = last N."""

        def call() -> list[Capture]:
            params: dict[str, Any] = {
                "url": url,
                "output": "json",
                "fl": CDX_FIELDS,
                "limit": str(limit),
            }
            if from_ts:
                params["from"] = from_ts
            if to_ts:
                params["to"] = to_ts
            if only_2xx:
                params["filter"] = GOOD_STATUS
            endpoint = self.settings.archive.wayback_url.rstrip("/") + "/cdx/search/cdx"
            return _cdx_rows(self._get(endpoint, params, "CDX"))

        return self._run(call, "cdx")

    def _run(self, call: Callable[[], T], what: str) -> T:
        ticket = self.limiter.acquire_lookup(self.stop)
        if ticket is None:
            raise Stopped
        with self._count:
            self.requests += 1
        try:
            return call_with_deadline(call, self.settings.archive.request_timeout_s, what)
        except ArchiveRateLimited as exc:
            seconds = (
                exc.retry_after_s if exc.retry_after_s >= 0 else self.settings.archive.backoff_429_s
            )
            self.limiter.back_off(seconds)
            raise ArchiveRateLimited(str(exc), seconds) from None
        except httpx.HTTPError as exc:
            raise ArchiveUnavailable(f"{what}: {type(exc).__name__}") from None
        finally:
            ticket.answered()


def _cdx_rows(res: httpx.Response) -> list[Capture]:
    """``output=json`` rows (a header row first), or the plain space-separated form."""
    text = res.text.strip()
    if not text:
        return []
    try:
        rows = json.loads(text)
    except ValueError:
        rows = [line.split(" ") for line in text.splitlines() if line.strip()]
        rows.insert(0, CDX_FIELDS.split(","))
    if not isinstance(rows, list) or not rows:
        return []
    header = [str(h) for h in rows[0]] if isinstance(rows[0], list) else []
    found = []
    for row in rows[1:]:
        if not isinstance(row, list) or len(row) != len(header):
            continue  # a resume-key row or garbage
        record = dict(zip(header, (str(v) for v in row), strict=True))
        ts = record.get("timestamp", "")
        if len(ts) == 14 and ts.isdigit():
            found.append(Capture(ts, _status(record.get("statuscode")), record.get("original", "")))
    return found
