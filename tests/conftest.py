"""Shared fixtures. Every server a test uses runs on loopback and is stopped by the test."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from linkwatch.store import Store, open_store


class FakeClock:
    """A clock tests move by hand: ``clock.advance(days=3)``."""

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or datetime(2026, 1, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        from datetime import timedelta

        self.now += timedelta(**delta)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def store(tmp_path: Path, clock: FakeClock) -> Iterator[Store]:
    s = open_store(tmp_path / "state" / "linkwatch.db", clock=clock)
    yield s
    s.close()


@pytest.fixture(autouse=True)
def _no_linkwatch_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests never see the developer's LINKWATCH_* variables."""
    import os

    for name in list(os.environ):
        if name.startswith("LINKWATCH_"):
            monkeypatch.delenv(name)


@pytest.fixture(autouse=True)
def _fresh_archive_limiters(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test starts with no archive limiter from an earlier one: the registry is per
    process (one daemon, one budget), and a fake archive's port can be reused by a later
    test, which would inherit the earlier test's back-off."""
    from linkwatch.archive import limits

    monkeypatch.setattr(limits, "_SHARED", {})
