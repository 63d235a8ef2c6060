"""From database rows to the report's view model. Pure: rows in, records out.

Values stay as they came from the store (untrusted); the templates make them safe at the
point of use (``linkwatch.report.filters``), where the output context is known.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from linkwatch.clock import iso
from linkwatch.model import LinkState, Outcome
from linkwatch.report.filters import safe_snapshot_href
from linkwatch.urls import archived_original

STATE_ORDER = ("dead", "failing", "unverifiable", "invalid", "new", "alive")
PROBLEM_STATES = frozenset({"dead", "failing"})
WAYBACK_PREFIX = "https://web.archive.org/web/"  # cheap pre-check before the full parse
ATTENTION_STATES = frozenset({"dead", "failing", "unverifiable", "invalid"})
BLOCKING_OUTCOMES = frozenset({"blocked", "rate_limited", "skipped_robots"})

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


@dataclass(slots=True)
class CitationView:
    document_id: int
    document: str
    line: int
    col: int
    text: str
    source: str
    raw_url: str
    fragment: str


@dataclass(slots=True)
class CheckView:
    checked_at: str
    outcome: str
    status: int | None
    error: str | None
    strike: bool
    network_down: bool

    @property
    def kind(self) -> str:
        return outcome_kind(self.outcome)

    @property
    def label(self) -> str:
        text = f"{self.checked_at}: {OUTCOME_LABELS.get(self.outcome, self.outcome)}"
        if self.status:
            text += f" (HTTP {self.status})"
        if self.error:
            text += f": {self.error}"
        if self.network_down:
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
    snapshot: dict[str, str] | None = None  # {url, timestamp}: the copy to use instead
    is_redirected: bool = False  # the last check was redirected to final_url
    needs_attention: bool = False  # something to do in the citing documents
    needs_snapshot: bool = False  # no archived copy known (and the URL is valid)
    state_rank: int = 0  # position in STATE_ORDER: dead first
    citations: list[CitationView] = field(default_factory=list)
    timeline: list[CheckView] = field(default_factory=list)

    @property
    def since(self) -> str | None:
        """Since when the link is in trouble (or in its state)."""
        if self.state in PROBLEM_STATES and self.failing_since:
            return self.failing_since
        return self.state_since

    @property
    def reason(self) -> str:
        """Why the link is in its state, in words."""
        if self.state == LinkState.INVALID:
            return f"invalid URL: {self.invalid_reason or 'unknown reason'}"
        if self.last_outcome is None:
            return "not checked yet"
        text = OUTCOME_LABELS.get(self.last_outcome, self.last_outcome)
        if self.last_status:
            text += f" (HTTP {self.last_status})"
        if self.error:
            text += f": {self.error}"
        return text

    def to_json(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "host": self.host,
            "state": self.state,
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
                {"document": c.document, "line": c.line, "text": c.text} for c in self.citations
            ],
        }


@dataclass(slots=True)
class DocumentView:
    id: int
    path: str
    format: str | None
    warnings: list[str]
    citations: list[tuple[CitationView, LinkView]] = field(default_factory=list)
    states: Counter[str] = field(default_factory=Counter)
    redirected: int = 0
    no_snapshot: int = 0

    @property
    def links(self) -> int:
        return sum(self.states.values())

    @property
    def attention(self) -> list[tuple[CitationView, LinkView]]:
        """The citations to act on: dead, failing, unverifiable, invalid or redirected."""
        return [(cite, link) for cite, link in self.citations if link.needs_attention]

    @property
    def problems(self) -> int:
        return self.states["dead"] + self.states["failing"]

    @property
    def health(self) -> float:
        """Share of the document's checked links that are alive, in percent."""
        checked = self.links - self.states["new"] - self.states["invalid"]
        return 100.0 * self.states["alive"] / checked if checked else 100.0

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "format": self.format,
            "citations": len(self.citations),
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
    newly_dead: list[LinkView]
    newly_recovered: list[LinkView]
    checks_since: int
    checks_total: int
    queue: dict[str, int]
    queue_errors: list[dict[str, Any]]
    archive_meta: dict[str, str]
    captures_need_keys: bool
    runs: list[dict[str, Any]]

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
    title: str
    summary: Summary
    trend: list[TrendDay]
    links: list[LinkView]
    problems: list[LinkView]
    unverifiable: list[LinkView]
    redirected: list[LinkView]
    no_snapshot: list[LinkView]
    documents: list[DocumentView]
    domains: list[DomainView]

    def to_json(self) -> dict[str, Any]:
        return {
            "generated_at": self.summary.generated_at,
            "summary": self.summary.to_json(),
            "links": [link.to_json() for link in self.links],
            "documents": [doc.to_json() for doc in self.documents],
        }


