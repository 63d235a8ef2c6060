"""From database rows to the report's view model (``linkwatch.report.views``). Pure."""

from __future__ import annotations

import collections
import json
from collections import Counter
from datetime import date, datetime, timedelta
from typing import Any

from linkwatch.clock import iso
from linkwatch.model import SNAPSHOT_REJECTED, LinkState, Outcome
from linkwatch.report.filters import safe_snapshot_href
from linkwatch.report.views import (
    ATTENTION_STATES,
    BLOCKING_OUTCOMES,
    PROBLEM_STATES,
    STATE_ORDER,
    CheckView,
    CitationView,
    DocumentView,
    DomainView,
    LinkView,
    ReportModel,
    Summary,
    TrendDay,
    outcome_kind,
)
from linkwatch.urls import WAYBACK, archive_name, archived_original


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


_RANK = {state: rank for rank, state in enumerate(STATE_ORDER)}


def _acknowledged(row: Any, now: str) -> bool:
    return bool(row["ack_at"]) and (not row["ack_until"] or row["ack_until"] > now)


def _link(row: Any, drift_below: float = 0.0, now: str = "") -> LinkView:
    """A link from a ``ReportStore`` row (every column present)."""
    permanent, state = row["redirect_permanent"], row["state"]
    copy_bad = row["copy_verified"] == SNAPSHOT_REJECTED
    snapshot = best_snapshot(
        row["snapshot_url"],
        row["snapshot_timestamp"],
        None if copy_bad else row["archived_copy"],
        row["snapshot_archive"],
    )
    redirected = row["last_outcome"] == Outcome.REDIRECTED and bool(row["last_final_url"])
    return LinkView(
        id=row["id"],
        url=row["url"],
        host=row["host"] or "",
        state=state,
        state_since=row["state_since"],
        failing_since=row["failing_since"],
        strikes=row["strikes"] or 0,
        last_ok_at=row["last_ok_at"],
        last_checked=row["last_checked_at"],
        last_outcome=row["last_outcome"],
        last_status=row["last_status"],
        final_url=row["last_final_url"],
        error=row["last_error"],
        permanent_redirect=None if permanent is None else bool(permanent),
        invalid_reason=row["invalid_reason"],
        archived_copy=row["archived_copy"],
        copy_status=row["copy_status"] if copy_bad else None,
        similarity=row["similarity"],
        ack_note=row["ack_note"],
        ack_until=row["ack_until"],
        acknowledged=_acknowledged(row, now),
        drifted=state == LinkState.ALIVE
        and row["similarity"] is not None
        and row["similarity"] < drift_below,
        snapshot_url=row["snapshot_url"],
        snapshot_timestamp=row["snapshot_timestamp"],
        title=row["title"],
        snapshot=snapshot,
        is_redirected=redirected,
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


def _attach(
    rows: dict[str, Any], drift_below: float = 0.0, now: str = ""
) -> tuple[dict[int, LinkView], list[DocumentView]]:
    links = {row["id"]: _link(row, drift_below, now) for row in rows["links"]}
    docs = {
        row["id"]: DocumentView(row["id"], row["path"], row["format"], _warnings(row["warnings"]))
        for row in rows["documents"]
    }
    for row in rows["citations"]:
        link, doc = links.get(row["link_id"]), docs.get(row["document_id"])
        if link is None or doc is None:
            continue
        cite = CitationView(
            doc.id,
            doc.path,
            row["line"],
            row["col"] or 0,
            row["text"] or "",
            row["source"] or "",
            row["raw_url"] or "",
            row["fragment"] or "",
            (row["access_date"] or "")[:10],
            row["access_source"] or "",
        )
        link.citations.append(cite)
        doc.citations.append((cite, link))
    for link in links.values():  # once per link: the report asks it of every list
        link.cited_as_copy = bool(link.citations) and all(
            archived_original(c.raw_url) is not None for c in link.citations
        )
    for row in rows["timeline"]:
        link = links.get(row["link_id"])
        if link is not None:
            link.timeline.append(
                CheckView(
                    row["checked_at"],
                    row["outcome"],
                    row["status"],
                    row["error"],
                    bool(row["strike"]),
                    bool(row["network_down"]),
                )
            )
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
        view.blocked += (
            link.last_outcome in BLOCKING_OUTCOMES or link.state == LinkState.UNVERIFIABLE
        )
        view.redirected += link.is_redirected
    return sorted(
        hosts.values(), key=lambda d: (-(d.dead + d.failing), -d.blocked, -d.links, d.host)
    )


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
            if kind == "fail" and row["network_down"]:
                kind = "warn"  # our network was down: no conclusive failure of the link
            setattr(entry, kind, getattr(entry, kind) + row["n"])
    series = list(days.values())
    first = next((i for i, d in enumerate(series) if d.total), len(series))
    return series[min(first, max(len(series) - MIN_TREND_DAYS, 0)) :]


def _states_per_day(states: dict[str, Any], days: list[TrendDay]) -> None:
    """Links by state at the end of each trend day, from the states at the window's start
    and the state changes and first sightings inside it (no per-link history read)."""
    if not days:
        return
    counts: collections.Counter[str] = collections.Counter(
        {r["to_state"]: int(r["n"]) for r in states["start"]}
    )
    counts["new"] += int(states["new_at_start"] or 0)
    arrivals = {r["day"]: int(r["n"]) for r in states["arrivals"]}
    moves: dict[str, list[dict[str, Any]]] = collections.defaultdict(list)
    for r in states["moves"]:
        moves[r["day"]].append(r)
    # days before the first drawn one still move the counts (the chart may start later)
    for day in sorted(d for d in {*arrivals, *moves} if d < days[0].day):
        counts["new"] += arrivals.get(day, 0)
        for r in moves.get(day, ()):
            counts[r["from_state"]] -= int(r["n"])
            counts[r["to_state"]] += int(r["n"])
    for entry in days:
        counts["new"] += arrivals.get(entry.day, 0)
        for r in moves.get(entry.day, ()):
            counts[r["from_state"]] -= int(r["n"])
            counts[r["to_state"]] += int(r["n"])
        entry.states = {k: v for k, v in counts.items() if v > 0}


def _changes(
    rows: list[dict[str, Any]], links: dict[int, LinkView]
) -> tuple[list[LinkView], list[LinkView]]:
    """Links dead now that were not at the previous report, and links alive now that were
    in trouble then (a link's state then is where its first change since began)."""
    before: dict[int, str | None] = {}
    for row in rows:  # ordered by time
        before.setdefault(row["link_id"], row["from_state"])
    dead: list[LinkView] = []
    recovered: list[LinkView] = []
    for link_id, state in before.items():
        link = links.get(link_id)
        if link is None:
            continue
        if link.state == LinkState.DEAD and state != LinkState.DEAD:
            dead.append(link)
        elif link.state == LinkState.ALIVE and state in ("dead", "failing", "unverifiable"):
            recovered.append(link)
    return dead, recovered


# the archive stage's figures in ``meta`` (``archive.user_status`` is Save Page Now's
# /save/status/user answer as JSON), in words
META_LABELS = {
    "user_status.daily_captures": "captures today",
    "user_status.available": "free capture slots",
    "user_status.processing": "captures in progress",
    "user_status.at": "as of",
    "backoff_until": "paused (rate limited) until",
}


def _meta(rows: list[dict[str, Any]]) -> dict[str, str]:
    """``archive.*`` meta rows as label -> text; JSON objects are flattened one level."""
    figures: dict[str, str] = {}
    for row in rows:
        key, value = str(row["key"]).removeprefix("archive."), row["value"]
        try:
            parsed = json.loads(value) if isinstance(value, str) else value
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
    rows: dict[str, Any],
    *,
    title: str,
    generated_at: datetime,
    previous_at: str | None,
    trend_days: int,
    has_credentials: bool,
    drift_below: float = 0.0,
) -> ReportModel:
    """The report's view model from ``ReportStore.report_rows()``."""
    by_id, documents = _attach(rows, drift_below, iso(generated_at))
    links = list(by_id.values())
    ordered = sorted(links, key=lambda lk: (lk.state_rank, lk.since or "", lk.url))
    newly_dead, recovered = _changes(rows["changes"], by_id)
    archivable = [lk for lk in links if lk.state != LinkState.INVALID]
    end = generated_at.date()
    summary = Summary(
        generated_at=iso(generated_at),
        previous_at=previous_at,
        links=len(links),
        documents=len(documents),
        citations=len(rows["citations"]),
        states={s: n for s, n in Counter(lk.state for lk in links).most_common()},
        with_snapshot=sum(lk.snapshot is not None for lk in archivable),
        archivable=len(archivable),
        newly_dead=newly_dead,
        newly_recovered=recovered,
        checks_since=int(rows["checks_since"] or 0),
        checks_total=int(rows["checks_total"] or 0),
        queue={r["status"]: r["n"] for r in rows["queue"]}
        | (
            {"recovered, capture queued": rows["recovered_queued"]}
            if rows["recovered_queued"]
            else {}
        ),
        queue_errors=rows["queue_errors"],
        archive_meta=_meta(rows["archive_meta"]),
        captures_need_keys=not has_credentials,
        runs=rows["runs"],
    )
    documents.sort(key=lambda d: (-d.problems, d.health, d.path))
    trend = _trend(rows["trend"], end - timedelta(days=max(trend_days - 1, 0)), end)
    if "states" in rows:
        _states_per_day(rows["states"], trend)
    return ReportModel(
        title=title,
        summary=summary,
        trend=trend,
        links=ordered,
        problems=[
            lk
            for lk in ordered
            if lk.state in PROBLEM_STATES and not lk.cited_as_copy and not lk.acknowledged
        ],
        acknowledged=[lk for lk in ordered if lk.acknowledged],
        drifted=sorted((lk for lk in links if lk.drifted), key=lambda lk: lk.similarity or 0),
        cited_as_copies=sorted(
            (lk for lk in links if lk.cited_as_copy), key=lambda lk: (not lk.original_back, lk.url)
        ),
        unverifiable=[
            lk
            for lk in ordered
            if lk.state in ("unverifiable", "invalid")
            or (lk.state == "new" and lk.last_outcome is not None)
        ],
        redirected=sorted(
            (lk for lk in links if lk.is_redirected),
            key=lambda lk: (not lk.permanent_redirect, lk.url),
        ),
        no_snapshot=[lk for lk in ordered if lk.needs_snapshot],
        documents=documents,
        domains=_domains(links),
    )
