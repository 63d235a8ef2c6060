"""The report's view model: what each page shows, as plain records (no I/O, no HTML).

Values stay as they came from the store (untrusted); ``linkwatch.report.cells`` and the
templates make them safe at the point of output, where the context is known.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from linkwatch.model import ArchiveError, Citation, LinkState, Outcome, PastCheck, Run

STATE_ORDER = (
    LinkState.DEAD,
    LinkState.FAILING,
    LinkState.UNVERIFIABLE,
    LinkState.INVALID,
    LinkState.NEW,
    LinkState.ALIVE,
)
PROBLEM_STATES = frozenset({LinkState.DEAD, LinkState.FAILING})
ATTENTION_STATES = PROBLEM_STATES | {LinkState.UNVERIFIABLE, LinkState.INVALID}
BLOCKING_OUTCOMES = frozenset({Outcome.BLOCKED, Outcome.RATE_LIMITED, Outcome.SKIPPED_ROBOTS})
#: outcomes of a URL linkwatch did not request at all (shown as "not checked: <why>")
SKIPPED_OUTCOMES = frozenset(
    {"skipped_policy", "skipped_scheme", "skipped_robots", "skipped_excluded"}
)

OUTCOME_LABELS: dict[str, str] = {
    Outcome.OK: "OK",
    Outcome.REDIRECTED: "redirected",
    Outcome.BROKEN: "not found or gone",
    Outcome.SOFT404: "soft 404 (page says not found)",
    Outcome.BLOCKED: "blocked us",
    Outcome.RATE_LIMITED: "rate limited",
    Outcome.SERVER_ERROR: "server error",
    Outcome.TIMEOUT: "timed out",
    Outcome.NETWORK_ERROR: "network error",
    Outcome.TOO_LARGE: "response too large",
    Outcome.TOO_MANY_REDIRECTS: "too many redirects",
    Outcome.SKIPPED_POLICY: "address not allowed",
    Outcome.SKIPPED_SCHEME: "scheme not checked",
    Outcome.SKIPPED_ROBOTS: "disallowed by robots.txt",
    Outcome.SKIPPED_EXCLUDED: "excluded by check.exclude",
    Outcome.INVALID_URL: "invalid URL",
}


def outcome_kind(outcome: str | None) -> str:
    """``ok``, ``fail`` (conclusive: counts towards dead) or ``warn`` (inconclusive)."""
    if outcome is None:
        return "none"
    if outcome in (Outcome.OK, Outcome.REDIRECTED):
        return "ok"
    if outcome in (Outcome.BROKEN, Outcome.SOFT404):
        return "fail"
    return "warn"


def check_kind(check: PastCheck) -> str:
    return outcome_kind(check.outcome)


def check_label(check: PastCheck) -> str:
    """One check of a timeline in words (the tick's tooltip)."""
    text = f"{check.checked_at}: {OUTCOME_LABELS.get(check.outcome, check.outcome)}"
    if check.status:
        text += f" (HTTP {check.status})"
    if check.error:
        text += f": {check.error}"
    if check.network_down:
        text += " [local network down: not counted]"
    return text


@dataclass(slots=True)
class LinkView:
    id: int
    url: str
    host: str
    state: str
    state_since: str | None
    failing_since: str | None
    strikes: int
    last_ok_at: str | None
    last_checked: str | None
    last_outcome: str | None
    last_status: int | None
    final_url: str | None
    error: str | None
    permanent_redirect: bool | None
    invalid_reason: str | None
    archived_copy: str | None
    snapshot_url: str | None
    snapshot_timestamp: str | None
    title: str | None
    #: the archive's status for the copy the citations point at, when it is not a good one
    copy_status: int | None = None
    #: how alike the main text is now to the first time it was read, and whether that is
    #: below ``check.drift_below``: the page answers, but with something else
    similarity: float | None = None
    drifted: bool = False
    #: a curator's acknowledgement (``linkwatch ack``): out of the dead list, with its note
    ack_note: str | None = None
    ack_until: str | None = None
    acknowledged: bool = False
    #: every citation of the link points at an archived copy of it (a Wayback,
    #: archive.today, ... URL): the citations work whatever the original does
    cited_as_copy: bool = False
    snapshot: dict[str, str] | None = None  # {url, timestamp, archive}: the copy to use
    is_redirected: bool = False  # the last check was redirected to final_url
    needs_attention: bool = False  # something to do in the citing documents
    needs_snapshot: bool = False  # no archived copy known (and the URL is valid)
    state_rank: int = 0  # position in STATE_ORDER: dead first
    citations: list[Citation] = field(default_factory=list)
    timeline: list[PastCheck] = field(default_factory=list)

    @property
    def since(self) -> str | None:
        """Since when the link is in trouble (or in its state)."""
        if self.state in PROBLEM_STATES and self.failing_since:
            return self.failing_since
        return self.state_since

    @property
    def shown_state(self) -> str:
        """The state a curator reads: a ``new`` link that was checked is not "new" (which
        reads as "not checked yet") but ``not checked`` (refused by the address policy,
        its scheme or robots.txt) or ``inconclusive`` (only blocks, timeouts, ...)."""
        if self.state != LinkState.NEW or self.last_outcome is None:
            return self.state
        return "not checked" if self.last_outcome in SKIPPED_OUTCOMES else "inconclusive"

    @property
    def original_back(self) -> bool:
        """Cited as an archived copy, and the original page answers again."""
        return self.cited_as_copy and self.state == LinkState.ALIVE

    @property
    def reason(self) -> str:
        """Why the link is in its state, in words (never the same fact twice)."""
        text = self._reason()
        if self.acknowledged:
            until = f" until {self.ack_until[:10]}" if self.ack_until else ""
            return f"acknowledged{until}: {self.ack_note or 'no note'}; {text}"
        if self.cited_as_copy:
            if self.copy_status is not None:
                return (
                    f"the archived copy cited is no good snapshot (the archive answers HTTP "
                    f"{self.copy_status}); the original: {text}"
                )
            if self.state == LinkState.ALIVE:
                return "the original is back: the citations use an archived copy of a live page"
            return f"cited as an archived copy; the original: {text}"
        return text

    def _reason(self) -> str:
        if self.drifted:
            return (
                f"content drift: the page answers, but its text is {self.similarity:.0%} "
                "like the one first read (replaced?)"
            )
        if self.state == LinkState.INVALID:
            return f"invalid URL: {self.invalid_reason or 'unknown reason'}"
        if self.last_outcome is None:
            return "not checked yet"
        if self.last_outcome in SKIPPED_OUTCOMES:
            return "not checked: " + (
                self.error or OUTCOME_LABELS.get(self.last_outcome, self.last_outcome)
            )
        text = OUTCOME_LABELS.get(self.last_outcome, self.last_outcome)
        error = self.error or ""
        if self.last_status:
            text += f" (HTTP {self.last_status})"
            error = error.removeprefix(f"HTTP {self.last_status}").lstrip(": ")
        if error:
            text += f": {error}"
        if self.shown_state == "inconclusive":
            text = f"inconclusive: {text}"
        return text

    def to_json(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "host": self.host,
            "state": self.state,
            "shown_state": self.shown_state,
            "reason": self.reason,
            "cited_as_copy": self.cited_as_copy,
            "similarity": self.similarity,
            "drifted": self.drifted,
            "acknowledged": self.acknowledged,
            "ack_note": self.ack_note if self.acknowledged else None,
            "ack_until": self.ack_until if self.acknowledged else None,
            "original_back": self.original_back,
            "since": self.since,
            "last_outcome": self.last_outcome,
            "last_status": self.last_status,
            "last_checked": self.last_checked,
            "final_url": self.final_url,
            "permanent_redirect": self.permanent_redirect,
            "error": self.error,
            "invalid_reason": self.invalid_reason,
            "strikes": self.strikes,
            "snapshot": self.snapshot,
            "citations": [
                {
                    "document": c.document,
                    "line": c.line,
                    "text": c.text,
                    "access_date": c.accessed,
                    "access_source": c.accessed_from,
                }
                for c in self.citations
            ],
        }


@dataclass(slots=True)
class DocumentView:
    id: int
    path: str
    format: str | None
    warnings: list[str]
    citation_count: int = 0  # live citations in the document
    attention_rows: int = 0  # ... of which to act on (``attention``)
    states: Counter[str] = field(default_factory=Counter)  # its distinct links by state
    redirected: int = 0
    no_snapshot: int = 0
    #: reads the citations to act on of a group of documents (``ViewLoader.attach``)
    loader: Callable[[Sequence[DocumentView]], None] | None = field(default=None, repr=False)
    _attention: list[tuple[Citation, LinkView]] | None = field(default=None, repr=False)

    @property
    def links(self) -> int:
        return sum(self.states.values())

    @property
    def attention(self) -> list[tuple[Citation, LinkView]]:
        """The citations to act on: dead, failing, unverifiable, invalid or redirected
        (read when first asked for; ``release`` forgets them again)."""
        if self._attention is None and self.loader is not None:
            self.loader([self])
        if self._attention is None:
            self._attention = []
        return self._attention

    def hold(self, attention: list[tuple[Citation, LinkView]]) -> None:
        self._attention = attention

    def release(self) -> None:
        if self.loader is not None:
            self._attention = None

    @property
    def problems(self) -> int:
        return self.states[LinkState.DEAD] + self.states[LinkState.FAILING]

    @property
    def health(self) -> float:
        """Share of the document's checked links that are alive, in percent."""
        checked = self.links - self.states[LinkState.NEW] - self.states[LinkState.INVALID]
        return 100.0 * self.states[LinkState.ALIVE] / checked if checked else 100.0

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "format": self.format,
            "citations": self.citation_count,
            "links": self.links,
            "states": dict(self.states),
            "redirected": self.redirected,
            "without_snapshot": self.no_snapshot,
            "warnings": self.warnings,
        }