def best_snapshot(snapshot_url: str | None, timestamp: str | None,
                  archived_copy: str | None) -> dict[str, str] | None:
    """The archived copy to use instead: the chosen snapshot, else one a citation used.

    Only real Wayback replay URLs count (``safe_snapshot_href``).
    """
    if snapshot_url and snapshot_url.startswith(WAYBACK_PREFIX) and safe_snapshot_href(
        snapshot_url
    ):
        return {"url": snapshot_url, "timestamp": timestamp or ""}
    if archived_copy and archived_copy.startswith(WAYBACK_PREFIX) and safe_snapshot_href(
        archived_copy
    ):
        found = archived_original(archived_copy)
        return {"url": archived_copy, "timestamp": (found and found[1]) or ""}
    return None


_RANK = {state: rank for rank, state in enumerate(STATE_ORDER)}


def _link(row: Any) -> LinkView:
    """A link from a ``ReportStore`` row (every column present)."""
    permanent, state = row["redirect_permanent"], row["state"]
    snapshot = best_snapshot(row["snapshot_url"], row["snapshot_timestamp"],
                             row["archived_copy"])
    redirected = row["last_outcome"] == Outcome.REDIRECTED and bool(row["last_final_url"])
    return LinkView(
        id=row["id"], url=row["url"], host=row["host"] or "", state=state,
        state_since=row["state_since"], failing_since=row["failing_since"],
        strikes=row["strikes"] or 0, last_ok_at=row["last_ok_at"],
        last_checked=row["last_checked_at"], last_outcome=row["last_outcome"],
        last_status=row["last_status"], final_url=row["last_final_url"],
        error=row["last_error"],
        permanent_redirect=None if permanent is None else bool(permanent),
        invalid_reason=row["invalid_reason"], archived_copy=row["archived_copy"],
        snapshot_url=row["snapshot_url"], snapshot_timestamp=row["snapshot_timestamp"],
        title=row["title"], snapshot=snapshot, is_redirected=redirected,
        needs_attention=redirected or state in ATTENTION_STATES,
        needs_snapshot=snapshot is None and state != LinkState.INVALID,
        state_rank=_RANK.get(state, len(STATE_ORDER)),
    )


def _warnings(raw: str | None) -> list[str]:
    try:
        value = json.loads(raw or "[]")
    except ValueError:
        return [str(raw)]
    if not isinstance(value, list):
        return [str(value)]
    return [w.get("message", str(w)) if isinstance(w, dict) else str(w) for w in value]


def _attach(rows: dict[str, Any]) -> tuple[dict[int, LinkView], list[DocumentView]]:
    links = {row["id"]: _link(row) for row in rows["links"]}
    docs = {
        row["id"]: DocumentView(row["id"], row["path"], row["format"],
                                _warnings(row["warnings"]))
        for row in rows["documents"]
    }
    for row in rows["citations"]:
        link, doc = links.get(row["link_id"]), docs.get(row["document_id"])
        if link is None or doc is None:
            continue
        cite = CitationView(doc.id, doc.path, row["line"], row["col"] or 0,
                            row["text"] or "", row["source"] or "",
                            row["raw_url"] or "", row["fragment"] or "")
        link.citations.append(cite)
        doc.citations.append((cite, link))
    for row in rows["timeline"]:
        link = links.get(row["link_id"])
        if link is not None:
            link.timeline.append(CheckView(row["checked_at"], row["outcome"], row["status"],
                                           row["error"], bool(row["strike"]),
                                           bool(row["network_down"])))
    for doc in docs.values():
        unique = {link.id: link for _cite, link in doc.citations}.values()
        doc.states.update(link.state for link in unique)
        doc.redirected = sum(link.is_redirected for link in unique)
        doc.no_snapshot = sum(link.needs_snapshot for link in unique)
    return links, [d for d in docs.values() if d.citations]


