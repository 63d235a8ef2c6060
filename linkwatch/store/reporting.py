"""Read models for the report (issue 5)."""

from __future__ import annotations

from linkwatch.store.core import StoreCore


class ReportStore(StoreCore):
    pass
