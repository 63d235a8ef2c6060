"""Read models for the report: what it shows, read a page of links at a time.

The report job runs every read inside one read transaction (``snapshot()``), so a report
never mixes the state before and after a concurrent check batch (WAL gives the reader a
snapshot and never blocks the writer; PostgreSQL a REPEATABLE READ one). Links come as ids
in the report's order (``report_order``) and then as rows a chunk of ids at a time
(``report_links``, ``report_citations``, ``report_timeline``), so the whole corpus is never
held at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from linkwatch.model import (
    ArchiveError,
    Citation,
    DayCount,
    Link,
    LinkState,
    PastCheck,
    ReportHead,
    ScannedDocument,
    StateMove,
)
from linkwatch.store.archive import RECOVERED_AWAITING_CAPTURE
from linkwatch.store.checks import LINK_COLUMNS, link_of
from linkwatch.store.core import StoreCore
from linkwatch.store.corpus import ACCESS_DATE, ACCESS_SOURCE, warnings_of
from linkwatch.store.runs import RUN_COLUMNS, run_of

LAST_GENERATED_KEY = "report.last_generated_at"
ARCHIVE_META_PREFIX = "archive."

#: a link is in the report while a live document cites it
_CITED = """EXISTS (SELECT 1 FROM citations c JOIN documents d ON d.id = c.document_id
               WHERE c.link_id = links.id AND c.ended_at IS NULL AND d.removed_at IS NULL)"""

_LINKS = f"""
SELECT {LINK_COLUMNS},
       (SELECT s.verified FROM snapshots s WHERE s.link_id = links.id
        AND s.source = 'citation' ORDER BY s.verified LIMIT 1) AS copy_verified,
       (SELECT s.status FROM snapshots s WHERE s.link_id = links.id
        AND s.source = 'citation' ORDER BY s.verified LIMIT 1) AS copy_status
FROM links WHERE id IN ({{ids}})
"""  # noqa: S608 - fixed SQL fragments, no values

#: the report's order: dead first (``views.STATE_ORDER``), then since when (a problem since
#: it began failing), then the URL (byte order, as Python compares code points)
_ORDER = f"""
SELECT id FROM links WHERE {_CITED}
ORDER BY CASE state WHEN 'dead' THEN 0 WHEN 'failing' THEN 1 WHEN 'unverifiable' THEN 2
                    WHEN 'invalid' THEN 3 WHEN 'new' THEN 4 WHEN 'alive' THEN 5 ELSE 6 END,
         CASE WHEN state IN ('dead', 'failing') AND coalesce(failing_since, '') <> ''
              THEN failing_since ELSE coalesce(state_since, '') END,
         url, id
"""  # noqa: S608 - fixed SQL fragments, no values

_CITATION_COLUMNS = f"""
SELECT l.url, d.path, c.line, c.col, c.text, c.source, c.raw_url,
       {ACCESS_DATE} AS access_date, {ACCESS_SOURCE} AS access_source, c.fragment,
       c.link_id, c.document_id
