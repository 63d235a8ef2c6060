"""Runs of each job, the daemon lock and status figures (issue 6)."""

from __future__ import annotations

from linkwatch.store.core import StoreCore


class RunStore(StoreCore):
    pass