@dataclass(slots=True)
class DomainView:
    host: str
    links: int = 0
    dead: int = 0
    failing: int = 0
    blocked: int = 0
    redirected: int = 0

    @property
    def rot(self) -> float:
        return 100.0 * (self.dead + self.failing) / self.links if self.links else 0.0


@dataclass(slots=True)
class TrendDay:
    day: str
    ok: int = 0
    fail: int = 0
    warn: int = 0
    #: links in each state at the end of the day (valid links only)
    states: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return self.ok + self.fail + self.warn


@dataclass(slots=True)
class Summary:
    generated_at: str
    previous_at: str | None
    links: int
    documents: int
    citations: int
    states: dict[str, int]
    with_snapshot: int
    archivable: int
    newly_dead: Sequence[LinkView]
    newly_recovered: Sequence[LinkView]
    checks_since: int
    checks_total: int
    queue: dict[str, int]
    queue_errors: list[ArchiveError]
    archive_meta: dict[str, str]
    captures_need_keys: bool
    runs: list[Run]

    @property
    def coverage(self) -> float:
        return 100.0 * self.with_snapshot / self.archivable if self.archivable else 100.0

    def to_json(self) -> dict[str, Any]:
        return {
            "generated_at": self.generated_at,
            "previous_report_at": self.previous_at,
            "links": self.links,
            "documents": self.documents,
            "citations": self.citations,
            "states": self.states,
            "archive": {
                "with_snapshot": self.with_snapshot,
                "archivable": self.archivable,
                "coverage_percent": round(self.coverage, 1),
                "queue": self.queue,
                "budget": self.archive_meta,
                "captures_need_keys": self.captures_need_keys,
            },
            "newly_dead": [link.url for link in self.newly_dead],
            "newly_recovered": [link.url for link in self.newly_recovered],
            "checks_since_previous": self.checks_since,
            "checks_total": self.checks_total,
        }


