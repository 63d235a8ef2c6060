"""Documents and citations: recording what a scan extracted (issue 2)."""

from __future__ import annotations

from linkwatch.store.core import StoreCore


class CorpusStore(StoreCore):
    pass