FROM citations c JOIN documents d ON d.id = c.document_id JOIN links l ON l.id = c.link_id
WHERE c.ended_at IS NULL AND d.removed_at IS NULL
"""  # noqa: S608 - fixed SQL fragments, no values
_CITATIONS_OF_LINKS = _CITATION_COLUMNS + (
    " AND c.link_id IN ({ids}) ORDER BY c.document_id, c.line, c.col, c.id"
)
_CITATIONS_IN_DOCUMENTS = _CITATION_COLUMNS + (
    " AND c.document_id IN ({ids}) ORDER BY c.document_id, c.line, c.col, c.id"
)

_DOCUMENTS = """
SELECT id, path, format, warnings, last_scanned_at
FROM documents WHERE removed_at IS NULL ORDER BY path
"""

_TIMELINE = """
SELECT link_id, checked_at, outcome, status, error, strike, network_down FROM (
    SELECT c.link_id, c.checked_at, c.outcome, c.status, c.error, c.strike, c.network_down,
           row_number() OVER (PARTITION BY c.link_id ORDER BY c.checked_at DESC) AS n
    FROM checks c JOIN links l ON l.id = c.link_id
    WHERE l.state IN ('dead', 'failing', 'unverifiable') AND c.link_id IN ({ids})
) latest WHERE n <= ? ORDER BY link_id, checked_at
"""

_TREND = """
SELECT substr(checked_at, 1, 10) AS day, outcome, network_down, count(*) AS n
FROM checks WHERE checked_at >= ? GROUP BY day, outcome, network_down ORDER BY day
"""

#: states of valid links at the start of the trend window: the last change before it
_STATES_AT_START = """
SELECT to_state, count(*) AS n FROM (
    SELECT s.to_state, row_number() OVER (PARTITION BY s.link_id ORDER BY s.at DESC, s.id DESC)
           AS k
    FROM state_changes s WHERE s.at < ?
) last_change WHERE k = 1 GROUP BY to_state
"""
#: valid links first seen before the window that had no state change before it ("new")
_NEW_AT_START = """
SELECT (SELECT count(*) FROM links WHERE invalid_reason IS NULL AND first_seen_at < ?)
     - (SELECT count(DISTINCT link_id) FROM state_changes WHERE at < ?)
"""
_ARRIVALS = """
SELECT substr(first_seen_at, 1, 10) AS day, count(*) AS n FROM links
WHERE invalid_reason IS NULL AND first_seen_at >= ? GROUP BY substr(first_seen_at, 1, 10)
"""
_STATE_MOVES = """
SELECT substr(at, 1, 10) AS day, coalesce(from_state, 'new') AS from_state, to_state,
       count(*) AS n
FROM state_changes WHERE at >= ?
GROUP BY substr(at, 1, 10), coalesce(from_state, 'new'), to_state
"""

#: cited links dead now that were not when their first change since the previous report
#: began, and links alive now that were in trouble then; in the order they changed
_CHANGED = f"""
SELECT links.id, links.state FROM (
    SELECT s.link_id, s.from_state, s.at, s.id,
           row_number() OVER (PARTITION BY s.link_id ORDER BY s.at, s.id) AS k
    FROM state_changes s WHERE s.at > ?
) f JOIN links ON links.id = f.link_id
WHERE f.k = 1 AND {_CITED}
  AND ((links.state = 'dead' AND coalesce(f.from_state, '') <> 'dead')
       OR (links.state = 'alive' AND f.from_state IN ('dead', 'failing', 'unverifiable')))
