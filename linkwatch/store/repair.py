"""What the ``fix`` job needs: the citations that a repair could fix, with their link."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from linkwatch.store.core import StoreCore
from linkwatch.store.corpus import ACCESS_DATE, ACCESS_SOURCE


@dataclass(frozen=True, slots=True)
class FixCandidate:
    """An active citation of a dead link that has a snapshot, or of a link that moved
    permanently (the last check was redirected by 301/308 and ended alive)."""

    document: str
    content_hash: str
    format: str
    line: int
    column: int
    source: str
    raw_url: str
    url: str
    state: str
    since: str | None
    last_outcome: str | None
    last_status: int | None
    last_error: str | None
    final_url: str | None
    snapshot_url: str | None
    snapshot_timestamp: str | None
    snapshot_archive: str | None
    access_date: str
    access_source: str
    similarity: float | None = None


_CANDIDATES = f"""
SELECT d.path AS document, d.content_hash, d.format, c.line, c.col AS "column", c.source,
       c.raw_url, l.url, l.state, coalesce(l.failing_since, l.state_since) AS since,
       l.last_outcome, l.last_status, l.last_error, l.last_final_url AS final_url,
       l.snapshot_url, l.snapshot_timestamp, l.snapshot_archive,
       {ACCESS_DATE} AS access_date, {ACCESS_SOURCE} AS access_source, l.similarity
FROM citations c
JOIN documents d ON d.id = c.document_id
JOIN links l ON l.id = c.link_id
WHERE c.ended_at IS NULL AND d.removed_at IS NULL AND l.invalid_reason IS NULL
  AND ((l.state = 'dead' AND l.snapshot_url IS NOT NULL)
       OR (l.state = 'alive' AND l.similarity < :drift_below AND l.snapshot_url IS NOT NULL)
       OR (l.state = 'alive' AND l.last_outcome = 'redirected' AND l.redirect_permanent = 1
           AND l.last_final_url IS NOT NULL))
ORDER BY d.path, c.line, c.col, c.id
"""  # noqa: S608 - fixed SQL fragments, no values


class RepairStore(StoreCore):
    def fix_candidates(
        self, documents: Sequence[str] = (), drift_below: float = 0.0
    ) -> list[FixCandidate]:
        """Citations a fix could apply to, in document order (only ``documents`` when
        given: labels as stored); live links less alike than ``drift_below`` drifted."""
        rows = self.query(_CANDIDATES, {"drift_below": drift_below})
        wanted = set(documents)
        return [FixCandidate(**row) for row in rows if not wanted or row["document"] in wanted]
