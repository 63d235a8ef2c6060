"""Records shared by every stage: frozen dataclasses and enums, no behaviour."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any


class DocFormat(StrEnum):
    TEXT = "text"
    MARKDOWN = "markdown"
    HTML = "html"
    PDF = "pdf"
    BINARY = "binary"


@dataclass(frozen=True, slots=True)
class Citation:
    """One place in one document where a URL is cited: what extraction finds and what the
    store gives back (the report reads the same record).

    ``url`` is absolute and resolved (against ``<base>`` or the front matter's own URL);
    ``raw`` is the URL exactly as written. ``source`` says where it was found, e.g.
    ``a@href``, ``img@srcset``, ``frontmatter:link``, ``markdown:reference``, ``text``.
    Read back from the store, ``url`` is the link's key (the fragment apart, in
    ``fragment``), ``accessed`` the day the source was cited by the first source that has
    one and ``accessed_from`` that source, and the two ids say which rows it joins.
    """

    url: str
    document: str
    line: int
    column: int
    text: str
    source: str
    raw: str
    #: a date the document states for this citation (Robust Links ``data-versiondate``, a
    #: link title "accessed 2021-05-01", an ``accessed`` field beside a front-matter URL)
    accessed: str | None = None
    accessed_from: str | None = None
    fragment: str = ""
    link_id: int | None = None
    document_id: int | None = None


@dataclass(frozen=True, slots=True)
class ExtractWarning:
    """A problem with one document that did not stop the scan."""

    document: str
    message: str
    line: int | None = None


class Outcome(StrEnum):
    """What one check of one URL found. Outcomes are data, never exceptions."""

    OK = "ok"
    REDIRECTED = "redirected"
    BROKEN = "broken"
    SOFT404 = "soft404"
    BLOCKED = "blocked"
    RATE_LIMITED = "rate_limited"
    SERVER_ERROR = "server_error"
    TIMEOUT = "timeout"
    NETWORK_ERROR = "network_error"
    TOO_LARGE = "too_large"
    TOO_MANY_REDIRECTS = "too_many_redirects"
    SKIPPED_POLICY = "skipped_policy"
    SKIPPED_SCHEME = "skipped_scheme"
    SKIPPED_ROBOTS = "skipped_robots"
    SKIPPED_EXCLUDED = "skipped_excluded"  # check.exclude: cited, never requested
    INVALID_URL = "invalid_url"

    @property
    def is_alive(self) -> bool:
        return self in (Outcome.OK, Outcome.REDIRECTED)

    @property
    def is_strike(self) -> bool:
        """Only conclusive failures count towards declaring a link dead."""
        return self in (Outcome.BROKEN, Outcome.SOFT404)


class LinkState(StrEnum):
    """A link's verdict: ``new`` -> ``alive`` / ``failing`` -> ``dead``, or ``unverifiable``."""

    NEW = "new"
    ALIVE = "alive"
    FAILING = "failing"
    DEAD = "dead"
    UNVERIFIABLE = "unverifiable"
    INVALID = "invalid"


@dataclass(frozen=True)
class LinkStatus:
    """The verdict-relevant part of a link: what ``verdict.judge`` reads and returns."""

    state: LinkState = LinkState.NEW
    state_since: datetime | None = None
    strikes: int = 0
    first_strike_at: datetime | None = None
    last_strike_at: datetime | None = None
    failing_since: datetime | None = None
    last_ok_at: datetime | None = None
    check_interval_s: float | None = None


@dataclass(frozen=True, slots=True)
class Link:
    """One cited URL, one per canonical key, as the store keeps it: read by the check job
    (what to request, what the verdict starts from) and by the report (what to show).
    Times are ISO 8601 text as stored, except inside ``status``."""

    id: int
    url: str  # the canonical key
    host: str
    status: LinkStatus = LinkStatus()
    invalid_reason: str | None = None
    #: the last check
    last_checked_at: str | None = None
    last_outcome: Outcome | None = None
    last_status: int | None = None
    last_final_url: str | None = None
    last_error: str | None = None
    redirect_permanent: bool | None = None
    next_check_at: str | None = None
    #: the page's fingerprint: title, body hash, validators, text sketch and drift
    title: str | None = None
    content_hash: str | None = None
    fingerprint_at: str | None = None
    etag: str | None = None
    last_modified: str | None = None
    first_sketch: str | None = None
    similarity: float | None = None
    #: archived copies: one a citation points at, the snapshot chosen for it
    archived_copy: str | None = None
    snapshot_url: str | None = None
    snapshot_timestamp: str | None = None
    snapshot_archive: str | None = None
    #: the archive's verdict on the copy the citations point at (``snapshots.verified``
    #: and its HTTP status), when it was looked at
    copy_verified: int | None = None
    copy_status: int | None = None
    #: a curator's acknowledgement (``linkwatch ack``)
    ack_note: str | None = None
    ack_at: str | None = None
    ack_until: str | None = None

    @property
    def state(self) -> LinkState:
        return self.status.state


@dataclass(frozen=True, slots=True)
class CheckResult:
    """The result of checking one URL once."""

    url: str
    outcome: Outcome
    checked_at: datetime
    status: int | None = None
    final_url: str | None = None
    redirects: tuple[str, ...] = ()
    permanent_redirect: bool | None = None
    elapsed_ms: int = 0
    error: str | None = None
    retry_after_s: float | None = None
    title: str | None = None
    content_hash: str | None = None
    #: a SimHash of the page's main text (``check.body.sketch``), for content drift
    sketch: str | None = None
    #: the addresses the check connected to, every redirect hop included (the vetted
    #: answers for each hop's host): decides whether a public archive may be sent the URL
    addresses: tuple[str, ...] = ()
    #: validators of the page, for a conditional GET next time
    etag: str | None = None
    last_modified: str | None = None


