"""From database rows to the report's view model (``linkwatch.report.views``).

The model never holds the whole corpus: ``build_model`` walks the links once, a chunk of
``CHUNK`` ids at a time, keeping only figures and, per list, the ids in order; the lists
(``LinkList``) and the documents' citations to act on are read again through a
``ViewLoader`` when a page shows them. The reads go through ``ReportSource`` (what
``linkwatch.store.ReportStore`` provides); nothing here writes.
"""

from __future__ import annotations

import collections
import json
from array import array
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, Protocol, overload

from linkwatch.clock import iso
from linkwatch.model import (
    SNAPSHOT_REJECTED,
    WAYBACK,
    Citation,
    DayCount,
    Link,
    LinkState,
    Outcome,
    PastCheck,
    ReportHead,
    StateMove,
)
from linkwatch.report.filters import safe_snapshot_href
from linkwatch.report.views import (
    ATTENTION_STATES,
    BLOCKING_OUTCOMES,
    PROBLEM_STATES,
    STATE_ORDER,
    DocumentView,
    DomainView,
    LinkView,
    ReportModel,
    Summary,
    TrendDay,
    outcome_kind,
)
from linkwatch.urls import archive_name, archived_original


def best_snapshot(
    snapshot_url: str | None,
    timestamp: str | None,
    archived_copy: str | None,
    archive: str | None = None,
) -> dict[str, str] | None:
    """The archived copy to use instead: the chosen snapshot, else one a citation used,
    with the archive that holds it.

    A Wayback snapshot must be a real replay URL; another archive's (found through its
    TimeMap, or cited) a plain http(s) URL (``safe_snapshot_href``).
    """
    archive = archive or WAYBACK
    if snapshot_url and safe_snapshot_href(snapshot_url, archive):
        return {"url": snapshot_url, "timestamp": timestamp or "", "archive": archive}
    found = archived_original(archived_copy) if archived_copy else None
    if archived_copy and found:
        holder = archive_name(archived_copy, "web archive")
        if safe_snapshot_href(archived_copy, holder):
            return {"url": archived_copy, "timestamp": found[1] or "", "archive": holder}
    return None


_RANK: dict[str, int] = {state: rank for rank, state in enumerate(STATE_ORDER)}


def _text(at: datetime | None) -> str | None:
    return iso(at) if at is not None else None


def _acknowledged(link: Link, now: str) -> bool:
    return bool(link.ack_at) and (not link.ack_until or link.ack_until > now)


def _link(link: Link, drift_below: float = 0.0, now: str = "") -> LinkView:
    """The report's view of a link (read with ``ReportStore.report_links``)."""
    st, state = link.status, link.state.value
    copy_bad = link.copy_verified == SNAPSHOT_REJECTED
    snapshot = best_snapshot(
        link.snapshot_url,
        link.snapshot_timestamp,
        None if copy_bad else link.archived_copy,
        link.snapshot_archive,
    )
    redirected = link.last_outcome is Outcome.REDIRECTED and bool(link.last_final_url)
    return LinkView(
        id=link.id,
        url=link.url,
        host=link.host,
        state=state,
        state_since=_text(st.state_since),
        failing_since=_text(st.failing_since),
        strikes=st.strikes,
        last_ok_at=_text(st.last_ok_at),
        last_checked=link.last_checked_at,
        last_outcome=link.last_outcome.value if link.last_outcome else None,
        last_status=link.last_status,
        final_url=link.last_final_url,
        error=link.last_error,
        permanent_redirect=link.redirect_permanent,
        invalid_reason=link.invalid_reason,
        archived_copy=link.archived_copy,
        copy_status=link.copy_status if copy_bad else None,
        similarity=link.similarity,
        ack_note=link.ack_note,
        ack_until=link.ack_until,
        acknowledged=_acknowledged(link, now),
        drifted=link.state is LinkState.ALIVE
        and link.similarity is not None
        and link.similarity < drift_below,
        snapshot_url=link.snapshot_url,
        snapshot_timestamp=link.snapshot_timestamp,
        title=link.title,
        snapshot=snapshot,
        is_redirected=redirected,
        needs_attention=redirected or state in ATTENTION_STATES,
        needs_snapshot=snapshot is None and link.state is not LinkState.INVALID,
        state_rank=_RANK.get(state, len(STATE_ORDER)),
    )


