"""All SQL in linkwatch lives here. ``Store`` is one connection with area methods.

Each area (corpus, checks, archive, reporting, repair, runs, events, leases) is a mixin
in its own module over ``StoreCore`` (connection, migrations, ``write()``), on either
backend: a SQLite file or a PostgreSQL database (``linkwatch.store.core.backend_for``).
"""

from __future__ import annotations

from pathlib import Path

from linkwatch.clock import Clock, system_clock
from linkwatch.store.archive import ArchiveStore
from linkwatch.store.checks import CheckStore
from linkwatch.store.core import StoreCore
from linkwatch.store.corpus import CorpusStore
from linkwatch.store.events import EventStore
from linkwatch.store.leases import LeaseStore
from linkwatch.store.repair import RepairStore
from linkwatch.store.reporting import ReportStore
from linkwatch.store.runs import RunStore


class Store(
    CorpusStore,
    CheckStore,
    ArchiveStore,
    ReportStore,
    RepairStore,
    EventStore,
    RunStore,
    LeaseStore,
):
    """The state database."""


def open_store(
    target: str | Path, *, busy_timeout_s: float = 10.0, clock: Clock = system_clock
) -> Store:
    """A SQLite path (or ``sqlite:///PATH``), or a ``postgresql://`` URL."""
    return Store(target, busy_timeout_s=busy_timeout_s, clock=clock)


__all__ = ["Store", "StoreCore", "open_store"]
