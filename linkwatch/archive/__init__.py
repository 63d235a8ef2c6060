"""Wayback archiving: a snapshot for every cited page before it dies, the right one after.

::

    store.plan_archive_queue(now)        what needs archiving, and why (new / failing / manual)
        -> queue.work_archive_queue()    due items, within the archive's limits (limits.py)
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

import json
from datetime import datetime
from typing import Any, Protocol

from linkwatch.archive.attempt import NEED_KEYS
from linkwatch.archive.lookup import Capture
from linkwatch.archive.spn2 import JobStatus, SubmitReply, UserStatus
from linkwatch.config import Settings
from linkwatch.store import Store


class SnapshotLookup(Protocol):
    """Existing snapshots (``lookup.Lookup``: availability API + CDX)."""

    def newest(self, url: str, at: datetime) -> Capture | None: ...

    def captures(self, url: str, *, from_ts: str | None = None, to_ts: str | None = None,
                 limit: int = 25, only_2xx: bool = False) -> list[Capture]: ...


class CaptureService(Protocol):
    """New captures (``spn2.SPN2Client``: Save Page Now 2)."""

    def submit(self, url: str) -> SubmitReply: ...

    def status(self, job_id: str) -> JobStatus: ...

    def user_status(self) -> UserStatus | None: ...


class Archiver(SnapshotLookup, CaptureService, Protocol):
    """An archive as the archive stage sees it: the Wayback Machine's, or another's."""


def archive_status(settings: Settings, store: Store) -> dict[str, Any]:
    """For ``linkwatch status`` and the report: captures on or not, queue, budget. No secrets."""
    from linkwatch.archive.privacy import HELD_BACK
    from linkwatch.archive.queue import META_BACKOFF, META_USER_STATUS

    a = settings.archive
    has_keys = settings.credentials is not None
    if not a.enabled:
        captures = "disabled"
    else:
        captures = "enabled" if has_keys else "captures need keys"
    user_raw = store.get_meta(META_USER_STATUS)
    try:
        user = json.loads(user_raw) if user_raw else None
    except ValueError:
        user = None
    return {
        "enabled": a.enabled,
        "captures": captures,
        "captures_message": None if has_keys else NEED_KEYS,
        "credentials": {"access_key": "***", "secret_key": "***"} if has_keys else None,
        "wayback_url": a.wayback_url,
        "availability_url": a.availability_url,
        "queue": store.archive_queue_figures(),
        "held_back": store.held_back_reasons(HELD_BACK),
        "budget": {
            "captures_per_minute": a.captures_per_minute,
            "concurrent_captures": a.concurrent_captures,
            "cdx_per_minute": a.cdx_per_minute,
            "minute_s": a.rate_window_s,
            "backoff_until": store.get_meta(META_BACKOFF),
            "user_status": user,
        },
    }


__all__ = ["Archiver", "Capture", "CaptureService", "SnapshotLookup", "archive_status"]
