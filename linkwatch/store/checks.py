"""Due links, check history and verdicts (issue 3).

Writes come in short batches (``record_checks``): one ``BEGIN IMMEDIATE`` transaction per
batch of results, never held across network I/O.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from linkwatch.clock import iso, parse_instant
from linkwatch.model import CheckResult, Link, LinkState, LinkStatus, Outcome
from linkwatch.store.core import StoreCore
from linkwatch.verdict import Verdict

#: the columns a ``Link`` is read from (``link_of``)
LINK_COLUMNS = (
    "id, url, host, state, state_since, strikes, first_strike_at, last_strike_at, "
    "failing_since, last_ok_at, check_interval_s, next_check_at, title, content_hash, "
    "fingerprint_at, etag, last_modified, first_sketch, similarity, last_outcome, "
    "last_checked_at, last_status, last_final_url, last_error, redirect_permanent, "
    "invalid_reason, archived_copy, snapshot_url, snapshot_timestamp, snapshot_archive, "
    "ack_note, ack_at, ack_until"
)
_CHUNK = 500
#: a host's "no request before" (Retry-After, or a lease hand-over), only ever pushed later
HOLD_HOST = (
    "INSERT INTO hosts (host, not_before) VALUES (?, ?) ON CONFLICT(host) DO UPDATE "
    "SET not_before = CASE WHEN hosts.not_before > excluded.not_before "
    "THEN hosts.not_before ELSE excluded.not_before END"
)


@dataclass(frozen=True)
class CheckRecord:
    """One finished check of a known link, with the verdict it led to."""

    link_id: int
    result: CheckResult
    verdict: Verdict
    previous: LinkState
    network_down: bool = False
    #: how alike the page's main text is now to the first time it was read (drift)
    similarity: float | None = None


def _when(text: str | None) -> datetime | None:
    """A stored time; one that is not a time (a row written by hand) is unknown."""
    try:
        return parse_instant(text) if text else None
    except ValueError:
        return None


def _iso(at: datetime | None) -> str | None:
    return iso(at) if at is not None else None


def link_of(row: Mapping[str, Any]) -> Link:
    """The ``Link`` of a row with the ``LINK_COLUMNS`` (and maybe the cited copy's
    ``copy_verified`` and ``copy_status``)."""
    permanent, outcome = row["redirect_permanent"], row["last_outcome"]
    return Link(
        id=int(row["id"]),
        url=row["url"],
        host=row["host"] or "",
        status=_status(row),
        invalid_reason=row["invalid_reason"],
        last_checked_at=row["last_checked_at"],
        last_outcome=_OUTCOMES.get(outcome or ""),
        last_status=row["last_status"],
        last_final_url=row["last_final_url"],
        last_error=row["last_error"],
        redirect_permanent=None if permanent is None else bool(permanent),
        next_check_at=row["next_check_at"],
        title=row["title"],
        content_hash=row["content_hash"],
        fingerprint_at=row["fingerprint_at"],
        etag=row["etag"],
        last_modified=row["last_modified"],
        first_sketch=row["first_sketch"],
        similarity=row["similarity"],
        archived_copy=row["archived_copy"],
        snapshot_url=row["snapshot_url"],
        snapshot_timestamp=row["snapshot_timestamp"],
        snapshot_archive=row["snapshot_archive"],
        copy_verified=row.get("copy_verified"),
        copy_status=row.get("copy_status"),
        ack_note=row["ack_note"],
        ack_at=row["ack_at"],
        ack_until=row["ack_until"],
    )


#: a stored outcome this version does not know (a newer one's, a row written by hand) is
#: no outcome, never an error that stops a check run or a report
_OUTCOMES = {o.value: o for o in Outcome}


def _status(row: Mapping[str, Any]) -> LinkStatus:
    """The verdict-relevant fields of a ``links`` row."""
    return LinkStatus(
        state=LinkState(row["state"]),
        state_since=_when(row["state_since"]),
        strikes=int(row["strikes"] or 0),
        first_strike_at=_when(row["first_strike_at"]),
        last_strike_at=_when(row["last_strike_at"]),
        failing_since=_when(row["failing_since"]),
        last_ok_at=_when(row["last_ok_at"]),
        check_interval_s=row["check_interval_s"],
    )


def due_selection(now: datetime, select: str, doc: str | None) -> tuple[str, list[Any]]:
    """The ``WHERE`` of the links to check (due or all; one document's) and its values."""
    where = ["invalid_reason IS NULL", "coalesce(last_outcome, '') != 'skipped_scheme'"]
    params: list[Any] = []
    if select == "due":
        where.append("(next_check_at IS NULL OR next_check_at <= ?)")
        params.append(iso(now))
    if doc is not None:
        where.append(
            "id IN (SELECT c.link_id FROM citations c JOIN documents d "
            "ON d.id = c.document_id WHERE d.path = ? AND c.ended_at IS NULL)"
        )
        params.append(doc)
    return " AND ".join(where), params


class CheckStore(StoreCore):
    def due_link_ids(
        self,
        now: datetime,
        *,
        select: str = "due",
        doc: str | None = None,
        limit: int | None = None,
        hosts: Sequence[str] | None = None,
    ) -> list[int]:
        """The ids of the links to check: due ones (``next_check_at`` passed or NULL) or
        all; valid only; ``doc`` restricts to the links one document cites now.

        Least recently checked first (never checked first of all), so links a host's
        ``Retry-After`` kept from an earlier run come before the ones checked since; a URL
        whose last answer was a 429 goes after all the others, so it cannot take the
        same first turn on its host run after run. ``hosts`` keeps to those hosts (the
        ones a worker holds leases on).
        """
        where, params = due_selection(now, select, doc)
        if hosts is not None:  # a worker's leased hosts
            where += f" AND host IN ({','.join('?' * len(hosts)) or 'NULL'})"
            params.extend(hosts)
        # only constant fragments and "?" placeholders are formatted into the SQL
        sql = (
            f"SELECT id FROM links WHERE {where} "  # noqa: S608
            "ORDER BY CASE WHEN last_outcome = 'rate_limited' THEN 1 ELSE 0 END, "
            "coalesce(last_checked_at, ''), id"
        )
        if limit is not None:
            sql += " LIMIT ?"
            params.append(int(limit))
        return [int(row[0]) for row in self.conn.execute(sql, params)]

    def links_by_ids(self, ids: Sequence[int]) -> list[Link]:
        """These links, in the order given (unknown ids left out)."""
        found: dict[int, Link] = {}
        for i in range(0, len(ids), _CHUNK):
            part = list(ids[i : i + _CHUNK])
            marks = ",".join("?" * len(part))
            for row in self.query(
                f"SELECT {LINK_COLUMNS} FROM links WHERE id IN ({marks})",  # noqa: S608
                part,
            ):
                found[int(row["id"])] = link_of(row)
        return [found[i] for i in ids if i in found]

    def count_due_links(self, now: datetime, *, select: str = "due", doc: str | None = None) -> int:
        where, params = due_selection(now, select, doc)
        return int(self.scalar(f"SELECT count(*) FROM links WHERE {where}", params))  # noqa: S608

    def document_known(self, path: str) -> bool:
        return self.scalar("SELECT 1 FROM documents WHERE path = ?", [path]) is not None

    def links_by_url(self, urls: Iterable[str]) -> dict[str, Link]:
        """Known links among ``urls`` (canonical keys), keyed by URL."""
        found: dict[str, Link] = {}
        keys = list(dict.fromkeys(urls))
        for i in range(0, len(keys), _CHUNK):
            part = keys[i : i + _CHUNK]
            marks = ",".join("?" * len(part))
            for row in self.query(
                f"SELECT {LINK_COLUMNS} FROM links WHERE url IN ({marks})",  # noqa: S608
                part,
            ):
                found[row["url"]] = link_of(row)
        return found

    def held_hosts(self, now: datetime) -> dict[str, datetime]:
        """Hosts that asked us (Retry-After) not to come back before a time still ahead."""
        rows = self.query("SELECT host, not_before FROM hosts WHERE not_before > ?", [iso(now)])
        return {r["host"]: parse_instant(r["not_before"]) for r in rows}

    def hosts_answered_before(self, hosts: Iterable[str]) -> set[str]:
        keys = list(set(hosts))
        answered: set[str] = set()
        for i in range(0, len(keys), _CHUNK):
            part = keys[i : i + _CHUNK]
            marks = ",".join("?" * len(part))
            answered.update(
                r["host"]
                for r in self.query(
                    "SELECT host FROM hosts WHERE last_answer_at IS NOT NULL "  # noqa: S608 - "?" only
                    f"AND host IN ({marks})",
                    part,
                )
            )
        return answered

    def hold_host(self, host: str, until: datetime, link_ids: Sequence[int] = ()) -> None:
        """Remember a host's Retry-After and push its links' next checks past it."""
        with self.write():
            self.conn.execute(HOLD_HOST, [host, iso(until)])
            self._defer(link_ids, until)

    def defer_links(self, link_ids: Sequence[int], until: datetime) -> None:
        """Links not checked this run (their host asked us to wait)."""
        with self.write():
            self._defer(link_ids, until)

    def _defer(self, link_ids: Sequence[int], until: datetime) -> None:
        self.conn.executemany(
            "UPDATE links SET next_check_at = ? WHERE id = ? "
            "AND (next_check_at IS NULL OR next_check_at < ?)",
            [(iso(until), i, iso(until)) for i in link_ids],
        )

    def record_checks(
        self,
        records: Sequence[CheckRecord],
        answered_hosts: Iterable[str] = (),
        run_id: int | None = None,
    ) -> None:
        """One short transaction: history rows, link rows, state changes, hosts seen."""
        if not records and not answered_hosts:
            return
        with self.write():
            self.conn.executemany(_INSERT_CHECK, [_check_row(r, run_id) for r in records])
            self.conn.executemany(_UPDATE_LINK, [_link_row(r) for r in records])
            self.conn.executemany(
                "INSERT INTO state_changes (link_id, at, from_state, to_state, reason) "
                "VALUES (?, ?, ?, ?, ?)",
                [
                    (
                        r.link_id,
                        iso(r.result.checked_at),
                        r.previous.value,
                        r.verdict.status.state.value,
                        r.verdict.reason,
                    )
                    for r in records
                    if r.verdict.status.state is not r.previous
                ],
            )
            at = iso(records[0].result.checked_at) if records else self.now()
            self.conn.executemany(
                "INSERT INTO hosts (host, last_answer_at) VALUES (?, ?) ON CONFLICT(host) "
                "DO UPDATE SET last_answer_at = excluded.last_answer_at",
                [(h, at) for h in set(answered_hosts)],
            )


_INSERT_CHECK = (
    "INSERT INTO checks (link_id, run_id, checked_at, outcome, status, final_url, redirects, "
    "elapsed_ms, error, strike, network_down) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
    "ON CONFLICT(link_id, checked_at) DO UPDATE SET run_id = excluded.run_id, "
    "outcome = excluded.outcome, status = excluded.status, final_url = excluded.final_url, "
    "redirects = excluded.redirects, elapsed_ms = excluded.elapsed_ms, error = excluded.error, "
    "strike = excluded.strike, network_down = excluded.network_down"
)

_UPDATE_LINK = (
    "UPDATE links SET last_checked_at = ?, last_outcome = ?, last_status = ?, "
    "last_final_url = ?, last_error = ?, redirect_permanent = ?, state = ?, state_since = ?, "
    "strikes = ?, first_strike_at = ?, last_strike_at = ?, failing_since = ?, last_ok_at = ?, "
    "check_interval_s = ?, next_check_at = ?, title = coalesce(?, title), "
    "content_hash = coalesce(?, content_hash), "
    "fingerprint_at = CASE WHEN ? IS NULL THEN fingerprint_at ELSE ? END, "
    "last_addresses = ?, etag = CASE WHEN ? = 1 THEN ? ELSE etag END, "
    "last_modified = CASE WHEN ? = 1 THEN ? ELSE last_modified END, "
    "first_sketch = coalesce(first_sketch, ?), sketch = coalesce(?, sketch), "
    "similarity = coalesce(?, similarity) WHERE id = ?"
)


def _check_row(r: CheckRecord, run_id: int | None) -> tuple[Any, ...]:
    res = r.result
    return (
        r.link_id,
        run_id,
        iso(res.checked_at),
        res.outcome.value,
        res.status,
        res.final_url,
        json.dumps(list(res.redirects)),
        res.elapsed_ms,
        res.error,
        int(r.verdict.strike),
        int(r.network_down),
    )


def _link_row(r: CheckRecord) -> tuple[Any, ...]:
    res, s = r.result, r.verdict.status
    permanent = None if res.permanent_redirect is None else int(res.permanent_redirect)
    alive = int(res.outcome.is_alive)  # validators change only with a page's answer
    return (
        iso(res.checked_at),
        res.outcome.value,
        res.status,
        res.final_url,
        res.error,
        permanent,
        s.state.value,
        _iso(s.state_since),
        s.strikes,
        _iso(s.first_strike_at),
        _iso(s.last_strike_at),
        _iso(s.failing_since),
        _iso(s.last_ok_at),
        s.check_interval_s,
        iso(r.verdict.next_check_at),
        res.title,
        res.content_hash,
        res.content_hash,
        iso(res.checked_at),
        json.dumps(list(res.addresses)),
        alive,
        res.etag,
        alive,
        res.last_modified,
        res.sketch,
        res.sketch,
        r.similarity,
        r.link_id,
    )