@dataclass(slots=True)
class ReportModel:
    """The report. Its link lists are sequences read a chunk at a time
    (``data.LinkList``), so the model of 100,000 links is figures and ids."""

    title: str
    summary: Summary
    trend: list[TrendDay]
    links: Sequence[LinkView]
    problems: Sequence[LinkView]
    unverifiable: Sequence[LinkView]
    redirected: Sequence[LinkView]
    no_snapshot: Sequence[LinkView]
    documents: list[DocumentView]
    domains: list[DomainView]
    #: links whose every citation is an archived copy: working citations, the original's
    #: state shown ("the original is back")
    cited_as_copies: Sequence[LinkView] = field(default_factory=list)
    #: live links whose text is not the one cited any more
    drifted: Sequence[LinkView] = field(default_factory=list)
    #: findings a curator acknowledged (``linkwatch ack``)
    acknowledged: Sequence[LinkView] = field(default_factory=list)
    #: reads the citations to act on of a page of documents at once
    attach: Callable[[Sequence[DocumentView]], None] | None = field(default=None, repr=False)

    def iter_json(self, links: Iterable[str] | None = None) -> Iterator[str]:
        """``to_json()`` as JSON text in pieces, one link or document at a time: the
        same document, never held whole (the report of 100,000 links is ~90 MB).
        ``links``: the list of links already encoded (``report.LinksJson``)."""
        head = self.to_json(links=False)

        def dumps(value: Any) -> str:
            return json.dumps(value, ensure_ascii=False)

        yield "{" + ", ".join(f"{dumps(k)}: {dumps(v)}" for k, v in head.items())
        yield ', "links": ['
        if links is not None:
            yield from links
        else:
            for n, link in enumerate(self.links):
                yield ("" if n == 0 else ", ") + dumps(link.to_json())
        yield '], "documents": ['
        for n, doc in enumerate(self.documents):
            yield ("" if n == 0 else ", ") + dumps(doc.to_json())
        yield "]}"

    def to_json(self, *, links: bool = True) -> dict[str, Any]:
        """The report as plain data; ``links=False`` leaves out the two long lists."""
        head = {
            "generated_at": self.summary.generated_at,
            "summary": self.summary.to_json(),
            "trend": [
                {
                    "day": d.day,
                    "checks": {"ok": d.ok, "inconclusive": d.warn, "failed": d.fail},
                    "states": dict(sorted(d.states.items())),
                }
                for d in self.trend
            ],
        }
        if not links:
            return head
        return {
            **head,
            "links": [link.to_json() for link in self.links],
            "documents": [doc.to_json() for doc in self.documents],
        }
