"""Shared fixtures. Every server a test uses runs on loopback and is stopped by the test."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from linkwatch.store import Store, open_store


def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """``-n auto``: one worker more than the cores, at most 8. Most tests wait on loopback
    servers, so a third worker on two cores fills those waits (1330 tests: 55-65 s with 3
    workers, 78-85 s with 2); more workers would each start a PostgreSQL and a Chromium."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return min(8, (cores or 1) + 1)


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


#: the store's contract: tests in these files that take ``store`` (or ``state_target``) run
#: on both backends
CONTRACT = (
    "tests/store/",
    "tests/archive/test_queue.py",
    "tests/check/test_batch.py",
    "tests/report/test_output.py",
    "tests/report/test_state_trend.py",
    "tests/report/test_streaming.py",
    "tests/test_notify.py",
    "tests/test_workers.py",
)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    path = Path(metafunc.definition.path).as_posix()
    if "state_target" in metafunc.fixturenames and any(part in path for part in CONTRACT):
        metafunc.parametrize("backend", ["sqlite", "postgresql"], indirect=True)


@pytest.fixture
def backend(request: pytest.FixtureRequest) -> str:
    """``sqlite`` unless the test is part of the contract (then both, in turn)."""
    return str(getattr(request, "param", "sqlite"))


@pytest.fixture
def state_target(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Where the test's state lives: a SQLite file, or a PostgreSQL database with the
    schema and no rows (``pg_url`` is an empty one, for tests of migrations or copies)."""
    if backend == "postgresql":
        return str(request.getfixturevalue("pg_migrated_url"))
    return str(tmp_path / "state" / "linkwatch.db")


@pytest.fixture
def store(state_target: str, clock: FakeClock) -> Iterator[Store]:
    s = open_store(state_target, clock=clock)
    yield s
    s.close()


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[Any]:
    """One throwaway PostgreSQL cluster per test process (see ``tests.kit.pgcluster``);
    skipped, with the reason shown, where PostgreSQL or psycopg is not installed."""
    try:
        import psycopg  # noqa: F401
    except ImportError:
        pytest.skip("psycopg is not installed: pip install -e '.[test]'")
    from tests.kit.pgcluster import PgCluster, PgUnavailable

    try:
        cluster = PgCluster().start()
    except PgUnavailable as exc:
        pytest.skip(f"PostgreSQL half skipped: {exc}")
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def pg_url(pg_cluster: Any) -> str:
    """A fresh, empty PostgreSQL database for one test."""
    return str(pg_cluster.database())


@pytest.fixture
def pg_migrated_url(pg_cluster: Any) -> str:
    """The test process's migrated PostgreSQL database, emptied for this test."""
    return str(pg_cluster.migrated_database())


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
