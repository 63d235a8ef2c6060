"""Fixtures for the checker: the simulated web and settings that allow loopback."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from linkwatch.config import Settings
from tests.check.harness import make_settings
from tests.kit.simweb import SimWeb


@pytest.fixture(scope="session")
def web() -> Iterator[SimWeb]:
    with SimWeb(hosts=8, latency_ms=0) as sim:
        yield sim


@pytest.fixture
def settings() -> Settings:
    return make_settings()
