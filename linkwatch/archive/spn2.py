"""A small Save Page Now 2 client on httpx (waybackpy has no SPN2; wayback-api.md §1).

- ``POST /save`` with ``Authorization: LOW access:secret`` (the keys are revealed only into
  that header, never into logs, errors, the database or reports), ``url`` and
  ``if_not_archived_within``;
- ``GET /save/status/<job_id>`` for polling, ``GET /save/status/user`` for the budget.

Replies are data (``SubmitReply``, ``JobStatus``): errors delivered as HTTP 200 with
``"status": "error"``, message-only replies (session limit, daily limit), 401 and the
``status_ext`` codes are classified here (``Retry``). Only transport trouble raises:
``ArchiveRateLimited`` (429, with ``Retry-After`` seconds or -1 when absent) and
``ArchiveUnavailable`` (timeouts, dropped connections, 5xx, bodies that are not JSON).
Every call has a hard deadline (``call_with_deadline``), not only httpx's per-read timeouts.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import httpx

from linkwatch.archive.deadline import call_with_deadline
from linkwatch.archive.lookup import retry_after_or_unknown, retry_after_s, user_agent
from linkwatch.config import Settings
from linkwatch.errors import ArchiveRateLimited, ArchiveUnavailable
from linkwatch.scrub import scrub


class Retry(StrEnum):
    """What a refusal means for the queue item."""

    SOON = "soon"  # transient: retry with back-off (counts as an attempt)
    SESSIONS = "sessions"  # too many concurrent captures: wait, retry (not an attempt)
    TOMORROW = "tomorrow"  # a daily cap: retry after 00:00 UTC
    ACCOUNT_DAILY = "account_daily"  # the account's daily budget: no captures until tomorrow
    NEVER = "never"  # permanent for this URL
    AUTH = "auth"  # 401: the keys are missing or refused


# wayback-api.md §1.5: IA's own bot where it decides, else third-party clients.
RETRY_SOON = frozenset(
    {
        "error:bad-gateway",
        "error:bandwidth-limit-exceeded",
        "error:browsing-timeout",
        "error:capture-location-error",
        "error:cannot-fetch",
        "error:celery",
        "error:gateway-timeout",
        "error:internal-server-error",
        "error:invalid-server-response",
        "error:job-failed",
        "error:no-browsers-available",
        "error:proxy-error",
        "error:protocol-error",
        "error:read-timeout",
        "error:soft-time-limit-exceeded",
        "error:service-unavailable",
        "error:too-many-requests",
        "error:redis-error",
        "error:recursion-error",
        "error:invalid-host-resolution",
        "error:no-captures",
    }
)
RETRY_TOMORROW = frozenset(
    {
        "error:too-many-daily-captures",
        "error:max-daily-bandwidth",
        "error:max-daily-bandwidth-from-ip",
        "error:max-daily-bandwidth-host",
    }
)
PERMANENT = frozenset(
    {
        "error:bad-request",
        "error:blocked",
        "error:blocked-client-ip",
        "error:blocked-url",
        "error:filesize-limit",
        "error:ftp-access-denied",
        "error:http-version-not-supported",
        "error:invalid-url-syntax",
        "error:method-not-allowed",
        "error:not-implemented",
        "error:network-authentication-required",
        "error:no-access",
        "error:not-found",
        "error:too-many-redirects",
        "error:unauthorized",
    }
)

_DAILY_TEXT = re.compile(
    r"cannot make more than [1-9][0-9,]* captures per day|daily .*captures limit", re.I
)
_DELAY = re.compile(
    r"(?:(\d+)\s*hours?)?[,\s]*(?:(\d+)\s*minutes?)?[,\s]*(?:(\d+)\s*seconds?)?\s*\.?$"
)


def classify_status_ext(code: str) -> Retry:
    """The retry class of a ``status_ext`` code; unknown codes retry with back-off."""
    if code == "error:user-session-limit":
        return Retry.SESSIONS
    if code in RETRY_TOMORROW:
        return Retry.TOMORROW
    if code in PERMANENT:
        return Retry.NEVER
    return Retry.SOON  # RETRY_SOON and unknown codes: bounded by max_attempts


def classify_message(message: str) -> Retry:
    """A message-only refusal (no ``status``, no ``job_id``)."""
    text = message.lower()
    if "limit of active save page now sessions" in text:
        return Retry.SESSIONS
    if _DAILY_TEXT.search(message):
        return Retry.ACCOUNT_DAILY
    if "need to be logged in" in text:
        return Retry.AUTH
    return Retry.SOON


def start_delay_s(message: str) -> float | None:
    """Seconds from "Your capture will begin in 30s" / "capture will start in 1 hours, ..."."""
    m = re.search(r"will begin in (\d+)\s*s", message)
    if m:
        return float(m.group(1))
    m = re.search(r"will start in (.*)$", message)
    if not m:
        return None
    d = _DELAY.search(m.group(1).strip())
    if not d or not any(d.groups()):
        return None
    h, mi, s = (int(x or 0) for x in d.groups())
    return float(h * 3600 + mi * 60 + s)


@dataclass(frozen=True)
class SubmitReply:
    """What ``POST /save`` said. ``job_id`` set = accepted (maybe pointing at a recent capture)."""

    job_id: str | None = None
    message: str = ""
    status_ext: str | None = None
    retry: Retry | None = None  # set when refused

    @property
    def same_snapshot(self) -> bool:
        return "same snapshot" in self.message.lower()

    @property
    def delay_s(self) -> float | None:
        return start_delay_s(self.message) if "will" in self.message else None

    @property
    def error(self) -> str:
        parts = [p for p in (self.status_ext, _short(self.message)) if p]
        return ": ".join(parts) or "refused"


@dataclass(frozen=True)
class JobStatus:
    state: str  # pending | success | error
    job_id: str
    timestamp: str | None = None
    original_url: str | None = None
    http_status: int | None = None
    status_ext: str | None = None
    message: str = ""
    retry_after_s: float | None = None

    @property
    def error(self) -> str:
        parts = [p for p in (self.status_ext, _short(self.message)) if p]
        return ": ".join(parts) or "capture failed"


@dataclass(frozen=True)
class UserStatus:
    available: int | None
    processing: int | None
    daily_captures: int | None
    daily_captures_limit: int | None

    def to_dict(self) -> dict[str, int | None]:
        return {
            "available": self.available,
            "processing": self.processing,
            "daily_captures": self.daily_captures,
            "daily_captures_limit": self.daily_captures_limit,
        }


def _short(text: str, limit: int = 300) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


class SPN2Client:
    """Save Page Now 2 over one ``httpx.Client``; close it (or use ``with``)."""

    def __init__(self, settings: Settings, *, transport: httpx.BaseTransport | None = None) -> None:
        a = settings.archive
        self.deadline_s = a.request_timeout_s
        self.if_not_archived_within = a.if_not_archived_within
        self.has_keys = settings.credentials is not None
        self._secrets = settings.credentials.revealed() if settings.credentials else ()
        headers = {"User-Agent": user_agent(settings), "Accept": "application/json"}
        if settings.credentials is not None:
            c = settings.credentials
            headers["Authorization"] = f"LOW {c.access_key.reveal()}:{c.secret_key.reveal()}"
        self._client = httpx.Client(
            base_url=a.wayback_url.rstrip("/"),
            headers=headers,
            trust_env=False,
            proxy=(a.proxy or None) if transport is None else None,
            timeout=httpx.Timeout(a.request_timeout_s, connect=min(10.0, a.request_timeout_s)),
            follow_redirects=False,
            transport=transport,
        )

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> SPN2Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- calls -------------------------------------------------------------------------
    def submit(self, url: str) -> SubmitReply:
        form = {"url": url, "skip_first_archive": "1"}
        if self.if_not_archived_within:
            form["if_not_archived_within"] = self.if_not_archived_within
        res = self._request("POST", "/save", "capture request", data=form)
        if res.status_code == 401:
            return SubmitReply(message="HTTP 401: archive.org refused the keys", retry=Retry.AUTH)
        if res.status_code == 400:  # spn.sh gives up on such a URL too
            return SubmitReply(message="HTTP 400 Bad Request", retry=Retry.NEVER)
        body = self._json(res, "capture request")
        if not isinstance(body, dict):
            raise ArchiveUnavailable("capture request: reply is not a JSON object")
        message = scrub(str(body.get("message") or ""), self._secrets) or ""
        if body.get("status") == "error":
            code = str(body.get("status_ext") or "error:unknown")
            return SubmitReply(message=message, status_ext=code, retry=classify_status_ext(code))
        job_id = body.get("job_id")
        if isinstance(job_id, str) and job_id:
            return SubmitReply(job_id=job_id, message=message)
        if "same snapshot" in message.lower():
            return SubmitReply(message=message)  # job_id null: a recent capture exists
        return SubmitReply(message=message or "no job id", retry=classify_message(message))

    def status(self, job_id: str) -> JobStatus:
        res = self._request("GET", f"/save/status/{job_id}", "status request")
        if res.status_code in (400, 401):
            raise ArchiveUnavailable(f"status request: HTTP {res.status_code}")
        body = self._json(res, "status request")
        if isinstance(body, list):
            body = next((b for b in body if isinstance(b, dict)), {})
        if not isinstance(body, dict):
            raise ArchiveUnavailable("status request: reply is not a JSON object")
        state = str(body.get("status") or "pending")
        return JobStatus(
            state=state if state in ("success", "error") else "pending",
            job_id=job_id,
            timestamp=str(body["timestamp"]) if body.get("timestamp") else None,
            original_url=str(body["original_url"]) if body.get("original_url") else None,
            http_status=_int(body.get("http_status")),
            status_ext=str(body["status_ext"]) if body.get("status_ext") else None,
            message=scrub(str(body.get("message") or ""), self._secrets) or "",
            retry_after_s=retry_after_s(res.headers.get("Retry-After")),
        )

    def user_status(self) -> UserStatus | None:
        """Available slots and the daily budget; ``None`` without keys or on 401."""
        if not self.has_keys:
            return None
        res = self._request("GET", "/save/status/user", "user status request")
        if res.status_code in (400, 401):
            return None
        body = self._json(res, "user status request")
        if not isinstance(body, dict):
            raise ArchiveUnavailable("user status request: reply is not a JSON object")
        return UserStatus(
            _int(body.get("available")),
            _int(body.get("processing")),
            _int(body.get("daily_captures")),
            _int(body.get("daily_captures_limit")),
        )

    # -- plumbing ----------------------------------------------------------------------
    def _request(self, method: str, path: str, what: str, **kw: Any) -> httpx.Response:
        def call() -> httpx.Response:
            return self._client.request(method, path, **kw)

        try:
            res = call_with_deadline(call, self.deadline_s, what)
        except httpx.HTTPError as exc:
            replied = isinstance(exc, httpx.HTTPStatusError)
            raise ArchiveUnavailable(f"{what}: {type(exc).__name__}", replied=replied) from None
        except ArchiveUnavailable as exc:  # the deadline: no answer in time
            raise ArchiveUnavailable(str(exc), replied=False) from None
        if res.status_code == 429:
            raise ArchiveRateLimited(
                f"{what}: HTTP 429 Too Many Requests",
                retry_after_or_unknown(retry_after_s(res.headers.get("Retry-After"))),
            )
        if res.status_code >= 500 or res.status_code in (403, 404, 509):
            raise ArchiveUnavailable(f"{what}: HTTP {res.status_code}")
        return res

    @staticmethod
    def _json(res: httpx.Response, what: str) -> Any:
        try:
            return json.loads(res.content)
        except ValueError:
            raise ArchiveUnavailable(
                f"{what}: reply is not JSON (HTTP {res.status_code})"
            ) from None
