"""Wayback archiving: a snapshot for every cited page before it dies, the right one after.

::

    store.plan_archive_queue(now)        what needs archiving, and why (new / failing / manual)
        -> jobs.archive.work_archive_queue()  due items, within the archive's limits (limits.py)
            -> attempt.attempt(item)     look up (lookup.py: availability + CDX),
                                         capture (spn2.py, our httpx SPN2 client), poll,
                                         verify through CDX
        -> choose.choose_snapshot()      the snapshot to show (InternetArchiveBot's rule)
        -> links.snapshot_url / snapshot_timestamp (what the report reads)

Archiving is off the check path: its own command (``linkwatch archive``), its own queue.
Without archive.org keys look-ups still run and captures are reported as skipped:
"captures need keys".
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from linkwatch.archive.lookup import Capture
from linkwatch.archive.spn2 import JobStatus, SubmitReply, UserStatus


class SnapshotLookup(Protocol):
    """Existing snapshots (``lookup.Lookup``: availability API + CDX)."""

    def newest(self, url: str, at: datetime) -> Capture | None: ...

    def captures(
        self,
        url: str,
        *,
        from_ts: str | None = None,
        to_ts: str | None = None,
        limit: int = 25,
        only_2xx: bool = False,
    ) -> list[Capture]: ...


class CaptureService(Protocol):
    """New captures (``spn2.SPN2Client``: Save Page Now 2)."""

    def submit(self, url: str) -> SubmitReply: ...

    def status(self, job_id: str) -> JobStatus: ...

    def user_status(self) -> UserStatus | None: ...


__all__ = ["Capture", "CaptureService", "SnapshotLookup"]