#: links read per query (an ``IN`` list of ids): big enough to amortise a query, small
#: enough that a chunk of views is a few MiB
CHUNK = 1000


class ReportSource(Protocol):
    """The reads the report needs (``linkwatch.store.ReportStore``)."""

    def report_order(self) -> list[int]: ...
    def report_links(self, ids: Sequence[int]) -> list[Link]: ...
    def report_citations(self, link_ids: Sequence[int]) -> list[Citation]: ...
    def document_citations(self, document_ids: Sequence[int]) -> list[Citation]: ...
    def report_timeline(self, link_ids: Sequence[int], latest: int) -> list[PastCheck]: ...


@dataclass(slots=True)
class ViewLoader:
    """Link views (with their citations and, for the pages, their evidence timelines)
    for a list of ids, read a chunk at a time."""

    source: ReportSource
    paths: dict[int, str]  # document id -> path, for the live documents
    now: str
    drift_below: float
    timeline: int  # checks per evidence timeline
    #: links with something to do in the documents citing them (set by ``build_model``)
    attention: set[int] = field(default_factory=set)

    def links(self, ids: Sequence[int], *, timeline: bool = True) -> list[LinkView]:
        """The views of ``ids`` (those still cited), in the order given."""
        out: list[LinkView] = []
        for start in range(0, len(ids), CHUNK):
            out += self._chunk(ids[start : start + CHUNK], timeline)
        return out

    def _chunk(self, ids: Sequence[int], timeline: bool) -> list[LinkView]:
        views = {
            link.id: _link(link, self.drift_below, self.now)
            for link in self.source.report_links(ids)
        }
        for cite in self.source.report_citations(ids):
            link = views.get(cite.link_id or 0)
            if link is not None and cite.document_id in self.paths:
                link.citations.append(cite)
        for link in views.values():
            link.cited_as_copy = bool(link.citations) and all(
                archived_original(c.raw) is not None for c in link.citations
            )
        if timeline and self.timeline > 0:
            for check in self.source.report_timeline(ids, self.timeline):
                link = views.get(check.link_id)
                if link is not None:
                    link.timeline.append(check)
        return [views[i] for i in ids if i in views]

    def attach(self, docs: Sequence[DocumentView]) -> None:
        """Read the citations to act on of ``docs`` (for the page that shows them)."""
        by_id = {doc.id: doc for doc in docs}
        cites = [
            cite
            for start in range(0, len(docs), CHUNK)
            for cite in self.source.document_citations(list(by_id)[start : start + CHUNK])
            if cite.link_id in self.attention
        ]
        views = {lk.id: lk for lk in self.links(list(dict.fromkeys(c.link_id or 0 for c in cites)))}
        found: dict[int, list[tuple[Citation, LinkView]]] = {doc.id: [] for doc in docs}
        for cite in cites:
            link, held = views.get(cite.link_id or 0), found.get(cite.document_id or 0)
            if link is not None and held is not None:
                held.append((cite, link))
        for doc in docs:
            doc.hold(found[doc.id])


class LinkList(Sequence[LinkView]):
    """One of the report's lists: the ids in order, the views read when asked for."""

    __slots__ = ("_ids", "_load")

    def __init__(self, ids: Sequence[int], load: Callable[[Sequence[int]], list[LinkView]]):
        self._ids = array("q", ids)
        self._load = load

    def __len__(self) -> int:
        return len(self._ids)

    def __repr__(self) -> str:
        return f"LinkList({len(self._ids)} links)"

    @overload
    def __getitem__(self, index: int) -> LinkView: ...
    @overload
    def __getitem__(self, index: slice) -> list[LinkView]: ...
    def __getitem__(self, index: int | slice) -> LinkView | list[LinkView]:
        if isinstance(index, slice):
            return self._load(self._ids[index].tolist())
        return self._load([self._ids[index]])[0]

    def __iter__(self) -> Iterator[LinkView]:
        for start in range(0, len(self._ids), CHUNK):
            yield from self._load(self._ids[start : start + CHUNK].tolist())


