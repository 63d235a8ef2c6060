"""Read models for the report (issue 5): one consistent read of everything it shows.

``report_rows()`` runs every query inside one read transaction, so a report never mixes
the state before and after a concurrent check batch (WAL gives the reader a snapshot and
never blocks the writer).
"""

from __future__ import annotations

from typing import Any

from linkwatch.store.archive import RECOVERED_AWAITING_CAPTURE
from linkwatch.store.core import StoreCore
from linkwatch.store.corpus import ACCESS_DATE, ACCESS_SOURCE

LAST_GENERATED_KEY = "report.last_generated_at"
ARCHIVE_META_PREFIX = "archive."
PROBLEM_STATES = ("dead", "failing", "unverifiable")

_LINKS = """
SELECT id, url, host, state, state_since, failing_since, strikes, last_ok_at,
       last_checked_at, last_outcome, last_status, last_final_url, last_error,
       redirect_permanent, invalid_reason, archived_copy, snapshot_url,
       snapshot_timestamp, snapshot_archive, title, similarity, ack_note, ack_at, ack_until,
       (SELECT s.verified FROM snapshots s WHERE s.link_id = links.id
        AND s.source = 'citation' ORDER BY s.verified LIMIT 1) AS copy_verified,
       (SELECT s.status FROM snapshots s WHERE s.link_id = links.id
        AND s.source = 'citation' ORDER BY s.verified LIMIT 1) AS copy_status
FROM links
WHERE EXISTS (SELECT 1 FROM citations c JOIN documents d ON d.id = c.document_id
              WHERE c.link_id = links.id AND c.ended_at IS NULL AND d.removed_at IS NULL)
ORDER BY id
"""

_CITATIONS = f"""
SELECT c.link_id, c.document_id, c.line, c.col, c.text, c.source, c.raw_url, c.fragment,
       {ACCESS_DATE} AS access_date, {ACCESS_SOURCE} AS access_source
FROM citations c JOIN documents d ON d.id = c.document_id
WHERE c.ended_at IS NULL AND d.removed_at IS NULL
ORDER BY c.document_id, c.line, c.col, c.id
"""  # noqa: S608 - fixed SQL fragments, no values

_DOCUMENTS = """
SELECT id, path, format, warnings, last_scanned_at
FROM documents WHERE removed_at IS NULL ORDER BY path
"""

_TIMELINE = """
SELECT link_id, checked_at, outcome, status, error, strike, network_down FROM (
    SELECT c.link_id, c.checked_at, c.outcome, c.status, c.error, c.strike, c.network_down,
           row_number() OVER (PARTITION BY c.link_id ORDER BY c.checked_at DESC) AS n
    FROM checks c JOIN links l ON l.id = c.link_id
    WHERE l.state IN ('dead', 'failing', 'unverifiable')
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

_CHANGES = """
SELECT s.link_id, s.at, s.from_state, s.to_state FROM state_changes s
WHERE s.at > ? ORDER BY s.at
"""


class ReportStore(StoreCore):
    def report_rows(self, *, since: str | None, trend_since: str, timeline: int) -> dict[str, Any]:
        """Everything the report shows, read in one transaction (links, citations, documents
        and timeline as mapping rows, the rest as dicts).

        ``since`` is the previous report's time (``None`` for the first report): state
        changes and checks after it are "new since the previous report".
        """
        after = since or ""
        with self.snapshot():
            return {
                "links": self.backend.rows(_LINKS),
                "citations": self.backend.rows(_CITATIONS),
                "documents": self.backend.rows(_DOCUMENTS),
                "timeline": self.backend.rows(_TIMELINE, [timeline]),
                "trend": self.query(_TREND, [trend_since]),
                "states": {
                    "start": self.query(_STATES_AT_START, [trend_since]),
                    "new_at_start": self.scalar(_NEW_AT_START, [trend_since, trend_since]),
                    "arrivals": self.query(_ARRIVALS, [trend_since]),
                    "moves": self.query(_STATE_MOVES, [trend_since]),
                },
                "changes": self.query(_CHANGES, [after]),
                "checks_since": self.scalar(
                    "SELECT count(*) FROM checks WHERE checked_at > ?", [after]
                ),
                "checks_total": self.scalar("SELECT count(*) FROM checks"),
                "queue": self.query(
                    "SELECT status, count(*) AS n, CAST(sum(attempts) AS BIGINT) AS attempts "
                    "FROM archive_queue GROUP BY status ORDER BY status"
                ),
                "recovered_queued": self.scalar(RECOVERED_AWAITING_CAPTURE),
                "queue_errors": self.query(
                    "SELECT q.reason, q.status, q.attempts, q.last_error, l.url "
                    "FROM archive_queue q JOIN links l ON l.id = q.link_id "
                    "WHERE q.last_error IS NOT NULL ORDER BY q.updated_at DESC LIMIT 20"
                ),
                "archive_meta": self.query(
                    "SELECT key, value FROM meta WHERE key >= ? AND key < ? ORDER BY key",
                    [ARCHIVE_META_PREFIX, ARCHIVE_META_PREFIX[:-1] + "/"],
                ),
                "runs": self.query(
                    "SELECT id, job, started_at, finished_at, status, summary, error "
                    "FROM runs ORDER BY started_at DESC, id DESC LIMIT 10"
                ),
            }

    def last_report_at(self) -> str | None:
        return self.get_meta(LAST_GENERATED_KEY)

    def record_report(self, generated_at: str) -> None:
        self.set_meta(LAST_GENERATED_KEY, generated_at)
