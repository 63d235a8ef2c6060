"""Snapshots and the persistent archive queue (issue 4).

``archive_queue`` holds one row per link: why it is queued (``new``, ``failing``,
``manual``), its priority (lower is sooner), ``status`` (``pending`` -> ``submitted``
(job id and time stored *before* polling) -> ``done`` | ``failed``), attempts, the next
attempt time and the last error. ``snapshots`` holds every capture we know of, with its
archived status, where we learnt of it (``cdx``, ``availability``, ``spn2``,
``citation``) and ``verified`` (1 confirmed by CDX, 0 not confirmed, -1 rejected: not a
good snapshot). ``links.snapshot_url`` / ``links.snapshot_timestamp`` carry the chosen one.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from linkwatch.clock import iso
from linkwatch.model import WAYBACK, ArchiveItem, QueueFigures, Snapshot
from linkwatch.store.core import Row, StoreCore
from linkwatch.store.corpus import ACCESS_DATE
from linkwatch.urls import archive_name, archived_original, host_of

PRIORITY = {"manual": 0, "failing": 10, "drifted": 10, "recovered": 15, "new": 20}
#: links the archive stage still has work for: not cited as an archived copy, or the
#: original is live again (capture it too), or the copy cited turned out not to be good
NOT_COVERED = (
    "(l.archived_copy IS NULL OR l.state = 'alive' OR EXISTS (SELECT 1 FROM snapshots s "
    "WHERE s.link_id = l.id AND s.source = 'citation' AND s.verified = -1))"
)
RECOVERED_AWAITING_CAPTURE = (  # NOT_COVERED is a fixed fragment, never a value
    "SELECT count(*) FROM archive_queue q JOIN links l ON l.id = q.link_id "  # noqa: S608
    "WHERE (q.reason = 'recovered' AND q.status IN ('pending', 'submitted')) OR "
    "(q.status = 'failed' AND coalesce(q.last_error, '') NOT LIKE 'permanent:%' "
    "AND l.state = 'alive' AND l.invalid_reason IS NULL "
    f"AND {NOT_COVERED} AND l.last_ok_at > q.updated_at)"
)
ACTIVE = ("pending", "submitted")


def _at(now: datetime | str) -> str:
    return now if isinstance(now, str) else iso(now)


_SNAPSHOT_COLUMNS = "timestamp, url, status, source, verified, archive"


def _snapshot(row: Row) -> Snapshot:
    return Snapshot(
        row["timestamp"],
        row["url"],
        row["status"],
        row["source"],
        int(row["verified"] or 0),
        row["archive"] or WAYBACK,
    )


class ArchiveStore(StoreCore):
    # -- planning ----------------------------------------------------------------------
    def plan_archive_queue(self, now: datetime | str, drift_below: float = 0.0) -> int:
        """Enqueue links that need archiving; returns how many were (re-)enqueued.

        New or alive links with an active citation and nothing chosen yet -> ``new``;
        links whose capture failed and that checked alive again since -> ``recovered``;
        failing or dead links -> ``failing`` (sooner), also when an earlier entry for them
        is finished, so their snapshot is chosen again by the access-date rule. Links with
        ``invalid_reason`` are never queued; links whose citation is an archive URL count
        as archived: that copy is recorded (source ``citation``) and chosen.
        """
        at = _at(now)
        with self.write() as db:
            self._adopt_citation_copies(at)
            db.execute(
                "UPDATE archive_queue SET reason = 'failing', priority = ?, updated_at = ? "
                "WHERE reason = 'new' AND status IN ('pending', 'submitted') AND link_id IN "
                "(SELECT id FROM links WHERE state IN ('failing', 'dead'))",
                [PRIORITY["failing"], at],
            )
            added = self._insert_new(at, "new", "('new', 'alive')", needs_citation=True)
            added += self._insert_new(at, "failing", "('failing', 'dead')", needs_citation=False)
            added += self._requeue(
                "failing",
                at,
                "status IN ('done', 'failed') AND reason != 'failing' AND link_id IN "  # noqa: S608
                "(SELECT l.id FROM links l WHERE l.state IN ('failing', 'dead') "
                f"AND l.invalid_reason IS NULL AND {NOT_COVERED})",
            )
            added += self._requeue_recovered(at)
            added += self._queue_drifted(at, drift_below)
        return added

    def _queue_drifted(self, at: str, drift_below: float) -> int:
        """Live links whose text drifted from the one first read: a snapshot from before
        the change is looked up (reason ``drifted``); the page as it is now is never
        captured (it is not what was cited)."""
        if drift_below <= 0:
            return 0
        drifted = (
            "SELECT l.id FROM links l WHERE l.state = 'alive' AND l.similarity < ? "  # noqa: S608
            f"AND l.invalid_reason IS NULL AND l.host != '' AND {NOT_COVERED}"
        )
        moved = self._requeue(
            "drifted", at, f"reason != 'drifted' AND link_id IN ({drifted})", [drift_below]
        )
        added = self.conn.execute(
            "INSERT INTO archive_queue (link_id, reason, priority, status, enqueued_at, "  # noqa: S608
            "attempts, next_attempt_at, updated_at) "
            f"SELECT id, 'drifted', ?, 'pending', ?, 0, ?, ? FROM ({drifted}) d "
            "WHERE NOT EXISTS (SELECT 1 FROM archive_queue q WHERE q.link_id = d.id)",
            [PRIORITY["drifted"], at, at, at, drift_below],
        ).rowcount
        return int(moved) + int(added)

    def _requeue_recovered(self, at: str) -> int:
        """A link whose capture ended ``failed`` (the page was down when we tried) and
        that has checked alive since is queued for capture again (``recovered``); a
        permanent refusal (``error:blocked-url`` and the like) stays failed."""
        return self._requeue(
            "recovered",
            at,
            "status = 'failed' AND coalesce(last_error, '') NOT LIKE 'permanent:%' "  # noqa: S608
            "AND link_id IN (SELECT l.id FROM links l WHERE l.state = 'alive' "
            "AND l.invalid_reason IS NULL "
            f"AND {NOT_COVERED} AND l.last_ok_at > archive_queue.updated_at)",
        )

    def _requeue(self, reason: str, at: str, where: str, params: Sequence[Any] = ()) -> int:
        """Queue items matching ``where`` (a fixed SQL condition) pending again for
        ``reason``, from scratch: no attempts, no job, no error."""
        return int(
            self.conn.execute(
                "UPDATE archive_queue SET reason = ?, priority = ?, status = 'pending', "  # noqa: S608
                "attempts = 0, next_attempt_at = ?, job_id = NULL, submitted_at = NULL, "
                f"last_error = NULL, updated_at = ? WHERE {where}",
                [reason, PRIORITY[reason], at, at, *params],
            ).rowcount
        )

    def _insert_new(self, at: str, reason: str, states: str, *, needs_citation: bool) -> int:
        cited = (
            "AND EXISTS (SELECT 1 FROM citations c WHERE c.link_id = l.id AND c.ended_at IS NULL)"
            if needs_citation
            else ""
        )
        # a cited copy is no capture of the live original (the original is back)
        snapshot = (
            "AND (l.snapshot_url IS NULL OR l.snapshot_url = l.archived_copy)"
            if reason == "new"
            else ""
        )
        # only fixed fragments are formatted in; every value is a parameter
        sql = (
            "INSERT INTO archive_queue (link_id, reason, priority, status, enqueued_at, "  # noqa: S608
            "attempts, next_attempt_at, updated_at) "
            f"SELECT l.id, ?, ?, 'pending', ?, 0, ?, ? FROM links l WHERE l.state IN {states} "
            # host '': a mailto: (or other scheme) link, never requested, never captured
            f"AND l.invalid_reason IS NULL AND {NOT_COVERED} AND l.host != '' "
            f"{snapshot} {cited} "
            "AND NOT EXISTS (SELECT 1 FROM archive_queue q WHERE q.link_id = l.id)"
        )
        return int(self.conn.execute(sql, [reason, PRIORITY[reason], at, at, at]).rowcount)

    def _adopt_citation_copies(self, at: str) -> None:
        rows = self.query(
            "SELECT id, archived_copy FROM links WHERE archived_copy IS NOT NULL "
            "AND snapshot_url IS NULL AND invalid_reason IS NULL AND NOT EXISTS (SELECT 1 "
            "FROM snapshots s WHERE s.link_id = links.id AND s.source = 'citation' "
            "AND s.verified = -1)"
        )
        for row in rows:
            parsed = archived_original(row["archived_copy"])
            ts = (parsed[1] if parsed else None) or ""
            archive = archive_name(row["archived_copy"], "web archive")
            self.conn.execute(
                "INSERT INTO snapshots (link_id, timestamp, url, status, source, verified, "
                "found_at, archive) VALUES (?, ?, ?, NULL, 'citation', 0, ?, ?) "
                "ON CONFLICT(link_id, archive, timestamp) DO NOTHING",
                [row["id"], ts, row["archived_copy"], at, archive],
            )
            self.conn.execute(
                "UPDATE links SET snapshot_url = ?, snapshot_timestamp = ?, snapshot_archive = ? "
                "WHERE id = ?",
                [row["archived_copy"], ts or None, archive, row["id"]],
            )

    def enqueue_archive_urls(self, urls: Sequence[str], now: datetime | str) -> list[int]:
        """Queue canonical ``urls`` now (reason ``manual``), adding link rows if needed.

        A job already submitted for a link is kept (it is resumed, never resubmitted).
        """
        at = _at(now)
        ids: list[int] = []
        with self.write() as db:
            for url in urls:
                db.execute(
                    "INSERT INTO links (url, host, first_seen_at) VALUES (?, ?, ?) "
                    "ON CONFLICT(url) DO NOTHING",
                    [url, host_of(url), at],
                )
                link_id = int(self.scalar("SELECT id FROM links WHERE url = ?", [url]))
                db.execute(
                    "INSERT INTO archive_queue (link_id, reason, priority, status, enqueued_at, "
                    "attempts, next_attempt_at, updated_at) VALUES (?, 'manual', 0, 'pending', "
                    "?, 0, ?, ?) ON CONFLICT(link_id) DO UPDATE SET priority = 0, "
                    "next_attempt_at = excluded.next_attempt_at, updated_at = excluded.updated_at, "
                    "status = CASE WHEN archive_queue.status = 'submitted' THEN "
                    "archive_queue.status ELSE 'pending' END, attempts = CASE WHEN "
                    "archive_queue.status IN ('done', 'failed') THEN 0 "
                    "ELSE archive_queue.attempts END",
                    [link_id, at, at, at],
                )
                ids.append(link_id)
        return ids

    # -- working -----------------------------------------------------------------------
    def due_archive_items(
        self,
        now: datetime | str,
        *,
        limit: int | None = None,
        link_ids: Iterable[int] | None = None,
    ) -> list[ArchiveItem]:
        """Due queue rows: submitted jobs first (resume), then by priority and age."""
        params: list[Any] = [_at(now)]
        only = ""
        if link_ids is not None:
            ids = list(link_ids)
            only = f"AND q.link_id IN ({','.join('?' * len(ids))})" if ids else "AND 1 = 0"
            params += ids
        sql = (  # placeholders only
            "SELECT q.*, l.url, l.state, l.last_outcome, l.last_status, "  # noqa: S608
            "l.last_addresses, l.first_seen_at FROM archive_queue q "
            "JOIN links l ON l.id = q.link_id WHERE q.status IN ('pending', 'submitted') "
            f"AND (q.next_attempt_at IS NULL OR q.next_attempt_at <= ?) {only} "
            "ORDER BY q.status = 'submitted' DESC, q.priority, q.enqueued_at, q.link_id"
        )
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        return [self._item(row) for row in self.query(sql, params)]

    def archive_item(self, link_id: int) -> ArchiveItem | None:
        rows = self.query(
            "SELECT q.*, l.url, l.state, l.last_outcome, l.last_status, l.last_addresses, "
            "l.first_seen_at FROM archive_queue q "
            "JOIN links l ON l.id = q.link_id WHERE q.link_id = ?",
            [link_id],
        )
        return self._item(rows[0]) if rows else None

    def _item(self, row: Row) -> ArchiveItem:
        dates = self.query(
            f"SELECT {ACCESS_DATE} AS at FROM citations c "  # noqa: S608 - fixed SQL
            "JOIN documents d ON d.id = c.document_id WHERE c.link_id = ? AND c.ended_at IS NULL",
            [row["link_id"]],
        )
        return ArchiveItem(
            link_id=row["link_id"],
            url=row["url"],
            reason=row["reason"],
            status=row["status"],
            attempts=row["attempts"],
            job_id=row["job_id"],
            submitted_at=row["submitted_at"],
            last_error=row["last_error"],
            next_attempt_at=row["next_attempt_at"],
            state=row["state"],
            last_outcome=row["last_outcome"],
            first_seen_at=row["first_seen_at"],
            access_dates=tuple(str(d["at"]) for d in dates if d["at"]),
            last_status=row["last_status"],
            last_addresses=tuple(json.loads(row["last_addresses"] or "[]")),
        )

    def link_last_outcome(self, link_id: int) -> str | None:
        value = self.scalar("SELECT last_outcome FROM links WHERE id = ?", [link_id])
        return None if value is None else str(value)

    def mark_archive_submitted(self, link_id: int, job_id: str, now: datetime | str) -> None:
        """Persist the job id before polling: a restart resumes it instead of resubmitting."""
        at = _at(now)
        with self.write() as db:
            db.execute(
                "UPDATE archive_queue SET status = 'submitted', job_id = ?, submitted_at = ?, "
                "attempts = attempts + 1, updated_at = ? WHERE link_id = ?",
                [job_id, at, at, link_id],
            )

    def finish_archive_item(
        self,
        link_id: int,
        *,
        status: str,
        now: datetime | str,
        error: str | None = None,
        next_attempt_at: str | None = None,
        add_attempt: bool = False,
        keep_job: bool = False,
    ) -> None:
        at = _at(now)
        job = "" if keep_job else ", job_id = NULL, submitted_at = NULL"
        with self.write() as db:
            db.execute(  # a fixed fragment; values are parameters
                f"UPDATE archive_queue SET status = ?, last_error = ?, next_attempt_at = ?, "  # noqa: S608
                f"attempts = attempts + ?, updated_at = ?{job} WHERE link_id = ?",
                [status, error, next_attempt_at, int(add_attempt), at, link_id],
            )

    def record_snapshots(
        self, link_id: int, snapshots: Iterable[Snapshot], now: datetime | str
    ) -> None:
        """Upsert known snapshots of a link (a rejection or a better verification wins)."""
        at = _at(now)
        with self.write() as db:
            for s in snapshots:
                db.execute(
                    "INSERT INTO snapshots (link_id, timestamp, url, status, source, verified, "
                    "found_at, archive) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
                    "ON CONFLICT(link_id, archive, timestamp) DO "
                    "UPDATE SET status = COALESCE(excluded.status, snapshots.status), "
                    "verified = CASE WHEN snapshots.verified = -1 OR excluded.verified = -1 "
                    "THEN -1 "
                    "WHEN excluded.verified > snapshots.verified THEN excluded.verified "
                    "ELSE snapshots.verified END",
                    [
                        link_id,
                        s.timestamp,
                        s.url,
                        s.status,
                        s.source,
                        int(s.verified),
                        at,
                        s.archive or WAYBACK,
                    ],
                )

    def recovered_awaiting_capture(self) -> int:
        """Links whose capture failed while they were down and that are alive again:
        queued again (``recovered``), or to be at the archive stage's next planning."""
        return int(self.scalar(RECOVERED_AWAITING_CAPTURE) or 0)

    def unverified_cited_copies(self, limit: int) -> list[tuple[int, Snapshot]]:
        """Archived copies that citations point at, not replayed yet: (link id, copy)."""
        rows = self.query(
            f"SELECT link_id, {_SNAPSHOT_COLUMNS} FROM snapshots "  # noqa: S608 - constant
            "WHERE source = 'citation' AND verified = 0 ORDER BY link_id LIMIT ?",
            [limit],
        )
        return [(int(r["link_id"]), _snapshot(r)) for r in rows]

    def cited_copy_figures(self) -> dict[str, int]:
        """Links cited as archived copies, by what the original does now."""
        row = self.query(
            "SELECT COUNT(*) AS cited, "
            "CAST(coalesce(SUM(CASE WHEN state = 'alive' THEN 1 ELSE 0 END), 0) AS BIGINT) "
            "AS original_back, CAST(coalesce(SUM(CASE WHEN state IN ('failing', 'dead') "
            "THEN 1 ELSE 0 END), 0) AS BIGINT) AS original_gone FROM links "
            "WHERE archived_copy IS NOT NULL AND invalid_reason IS NULL"
        )[0]
        bad = self.scalar(
            "SELECT COUNT(DISTINCT link_id) FROM snapshots WHERE source = 'citation' "
            "AND verified = -1"
        )
        return {**{k: int(v or 0) for k, v in row.items()}, "copy_not_good": int(bad or 0)}

    def link_snapshots(self, link_id: int) -> list[Snapshot]:
        """Every known snapshot of a link, oldest first."""
        rows = self.query(
            f"SELECT {_SNAPSHOT_COLUMNS} FROM snapshots "  # noqa: S608 - constant
            "WHERE link_id = ? ORDER BY timestamp",
            [link_id],
        )
        return [_snapshot(r) for r in rows]

    def chosen_snapshot(self, link_id: int) -> tuple[str | None, str | None]:
        rows = self.query(
            "SELECT snapshot_url, snapshot_timestamp FROM links WHERE id = ?", [link_id]
        )
        return (rows[0]["snapshot_url"], rows[0]["snapshot_timestamp"]) if rows else (None, None)

    def set_chosen_snapshot(
        self, link_id: int, url: str | None, timestamp: str | None, archive: str = WAYBACK
    ) -> None:
        with self.write() as db:
            db.execute(
                "UPDATE links SET snapshot_url = ?, snapshot_timestamp = ?, snapshot_archive = ? "
                "WHERE id = ?",
                [url, timestamp or None, archive if url else None, link_id],
            )

    # -- figures -----------------------------------------------------------------------
    def held_back_reasons(self, marker: str) -> dict[str, int]:
        """Queue items held back from capture, by the reason's first words (before ':')."""
        rows = self.query(
            "SELECT last_error FROM archive_queue WHERE status = 'pending' AND last_error LIKE ?",
            [f"%{marker}%"],
        )
        counts: dict[str, int] = {}
        for row in rows:
            head = str(row["last_error"]).split(":", 1)[0]
            key = "private address" if head.startswith("private address") else head
            counts[key] = counts.get(key, 0) + 1
        return counts

    def archive_queue_figures(self) -> QueueFigures:
        next_at = self.scalar(
            "SELECT MIN(next_attempt_at) FROM archive_queue WHERE status IN "
            "('pending', 'submitted')"
        )
        return QueueFigures(
            by_status=self.counts(
                "SELECT status, COUNT(*) FROM archive_queue GROUP BY status ORDER BY status"
            ),
            by_reason=self.counts(
                "SELECT reason, COUNT(*) FROM archive_queue WHERE status IN "
                "('pending', 'submitted') GROUP BY reason ORDER BY reason"
            ),
            next_attempt_at=None if next_at is None else str(next_at),
            links_with_snapshot=int(
                self.scalar("SELECT COUNT(*) FROM links WHERE snapshot_url IS NOT NULL") or 0
            ),
            snapshots_known=int(self.scalar("SELECT COUNT(*) FROM snapshots") or 0),
        )