@dataclass(slots=True)
class _Tally:
    """What the one walk over every link keeps: figures, and each list as ids in order."""

    links: int = 0
    citations: int = 0
    states: Counter[str] = field(default_factory=Counter)
    archivable: int = 0
    with_snapshot: int = 0
    problems: list[int] = field(default_factory=list)
    acknowledged: list[int] = field(default_factory=list)
    unverifiable: list[int] = field(default_factory=list)
    no_snapshot: list[int] = field(default_factory=list)
    drifted: list[tuple[float, int]] = field(default_factory=list)
    copies: list[tuple[bool, str, int]] = field(default_factory=list)
    redirected: list[tuple[bool, str, int]] = field(default_factory=list)
    domains: dict[str, DomainView] = field(default_factory=dict)

    def add(self, link: LinkView, docs: dict[int, DocumentView], attention: set[int]) -> None:
        self.links += 1
        self.citations += len(link.citations)
        self.states[link.state] += 1
        state = link.state
        if state != LinkState.INVALID:
            self.archivable += 1
            self.with_snapshot += link.snapshot is not None
            self._domain(link)
        if state in PROBLEM_STATES and not link.cited_as_copy and not link.acknowledged:
            self.problems.append(link.id)
        if link.acknowledged:
            self.acknowledged.append(link.id)
        if state in (LinkState.UNVERIFIABLE, LinkState.INVALID) or (
            state == LinkState.NEW and link.last_outcome is not None
        ):
            self.unverifiable.append(link.id)
        if link.needs_snapshot:
            self.no_snapshot.append(link.id)
        if link.drifted:
            self.drifted.append((link.similarity or 0.0, link.id))
        if link.cited_as_copy:
            self.copies.append((not link.original_back, link.url, link.id))
        if link.is_redirected:
            self.redirected.append((not link.permanent_redirect, link.url, link.id))
        if link.needs_attention:
            attention.add(link.id)
        seen: set[int] = set()
        for cite in link.citations:
            doc = docs.get(cite.document_id or 0)
            if doc is None:
                continue
            doc.citation_count += 1
            doc.attention_rows += link.needs_attention
            if doc.id not in seen:
                seen.add(doc.id)
                doc.states[state] += 1
                doc.redirected += link.is_redirected
                doc.no_snapshot += link.needs_snapshot

    def _domain(self, link: LinkView) -> None:
        view = self.domains.get(link.host)
        if view is None:
            view = self.domains[link.host] = DomainView(link.host)
        view.links += 1
        view.dead += link.state == LinkState.DEAD
        view.failing += link.state == LinkState.FAILING
        view.blocked += (
            link.last_outcome in BLOCKING_OUTCOMES or link.state == LinkState.UNVERIFIABLE
        )
        view.redirected += link.is_redirected

    def domain_list(self) -> list[DomainView]:
        return sorted(
            self.domains.values(),
            key=lambda d: (-(d.dead + d.failing), -d.blocked, -d.links, d.host),
        )


MIN_TREND_DAYS = 14


def _trend(rows: Sequence[DayCount], start: date, end: date) -> list[TrendDay]:
    """Checks per day from ``start`` to ``end``, leading days before any check left out
    (a young installation gets a readable chart, not a mostly empty one)."""
    days: dict[str, TrendDay] = {}
    day = start
    while day <= end:
        days[day.isoformat()] = TrendDay(day.isoformat())
        day += timedelta(days=1)
    for row in rows:
        entry = days.get(row.day)
        if entry is not None:
            kind = outcome_kind(row.outcome)
            if kind == "fail" and row.network_down:
                kind = "warn"  # our network was down: no conclusive failure of the link
            setattr(entry, kind, getattr(entry, kind) + row.n)
    series = list(days.values())
    first = next((i for i, d in enumerate(series) if d.total), len(series))
    return series[min(first, max(len(series) - MIN_TREND_DAYS, 0)) :]


def _states_per_day(head: ReportHead, days: list[TrendDay]) -> None:
    """Links by state at the end of each trend day, from the states at the window's start
    and the state changes and first sightings inside it (no per-link history read)."""
    if not days:
        return
    counts: collections.Counter[str] = collections.Counter(head.states_at_start)
    counts["new"] += head.new_at_start
    arrivals = head.arrivals
    moves: dict[str, list[StateMove]] = collections.defaultdict(list)
    for move in head.moves:
        moves[move.day].append(move)

    def apply(day: str) -> None:
        counts["new"] += arrivals.get(day, 0)
        for move in moves.get(day, ()):
            counts[move.from_state] -= move.n
            counts[move.to_state] += move.n

    # days before the first drawn one still move the counts (the chart may start later)
    for day in sorted(d for d in {*arrivals, *moves} if d < days[0].day):
        apply(day)
    for entry in days:
        apply(entry.day)
        entry.states = {k: v for k, v in counts.items() if v > 0}


