"""Look-ups of existing snapshots through waybackpy: the availability API and CDX.

waybackpy 3.0.6 hard-codes its endpoints as instance attributes, sets no timeouts, and
does not look at HTTP status codes (a 429 HTML page from CDX parses as "no captures").
So (wayback-api.md §5.6 a):

- thin subclasses point the endpoints at ``archive.availability_url`` /
  ``archive.wayback_url`` and switch off waybackpy's own 5 s self-throttle
  (``api_call_time_gap = 0``; our process-wide limiter paces instead);
- the CDX subclass makes exactly one request per query and checks its status;
- every call runs under a hard deadline (``call_with_deadline``) and under the limiter.

Errors: ``ArchiveRateLimited`` (429; the limiter backs off globally first),
``ArchiveUnavailable`` (timeouts, 5xx, dropped connections, garbage) and plain
``ArchiveError`` for a site the Wayback Machine excludes (permanent).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Generator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

import requests
from waybackpy import WaybackMachineAvailabilityAPI, WaybackMachineCDXServerAPI
from waybackpy.cdx_utils import check_for_blocked_site, full_url
from waybackpy.exceptions import (
    BlockedSiteError,
    InvalidJSONInAvailabilityAPIResponse,
    WaybackError,
)

from linkwatch import __version__
from linkwatch.archive.deadline import call_with_deadline
from linkwatch.archive.limits import ArchiveLimiter
from linkwatch.clock import retry_after_seconds
from linkwatch.config import Settings
from linkwatch.errors import ArchiveError, ArchiveRateLimited, ArchiveUnavailable
from linkwatch.urls import wayback_url

GOOD_STATUS = "statuscode:2.."
T = TypeVar("T")


class Stopped(Exception):  # noqa: N818 - control flow, not an error
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


class AvailabilityAPI(WaybackMachineAvailabilityAPI):
    """waybackpy's availability client pointed at ``base``, without its self-throttle."""

    def __init__(self, url: str, *, base: str, user_agent: str) -> None:
        super().__init__(url, user_agent=user_agent, max_tries=1)
        self.endpoint = base.rstrip("/") + "/wayback/available"
        self.api_call_time_gap = 0


class CDXAPI(WaybackMachineCDXServerAPI):
    """waybackpy's CDX client pointed at ``base``: one request, HTTP status checked."""

    def __init__(self, url: str, *, base: str, **kw: Any) -> None:
        super().__init__(url, **kw)
        self.endpoint = base.rstrip("/") + "/cdx/search/cdx"
        self.response: requests.Response | None = None

    def cdx_api_manager(
        self, payload: dict[str, str], headers: dict[str, str]
    ) -> Generator[str, None, None]:
        payload["showResumeKey"] = "true"
        payload["limit"] = str(self.limit)
        request_url = full_url(self.endpoint, params=payload)
        res = _get_once(request_url, headers)
        self.last_api_request_url = request_url
        self.response = res
        _raise_for_status(res, "CDX")
        lines = res.text.strip().splitlines()
        if len(lines) >= 3 and not lines[-2].strip():
            lines = lines[:-2]  # a resume key: we asked for a bounded answer, stop here
        yield "\n".join(lines)


def _get_once(url: str, headers: dict[str, str]) -> requests.Response:
    """One GET, no retries: waybackpy's ``get_response`` retries https up to five times on
    5xx and dropped connections (sleeping on ``Retry-After``), requests the limiter never
    sees and the archive counts against us."""
    with requests.Session() as session:
        response = session.get(url, headers=headers)
    check_for_blocked_site(response)
    return response


def retry_after_or_unknown(seconds: float | None) -> float:
    """``ArchiveRateLimited.retry_after_s``: -1 when the archive did not say."""
    return -1.0 if seconds is None else seconds


def _raise_for_status(res: requests.Response, what: str) -> None:
    if res.status_code == 429:
        raise ArchiveRateLimited(f"{what} answered 429 Too Many Requests",
                                 retry_after_or_unknown(retry_after_s(res.headers.get("Retry-After"))))
    if res.status_code >= 400:
        raise ArchiveUnavailable(f"{what} answered HTTP {res.status_code}")


class Lookup:
    """Availability and CDX look-ups under the limiter and a hard deadline."""

    def __init__(self, settings: Settings, limiter: ArchiveLimiter, stop: threading.Event) -> None:
        self.settings = settings
        self.limiter = limiter
        self.stop = stop
        self.ua = user_agent(settings)
        self.requests = 0
        self._count = threading.Lock()

    def newest(self, url: str, at: datetime) -> Capture | None:
        """The availability API's capture closest to ``at`` (any status), or ``None``."""

        def call() -> dict[str, Any] | None:
            api = AvailabilityAPI(url, base=self.settings.archive.availability_url,
                                  user_agent=self.ua)
            try:
                api.near(unix_timestamp=int(at.timestamp()))
            except InvalidJSONInAvailabilityAPIResponse:
                if api.response is not None:
                    _raise_for_status(api.response, "availability API")
                raise ArchiveUnavailable("availability API answered something not JSON") from None
            if api.response is not None:
                _raise_for_status(api.response, "availability API")
            return api.json

        data = self._run(call, "availability")
        closest = ((data or {}).get("archived_snapshots") or {}).get("closest") or {}
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
            api = CDXAPI(url, base=self.settings.archive.wayback_url, user_agent=self.ua,
                         start_timestamp=from_ts, end_timestamp=to_ts,
                         filters=[GOOD_STATUS] if only_2xx else [], limit=str(limit))
            return [Capture(s.timestamp, _status(s.statuscode), s.original)
                    for s in api.snapshots()]

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
            seconds = exc.retry_after_s if exc.retry_after_s >= 0 \
                else self.settings.archive.backoff_429_s
            self.limiter.back_off(seconds)
            raise ArchiveRateLimited(str(exc), seconds) from None
        except BlockedSiteError:
            raise ArchiveError("the Wayback Machine excludes this site") from None
        except (WaybackError, ValueError) as exc:
            raise ArchiveUnavailable(f"{what}: unexpected answer ({type(exc).__name__})") from None
        except requests.RequestException as exc:
            raise ArchiveUnavailable(f"{what}: {type(exc).__name__}") from None
        finally:
            ticket.answered()
