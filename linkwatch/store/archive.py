"""Snapshots and the persistent archive queue (issue 4)."""

from __future__ import annotations

from linkwatch.store.core import StoreCore


class ArchiveStore(StoreCore):
    pass
