"""Due links, check history and verdicts (issue 3)."""

from __future__ import annotations

from linkwatch.store.core import StoreCore


class CheckStore(StoreCore):
    pass