# the archive stage's figures in ``meta`` (``archive.user_status`` is Save Page Now's
# /save/status/user answer as JSON), in words
META_LABELS = {
    "user_status.daily_captures": "captures today",
    "user_status.available": "free capture slots",
    "user_status.processing": "captures in progress",
    "user_status.at": "as of",
    "backoff_until": "paused (rate limited) until",
}


def _meta(meta: dict[str, str]) -> dict[str, str]:
    """``archive.*`` meta values as label -> text; JSON objects are flattened one level."""
    figures: dict[str, str] = {}
    for name, value in meta.items():
        key = name.removeprefix("archive.")
        parsed: Any
        try:
            parsed = json.loads(value)
        except ValueError:
            parsed = value
        items = (
            {f"{key}.{k}": v for k, v in parsed.items()}
            if isinstance(parsed, dict)
            else {key: value}
        )
        used, limit = (
            items.pop(f"{key}.daily_captures", None),
            items.pop(f"{key}.daily_captures_limit", None),
        )
        if used is not None:
            items[f"{key}.daily_captures"] = f"{used} of {limit}" if limit is not None else used
        for name, item in items.items():
            if item is not None and item != "":
                figures[META_LABELS.get(name, name)] = str(item)
    return figures


def build_model(
    source: ReportSource,
    head: ReportHead,
    *,
    title: str,
    generated_at: datetime,
    previous_at: str | None,
    trend_days: int,
    has_credentials: bool,
    drift_below: float = 0.0,
    timeline: int = 0,
    each: Callable[[LinkView], None] | None = None,
) -> ReportModel:
    """The report's view model from ``source`` and ``ReportStore.report_head()``: one walk
    over every link (a chunk at a time), keeping figures and ids; ``each`` is called with
    every link on the way, in the report's order."""
    docs = {
        doc.id: DocumentView(doc.id, doc.path, doc.format, [w.message for w in doc.warnings])
        for doc in head.documents
    }
    loader = ViewLoader(
        source, {i: d.path for i, d in docs.items()}, iso(generated_at), drift_below, timeline
    )
    order = array("q", source.report_order())
    tally = _Tally()
    for start in range(0, len(order), CHUNK):
        for link in loader.links(order[start : start + CHUNK].tolist(), timeline=False):
            tally.add(link, docs, loader.attention)
            if each is not None:
                each(link)
    documents = [doc for doc in docs.values() if doc.citation_count]
    for doc in documents:
        doc.loader = loader.attach
    documents.sort(key=lambda d: (-d.problems, d.health, d.path))

    def listed(ids: Sequence[int]) -> LinkList:
        return LinkList(ids, loader.links)

    end = generated_at.date()
    summary = Summary(
        generated_at=iso(generated_at),
        previous_at=previous_at,
        links=tally.links,
        documents=len(documents),
        citations=tally.citations,
        states={s: n for s, n in tally.states.most_common()},
        with_snapshot=tally.with_snapshot,
        archivable=tally.archivable,
        newly_dead=listed(head.newly_dead),
        newly_recovered=listed(head.newly_recovered),
        checks_since=head.checks_since,
        checks_total=head.checks_total,
        queue=head.queue
        | ({"recovered, capture queued": head.recovered_queued} if head.recovered_queued else {}),
        queue_errors=head.queue_errors,
        archive_meta=_meta(head.archive_meta),
        captures_need_keys=not has_credentials,
        runs=head.runs,
    )
    trend = _trend(head.trend, end - timedelta(days=max(trend_days - 1, 0)), end)
    _states_per_day(head, trend)
    return ReportModel(
        title=title,
        summary=summary,
        trend=trend,
        links=LinkList(order, lambda ids: loader.links(ids, timeline=False)),
        problems=listed(tally.problems),
        acknowledged=listed(tally.acknowledged),
        drifted=listed([i for _s, i in sorted(tally.drifted)]),
        cited_as_copies=listed([i for *_k, i in sorted(tally.copies)]),
        unverifiable=listed(tally.unverifiable),
        redirected=listed([i for *_k, i in sorted(tally.redirected)]),
        no_snapshot=listed(tally.no_snapshot),
        documents=documents,
        domains=tally.domain_list(),
        attach=loader.attach,
    )