ORDER BY f.at, f.id
"""  # noqa: S608 - fixed SQL fragments, no values


def _document(row: Sequence[Any]) -> ScannedDocument:
    id_, path, format_, warnings, scanned_at = row
    return ScannedDocument(
        int(id_), str(path), str(format_), warnings_of(path, warnings), scanned_at
    )


def _citation(row: Sequence[Any]) -> Citation:
    url, path, line, col, text, source, raw, accessed, accessed_from, fragment, link, doc = row
    return Citation(
        url,
        path,
        line,
        col or 0,
        text or "",
        source or "",
        raw or "",
        str(accessed)[:10] if accessed else None,
        accessed_from,
        fragment or "",
        link,
        doc,
    )


def _marks(ids: Sequence[int]) -> str:
    return ", ".join("?" * len(ids)) or "NULL"


class ReportStore(StoreCore):
    def report_order(self) -> list[int]:
        """The ids of every cited link, in the report's order."""
        return [row[0] for row in self.conn.execute(_ORDER)]

    def report_links(self, ids: Sequence[int]) -> list[Link]:
        """The links ``ids``, with the check of their cited copy (any order)."""
        return [link_of(row) for row in self.query(_LINKS.format(ids=_marks(ids)), list(ids))]

    def report_citations(self, link_ids: Sequence[int]) -> list[Citation]:
        """The live citations of ``link_ids``, by document, line and column."""
        sql = _CITATIONS_OF_LINKS.format(ids=_marks(link_ids))
        return [_citation(row) for row in self.conn.execute(sql, list(link_ids))]

    def document_citations(self, document_ids: Sequence[int]) -> list[Citation]:
        """The live citations in ``document_ids``, by document, line and column."""
        sql = _CITATIONS_IN_DOCUMENTS.format(ids=_marks(document_ids))
        return [_citation(row) for row in self.conn.execute(sql, list(document_ids))]

    def report_timeline(self, link_ids: Sequence[int], latest: int) -> list[PastCheck]:
        """The last ``latest`` checks of those of ``link_ids`` in trouble, oldest first."""
        sql = _TIMELINE.format(ids=_marks(link_ids))
        return [
            PastCheck(link, str(at), str(outcome), status, error, bool(strike), bool(down))
            for link, at, outcome, status, error, strike, down in self.conn.execute(
                sql, [*link_ids, latest]
            )
        ]

    def report_head(self, *, since: str | None, trend_since: str) -> ReportHead:
        """Everything else the report shows (small: figures, documents, trend, runs).

        ``since`` is the previous report's time (``None`` for the first report): state
        changes and checks after it are "new since the previous report".
        """
        after = since or ""
        changed = list(self.conn.execute(_CHANGED, [after]))
        return ReportHead(
            documents=[_document(row) for row in self.conn.execute(_DOCUMENTS)],
            trend=[
                DayCount(str(day), str(outcome), bool(down), int(n))
                for day, outcome, down, n in self.conn.execute(_TREND, [trend_since])
            ],
            states_at_start=self.counts(_STATES_AT_START, [trend_since]),
            new_at_start=int(self.scalar(_NEW_AT_START, [trend_since, trend_since]) or 0),
            arrivals=self.counts(_ARRIVALS, [trend_since]),
            moves=[
                StateMove(str(day), str(before), str(after), int(n))
                for day, before, after, n in self.conn.execute(_STATE_MOVES, [trend_since])
            ],
            newly_dead=[int(id_) for id_, state in changed if state == LinkState.DEAD],
            newly_recovered=[int(id_) for id_, state in changed if state == LinkState.ALIVE],
            checks_since=int(
                self.scalar("SELECT count(*) FROM checks WHERE checked_at > ?", [after]) or 0
            ),
            checks_total=int(self.scalar("SELECT count(*) FROM checks") or 0),
            queue=self.counts(
                "SELECT status, count(*) FROM archive_queue GROUP BY status ORDER BY status"
            ),
            recovered_queued=int(self.scalar(RECOVERED_AWAITING_CAPTURE) or 0),
            queue_errors=[
                ArchiveError(str(url), str(reason), str(status), int(attempts or 0), str(error))
                for reason, status, attempts, error, url in self.conn.execute(
                    "SELECT q.reason, q.status, q.attempts, q.last_error, l.url "
                    "FROM archive_queue q JOIN links l ON l.id = q.link_id "
                    "WHERE q.last_error IS NOT NULL ORDER BY q.updated_at DESC LIMIT 20"
                )
            ],
            archive_meta={
                str(key): "" if value is None else str(value)
                for key, value in self.conn.execute(
                    "SELECT key, value FROM meta WHERE key >= ? AND key < ? ORDER BY key",
                    [ARCHIVE_META_PREFIX, ARCHIVE_META_PREFIX[:-1] + "/"],
                )
            },
            runs=[
                run_of(row)
                for row in self.conn.execute(
                    f"SELECT {RUN_COLUMNS} FROM runs "  # noqa: S608 - fixed columns
                    "ORDER BY started_at DESC, id DESC LIMIT 10"
                )
            ],
        )

    def last_report_at(self) -> str | None:
        return self.get_meta(LAST_GENERATED_KEY)

    def record_report(self, generated_at: str) -> None:
        self.set_meta(LAST_GENERATED_KEY, generated_at)