def _domains(links: list[LinkView]) -> list[DomainView]:
    hosts: dict[str, DomainView] = {}
    for link in links:
        if link.state == LinkState.INVALID:
            continue
        view = hosts.get(link.host)
        if view is None:
            view = hosts[link.host] = DomainView(link.host)
        view.links += 1
        view.dead += link.state == LinkState.DEAD
        view.failing += link.state == LinkState.FAILING
        view.blocked += (link.last_outcome in BLOCKING_OUTCOMES
                         or link.state == LinkState.UNVERIFIABLE)
        view.redirected += link.is_redirected
    return sorted(hosts.values(), key=lambda d: (-(d.dead + d.failing), -d.blocked,
                                                  -d.links, d.host))


MIN_TREND_DAYS = 14


def _trend(rows: list[dict[str, Any]], start: date, end: date) -> list[TrendDay]:
    """Checks per day from ``start`` to ``end``, leading days before any check left out
    (a young installation gets a readable chart, not a mostly empty one)."""
    days: dict[str, TrendDay] = {}
    day = start
    while day <= end:
        days[day.isoformat()] = TrendDay(day.isoformat())
        day += timedelta(days=1)
    for row in rows:
        entry = days.get(row["day"])
        if entry is not None:
            kind = outcome_kind(row["outcome"])
            setattr(entry, kind, getattr(entry, kind) + row["n"])
    series = list(days.values())
    first = next((i for i, d in enumerate(series) if d.total), len(series))
    return series[min(first, max(len(series) - MIN_TREND_DAYS, 0)):]


def _changes(rows: list[dict[str, Any]], links: dict[int, LinkView]) -> tuple[
    list[LinkView], list[LinkView]
]:
    dead: dict[int, LinkView] = {}
    recovered: dict[int, LinkView] = {}
    for row in rows:
        link = links.get(row["link_id"])
        if link is None:
            continue
        if row["to_state"] == LinkState.DEAD and link.state == LinkState.DEAD:
            dead[link.id] = link
        elif (row["to_state"] == LinkState.ALIVE and link.state == LinkState.ALIVE
              and row["from_state"] in ("dead", "failing", "unverifiable")):
            recovered[link.id] = link
    return list(dead.values()), list(recovered.values())


def _meta(rows: list[dict[str, Any]]) -> dict[str, str]:
    return {str(r["key"]).removeprefix("archive."): str(r["value"]) for r in rows}


def build_model(
    rows: dict[str, Any], *, title: str, generated_at: datetime, previous_at: str | None,
    trend_days: int, has_credentials: bool,
) -> ReportModel:
    """The report's view model from ``ReportStore.report_rows()``."""
    by_id, documents = _attach(rows)
    links = list(by_id.values())
    ordered = sorted(links, key=lambda lk: (lk.state_rank, lk.since or "", lk.url))
    newly_dead, recovered = _changes(rows["changes"], by_id)
    archivable = [lk for lk in links if lk.state != LinkState.INVALID]
    end = generated_at.date()
    summary = Summary(
        generated_at=iso(generated_at), previous_at=previous_at,
        links=len(links), documents=len(documents), citations=len(rows["citations"]),
        states={s: n for s, n in Counter(lk.state for lk in links).most_common()},
        with_snapshot=sum(lk.snapshot is not None for lk in archivable),
        archivable=len(archivable), newly_dead=newly_dead, newly_recovered=recovered,
        checks_since=int(rows["checks_since"] or 0), checks_total=int(rows["checks_total"] or 0),
        queue={r["status"]: r["n"] for r in rows["queue"]}, queue_errors=rows["queue_errors"],
        archive_meta=_meta(rows["archive_meta"]), captures_need_keys=not has_credentials,
        runs=rows["runs"],
    )
    documents.sort(key=lambda d: (-d.problems, d.health, d.path))
    return ReportModel(
        title=title, summary=summary,
        trend=_trend(rows["trend"], end - timedelta(days=max(trend_days - 1, 0)), end),
        links=ordered,
        problems=[lk for lk in ordered if lk.state in PROBLEM_STATES],
        unverifiable=[lk for lk in ordered if lk.state in ("unverifiable", "invalid")],
        redirected=sorted((lk for lk in links if lk.is_redirected),
                          key=lambda lk: (not lk.permanent_redirect, lk.url)),
        no_snapshot=[lk for lk in ordered if lk.needs_snapshot],
        documents=documents, domains=_domains(links),
    )
