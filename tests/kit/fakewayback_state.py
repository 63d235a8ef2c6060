"""State of the fake Wayback Machine: captures (the CDX index), SPN2 jobs, limits, faults.

Pure bookkeeping guarded by one lock; ``tests.kit.fakewayback`` turns it into HTTP.
Every behaviour that the real archive shows only sometimes is a switch in ``Faults``
(see /work/shared/wayback-api.md §8).
"""

from __future__ import annotations

import hashlib
import re
import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote, unquote, urlsplit

Clock = Callable[[], datetime]


def wayback_ts(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y%m%d%H%M%S")


def parse_ts(ts: str) -> datetime:
    """A 1-14 digit Wayback timestamp; missing month/day are 01, the rest 0."""
    full = ts[:14] + "00000101000000"[len(ts[:14]) :]
    return datetime.strptime(full, "%Y%m%d%H%M%S").replace(tzinfo=UTC)


def surt(url: str) -> str:
    """The CDX ``urlkey``: host labels reversed, ``www.`` and scheme dropped, lower-cased."""
    parts = urlsplit(url if "://" in url else "http://" + url)
    host = (parts.hostname or "").lower().removeprefix("www.")
    port = f":{parts.port}" if parts.port not in (None, 80, 443) else ""
    path = parts.path or "/"
    query = f"?{parts.query}" if parts.query else ""
    return ",".join(reversed(host.split("."))) + port + ")" + path.lower() + query


_WINDOW = re.compile(r"(\d+)\s*([dhms]?)")


def parse_window(text: str) -> float:
    """``if_not_archived_within``: ``"3d 5h 20m"`` or plain seconds; first value only."""
    first = text.split(",")[0].strip()
    total = 0.0
    for num, unit in _WINDOW.findall(first):
        total += int(num) * {"d": 86400, "h": 3600, "m": 60, "s": 1, "": 1}[unit]
    return total


@dataclass
class Capture:
    url: str
    timestamp: str
    statuscode: str = "200"
    mimetype: str = "text/html"
    visible: bool = True  # listed by CDX and availability (False = indexing lag)

    @property
    def digest(self) -> str:
        raw = hashlib.sha1(f"{self.url}{self.timestamp}".encode()).digest()  # noqa: S324
        alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
        return "".join(alphabet[b % 32] for b in raw[:32]).ljust(32, "A")[:32]

    def cdx_row(self) -> list[str]:
        return [
            surt(self.url),
            self.timestamp,
            self.url,
            self.mimetype,
            self.statuscode,
            self.digest,
            str(1000 + len(self.url)),
        ]


@dataclass
class Job:
    job_id: str
    url: str
    final_url: str
    outcome: str
    created: float  # monotonic
    timestamp: str
    final_at: float
    polls: int = 0
    delivered: bool = False


@dataclass
class Faults:
    """Switches, each per test. Scripted replies are popped one per matching request.

    Scripted reply words: ``429`` (HTML, no Retry-After), ``429:N`` (Retry-After: N),
    ``401``, ``400``, ``502``, ``503``, ``520``, ``drop`` (close without answering),
    ``slow`` (answer after ``slow_s``), ``session-limit`` (message-only reply),
    ``daily-limit`` (message-only account cap), ``error:<status_ext>`` (200 + status error),
    ``delayed:N`` ("capture will start in N seconds"), ``empty`` (availability: nothing),
    ``drop-after-start`` (the job starts, the reply is lost), ``echo`` / ``echo-encoded``
    (an error that echoes the request's headers, keys included, as real proxies and error
    pages do; URL-encoded for the second).
    """

    require_auth: bool = True  # POST /save and /save/status/user: 401 without keys
    status_require_auth: bool = False  # /save/status/<id>: 401 without keys
    save_replies: list[str] = field(default_factory=list)
    url_save_replies: dict[str, list[str]] = field(default_factory=dict)
    status_replies: list[str] = field(default_factory=list)
    cdx_replies: list[str] = field(default_factory=list)
    availability_replies: list[str] = field(default_factory=list)
    # per target URL: success | error:<code> | fail-but-exists | pending-forever |
    # success-404 | lag (success, but CDX/availability do not list it); "a|b" is one
    # outcome per attempt
    job_outcomes: dict[str, str] = field(default_factory=dict)
    default_job_outcome: str = "success"
    final_urls: dict[str, str] = field(default_factory=dict)  # redirects before capture
    pending_polls: int = 1  # status polls answered "pending" before the outcome
    status_retry_after: str | None = "6"
    slow_s: float = 2.0
    system_status: str = "ok"
    legacy_save: str = "302"  # GET /save/<url>: 302 | content-location | blocked | 429
    timemap_page: int = 1000  # TimeMap lines per page before a resumeKey link


class FakeState:
    """Captures, jobs, per-minute limits and the request log."""

    def __init__(
        self,
        *,
        clock: Clock | None = None,
        keys: tuple[str, str] = ("test-access", "test-secret"),
        captures_per_minute: int = 7,
        cdx_per_minute: int = 60,
        concurrent_sessions: int = 8,
        daily_captures_limit: int = 30000,
        minute_s: float = 60.0,
        capture_s: float = 0.0,
        job_max_s: float = 120.0,
        same_url_window_s: float = 3600.0,
    ) -> None:
        self.lock = threading.RLock()
        self.clock: Clock = clock or (lambda: datetime.now(UTC))
        self.keys = keys
        self.captures_per_minute = captures_per_minute
        self.cdx_per_minute = cdx_per_minute
        self.concurrent_sessions = concurrent_sessions
        self.daily_captures_limit = daily_captures_limit
        self.minute_s = minute_s
        self.capture_s = capture_s
        self.job_max_s = job_max_s
        self.same_url_window_s = same_url_window_s
        self.faults = Faults()
        self.captures: dict[str, list[Capture]] = {}
        self.jobs: dict[str, Job] = {}
        self.new_captures: Counter[str] = Counter()  # jobs that made a new capture, per URL
        self.requests: list[dict[str, Any]] = []
        self.violations: list[dict[str, Any]] = []
        self.windows: dict[str, float] = {}  # kind group -> end of its 429 window
        self._save_times: deque[float] = deque()
        self._cdx_times: deque[float] = deque()
        self.daily_captures = 0

    # -- setup helpers for tests -------------------------------------------------------
    def add_capture(
        self, url: str, timestamp: str | datetime, status: int | str = 200, *, visible: bool = True
    ) -> Capture:
        ts = timestamp if isinstance(timestamp, str) else wayback_ts(timestamp)
        cap = Capture(url, ts, str(status), visible=visible)
        with self.lock:
            self.captures.setdefault(surt(url), []).append(cap)
            self.captures[surt(url)].sort(key=lambda c: c.timestamp)
        return cap

    def captures_of(self, url: str, *, visible_only: bool = True) -> list[Capture]:
        with self.lock:
            self._settle(url)
            caps = list(self.captures.get(surt(url), []))
        return [c for c in caps if c.visible or not visible_only]

    # -- bookkeeping ----------------------------------------------------------------------
    def log(self, **entry: Any) -> None:
        with self.lock:
            entry.setdefault("t", time.monotonic())
            self.requests.append(entry)

    def pop_reply(self, script: list[str]) -> str | None:
        with self.lock:
            return script.pop(0) if script else None

    def over_limit(self, kind: str) -> bool:
        """Count this request in its per-minute window; True (and a violation) if over."""
        times, limit = (
            (self._save_times, self.captures_per_minute)
            if kind == "save"
            else (self._cdx_times, self.cdx_per_minute)
        )
        now = time.monotonic()
        with self.lock:
            while times and times[0] <= now - self.minute_s:
                times.popleft()
            times.append(now)
            if len(times) > limit:
                self.violations.append({"kind": kind, "t": now, "count": len(times)})
                return True
        return False

    # -- the referee ------------------------------------------------------------------
    #: request kinds that share one 429 window (the archive counts look-ups together)
    WINDOW_GROUPS = {"cdx": "lookup", "availability": "lookup"}

    def referee_window(self, kind: str, seconds: float) -> None:
        """A 429 with ``Retry-After: seconds`` went out for ``kind``."""
        group = self.WINDOW_GROUPS.get(kind, kind)
        with self.lock:
            self.windows[group] = max(self.windows.get(group, 0.0), time.monotonic() + seconds)

    def referee_arrival(self, kind: str) -> None:
        """A request of ``kind`` arrived: inside its kind's 429 window is a violation."""
        group = self.WINDOW_GROUPS.get(kind, kind)
        now = time.monotonic()
        with self.lock:
            until = self.windows.get(group, 0.0)
            if now < until:
                self.violations.append(
                    {
                        "kind": f"{group} during its 429 window",
                        "t": now,
                        "early_s": round(until - now, 3),
                    }
                )

    def authorized(self, header: str | None) -> bool:
        return header == f"LOW {self.keys[0]}:{self.keys[1]}"

    def active_jobs(self) -> int:
        now = time.monotonic()
        with self.lock:
            return sum(1 for j in self.jobs.values() if self._session_end(j) > now)

    def _session_end(self, job: Job) -> float:
        if job.outcome == "pending-forever":
            return job.created + self.job_max_s
        return job.final_at

    # -- SPN2 -----------------------------------------------------------------------------
    def recent_capture(self, url: str, window_s: float) -> Capture | None:
        caps = self.captures_of(url, visible_only=False)
        if not caps:
            return None
        age = (self.clock() - parse_ts(caps[-1].timestamp)).total_seconds()
        return caps[-1] if age < window_s else None

    def running_job(self, url: str) -> Job | None:
        now = time.monotonic()
        with self.lock:
            for job in self.jobs.values():
                if job.url == url and job.final_at > now and job.outcome != "pending-forever":
                    return job
        return None

    def start_job(self, url: str) -> Job:
        now = time.monotonic()
        at = self.clock()
        ts = wayback_ts(at)
        job_id = "spn2-" + hashlib.sha1(f"{url}|{ts}".encode()).hexdigest()  # noqa: S324
        with self.lock:
            outcome = self.faults.job_outcomes.get(url, self.faults.default_job_outcome)
            if "|" in outcome:  # "first|then": one outcome per attempt
                outcome, self.faults.job_outcomes[url] = outcome.split("|", 1)
            final = self.faults.final_urls.get(url, url)
            job = Job(job_id, url, final, outcome, now, ts, now + self.capture_s)
            self.jobs[job_id] = job
            self.new_captures[url] += 1
            self.daily_captures += 1
        return job

    def same_snapshot_job(self, url: str, cap: Capture) -> Job:
        job_id = "spn2-" + hashlib.sha1(f"{url}|{cap.timestamp}".encode()).hexdigest()  # noqa: S324
        with self.lock:
            if job_id not in self.jobs:
                self.jobs[job_id] = Job(job_id, url, cap.url, "existing", 0.0, cap.timestamp, 0.0)
            return self.jobs[job_id]

    def job_status(self, job_id: str) -> dict[str, Any]:
        with self.lock:
            job = self.jobs.get(job_id)
            if job is None:
                return {"job_id": job_id, "resources": [], "status": "pending"}
            job.polls += 1
            pending = (
                job.outcome == "pending-forever"
                or (job.polls <= self.faults.pending_polls and job.outcome != "existing")
                or time.monotonic() < job.final_at
            )
            if pending:
                return {
                    "status": "pending",
                    "job_id": job_id,
                    "resources": [job.url + "static/app.js"],
                }
            if not job.delivered:
                job.delivered = True
                self._complete(job)
            return self._final_reply(job)

    def _settle(self, url: str) -> None:
        """Jobs finish on their own, polled or not (a client whose reply was lost never
        polls): a look-up sees the capture of a job that ran for ``url``."""
        now = time.monotonic()
        for job in self.jobs.values():
            if (
                job.url == url
                and not job.delivered
                and now >= job.final_at
                and job.outcome not in ("pending-forever", "existing")
            ):
                job.delivered = True
                self._complete(job)

    def _complete(self, job: Job) -> None:
        outcome = job.outcome
        if outcome in ("success", "fail-but-exists"):
            self.add_capture(job.final_url, job.timestamp, 200)
        elif outcome == "success-404":
            self.add_capture(job.final_url, job.timestamp, 404)
        elif outcome == "lag":
            self.add_capture(job.final_url, job.timestamp, 200, visible=False)

    def _final_reply(self, job: Job) -> dict[str, Any]:
        if job.outcome.startswith("error:") or job.outcome == "fail-but-exists":
            code = job.outcome if job.outcome.startswith("error:") else "error:job-failed"
            return {
                "status": "error",
                "status_ext": code,
                "job_id": job.job_id,
                "exception": "fake",
                "resources": [],
                "message": f"Capture failed ({code}) (HTTP status=500).",
            }
        http_status = 404 if job.outcome == "success-404" else 200
        return {
            "status": "success",
            "job_id": job.job_id,
            "original_url": job.final_url,
            "timestamp": job.timestamp,
            "duration_sec": 1.5,
            "resources": [job.final_url],
            "outlinks": ["https://example.org/"],
            "http_status": http_status,
            "counters": {"embeds": 1, "outlinks": 1},
            "first_archive": len(self.captures_of(job.final_url, visible_only=False)) <= 1,
        }

    def user_status(self) -> dict[str, int]:
        active = self.active_jobs()
        return {
            "available": max(0, self.concurrent_sessions - active),
            "daily_captures": self.daily_captures,
            "daily_captures_limit": self.daily_captures_limit,
            "processing": active,
        }

    # -- look-ups ---------------------------------------------------------------------------
    def closest(self, url: str, timestamp: str | None) -> Capture | None:
        caps = self.captures_of(url)
        if not caps:
            return None
        if not timestamp:
            return caps[-1]
        target = parse_ts(timestamp)
        return min(caps, key=lambda c: abs((parse_ts(c.timestamp) - target).total_seconds()))

    def cdx_rows(self, params: dict[str, list[str]]) -> tuple[list[list[str]], str | None]:
        """The rows a CDX query lists (§3.1), and the resume key when ``showResumeKey``
        is on and more rows follow (§3.3)."""
        url = params["url"][0]
        match = params.get("matchType", ["exact"])[0]
        if url.endswith("*"):  # the shortcuts: archive.org/* and *.archive.org
            url, match = url.rstrip("*"), "prefix"
        if url.startswith("*."):
            url, match = url[2:], "domain"
        caps = self._matching(url, match)
        lo = params.get("from", [""])[0]
        hi = params.get("to", [""])[0]
        if lo:
            caps = [c for c in caps if c.timestamp >= lo.ljust(14, "0")]
        if hi:
            caps = [c for c in caps if c.timestamp <= hi.ljust(14, "9")]
        rows = [c.cdx_row() for c in caps]
        for flt in params.get("filter", []):
            rows = [r for r in rows if _filter_ok(flt, r)]
        for spec in params.get("collapse", []):
            rows = _collapse(rows, spec)
        if params.get("sort", [""])[0] == "closest" and params.get("closest"):
            target = parse_ts(params["closest"][0])
            rows.sort(key=lambda r: abs((parse_ts(r[1]) - target).total_seconds()))
        elif params.get("sort", [""])[0] == "reverse":
            rows.reverse()
        resume = params.get("resumeKey", [""])[0]
        if resume:  # clients send the opaque key encoded once more; both forms work
            key = unquote(unquote(resume))
            rows = [r for r in rows if f"{r[0]} {r[1]}" > key.rstrip("!")]
        offset = int(params.get("offset", ["0"])[0] or 0)
        rows = rows[offset:]
        limit = int(params.get("limit", ["0"])[0] or 0)
        more = limit > 0 and len(rows) > limit
        if limit > 0:
            rows = rows[:limit]
        elif limit < 0:
            rows = rows[limit:]
        key_out = None
        if more and params.get("showResumeKey", [""])[0] == "true":
            last = rows[-1]
            key_out = quote(f"{last[0]} {last[1]}!", safe="")
        return rows, key_out

    def _matching(self, url: str, match: str) -> list[Capture]:
        if match == "exact":
            return self.captures_of(url)
        key = surt(url)
        host = key.split(")", 1)[0]
        with self.lock:
            keys = list(self.captures)
        if match == "prefix":
            chosen = [k for k in keys if k.startswith(key)]
        elif match == "host":
            chosen = [k for k in keys if k.split(")", 1)[0] == host]
        else:  # domain: the host and every subdomain
            chosen = [k for k in keys if k.split(")", 1)[0] == host or k.startswith(host + ",")]
        found: list[Capture] = []
        for k in sorted(chosen):
            found += self.captures_of(self.captures[k][0].url)
        return found

    def day_start(self) -> datetime:
        now = self.clock()
        return now.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(0)


_FIELDS = ["urlkey", "timestamp", "original", "mimetype", "statuscode", "digest", "length"]


def _filter_ok(flt: str, row: list[str]) -> bool:
    contains = flt.startswith("~")
    flt = flt.lstrip("~")
    negate = flt.startswith("!")
    flt = flt.lstrip("!")
    name, _, pattern = flt.partition(":")
    value = row[_FIELDS.index(name)] if name in _FIELDS else " ".join(row)
    hit = pattern in value if contains else re.fullmatch(pattern, value) is not None
    return hit != negate


def _collapse(rows: list[list[str]], spec: str) -> list[list[str]]:
    """``collapse=field[:N]``: drop rows whose field (its first N chars) equals the
    previous row's (adjacent duplicates only, §3.1)."""
    name, _, width = spec.partition(":")
    if name not in _FIELDS:
        return rows
    index, n = _FIELDS.index(name), int(width) if width.isdigit() else None
    kept: list[list[str]] = []
    for row in rows:
        value = row[index][:n] if n else row[index]
        if kept and (kept[-1][index][:n] if n else kept[-1][index]) == value:
            continue
        kept.append(row)
    return kept