@dataclass(frozen=True, slots=True)
class PastCheck:
    """One recorded check of a link, as its evidence timeline shows it (a ``checks`` row):
    the outcome as stored (an outcome this version does not know stays its text), whether
    it counted as a strike, whether the local network was down at the time."""

    link_id: int
    checked_at: str
    outcome: str
    status: int | None
    error: str | None
    strike: bool
    network_down: bool


#: the name the Wayback Machine's snapshots are recorded under
WAYBACK = "Wayback Machine"

#: ``snapshots.verified`` of a copy known not to be a good snapshot (an archived error
#: page, a capture of a soft 404)
SNAPSHOT_REJECTED = -1


@dataclass(frozen=True, slots=True)
class Snapshot:
    """A known archived copy of one link (a row of ``snapshots``): found by a look-up
    (``cdx``, ``memento``), made by a capture (``spn2``) or cited (``citation``)."""

    timestamp: str
    url: str
    status: int | None
    source: str
    #: 1 replayed and good, 0 not replayed, ``SNAPSHOT_REJECTED`` known not to be the page
    verified: int = 0
    archive: str = WAYBACK

    @property
    def is_good(self) -> bool:
        if self.verified == SNAPSHOT_REJECTED:
            return False
        if self.source == "citation":
            return True
        return self.status is not None and 200 <= self.status < 300


class ArchiveAction(StrEnum):
    CAPTURED = "captured"
    ALREADY_ARCHIVED = "already_archived"
    QUEUED = "queued"
    FAILED = "failed"
    SKIPPED = "skipped"


@dataclass(frozen=True)
class ArchiveItem:
    """One queue row with what the archiver needs to know about its link."""

    link_id: int
    url: str
    reason: str
    status: str
    attempts: int
    job_id: str | None
    submitted_at: str | None
    last_error: str | None
    next_attempt_at: str | None
    state: str
    last_outcome: str | None
    first_seen_at: str
    access_dates: tuple[str, ...] = ()
    last_status: int | None = None  # the last check's HTTP status (None: no answer)
    last_addresses: tuple[str, ...] = ()  # what the last check connected to


@dataclass(frozen=True, slots=True)
class Run:
    """One run of one job (a ``runs`` row): written when it starts, finished when it ends,
    ``aborted`` when its process went away. ``summary`` is the job's own figures as it
    reported them (free-form JSON: each job has its own)."""

    id: int
    job: str
    started_at: str
    status: str
    finished_at: str | None = None
    error: str | None = None
    summary: dict[str, Any] = field(default_factory=dict)
    pid: int | None = None
    machine: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "job": self.job,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "status": self.status,
            "error": self.error,
            "summary": self.summary,
            "pid": self.pid,
            "machine": self.machine,
        }


@dataclass(frozen=True, slots=True)
class ScannedDocument:
    """A document of the corpus as the last scan left it (a ``documents`` row)."""

    id: int
    path: str
    format: str
    warnings: tuple[ExtractWarning, ...] = ()
    last_scanned_at: str | None = None


@dataclass(frozen=True, slots=True)
class ArchiveError:
    """The last error of an archive queue entry that has one."""

    url: str
    reason: str
    status: str
    attempts: int
    last_error: str


@dataclass(frozen=True, slots=True)
class DayCount:
    """Checks of one day with one outcome (``network_down``: made while our own network
    was down, so no conclusive failure of the link)."""

    day: str
    outcome: str
    network_down: bool
    n: int


@dataclass(frozen=True, slots=True)
class StateMove:
    """Links that moved from one state to another on one day (``new``: first judged)."""

    day: str
    from_state: str
    to_state: str
    n: int


@dataclass(frozen=True)
class ReportHead:
    """Everything the report shows besides the links themselves: the documents, the
    trend window's checks and state changes, what changed since the previous report,
    the archive queue and the last runs (all small, read in one go)."""

    documents: list[ScannedDocument]
    trend: list[DayCount]
    #: links by state at the start of the trend window (their last change before it), and
    #: valid links first seen before it that had no change yet ("new")
    states_at_start: dict[str, int]
    new_at_start: int
    #: valid links first seen on each day of the window, and the state moves in it
    arrivals: dict[str, int]
    moves: list[StateMove]
    #: ids of cited links that became dead, or recovered, since the previous report
    newly_dead: list[int]
    newly_recovered: list[int]
    checks_since: int
    checks_total: int
    #: archive queue entries by status, and recovered links whose capture is queued
    queue: dict[str, int]
    recovered_queued: int
    queue_errors: list[ArchiveError]
    #: the archive stage's figures (``archive.*`` meta keys: JSON text or plain text)
    archive_meta: dict[str, str]
    runs: list[Run]


@dataclass(frozen=True, slots=True)
class QueueFigures:
    """The archive queue at a glance, for ``linkwatch status``."""

    by_status: dict[str, int]
    by_reason: dict[str, int]  # open items (pending or submitted) per reason
    next_attempt_at: str | None
    links_with_snapshot: int
    snapshots_known: int

    def to_json(self) -> dict[str, object]:
        return {
            "by_status": dict(self.by_status),
            "by_reason": dict(self.by_reason),
            "next_attempt_at": self.next_attempt_at,
            "links_with_snapshot": self.links_with_snapshot,
            "snapshots_known": self.snapshots_known,
        }


@dataclass(frozen=True, slots=True)
class Lease:
    """A named piece of work held by one worker until ``expires_at`` unless renewed."""

    name: str
    holder: str
    expires_at: str
    acquired_at: str

    def to_json(self) -> dict[str, str]:
        return {
            "name": self.name,
            "holder": self.holder,
            "expires_at": self.expires_at,
            "acquired_at": self.acquired_at,
        }
