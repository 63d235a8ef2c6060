"""Fixtures for the report tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from linkwatch.config import ReportSettings, Settings
from linkwatch.store import Store
from tests.report.example import ReportDB


@pytest.fixture
def rdb(store: Store, clock: Any) -> ReportDB:
    return ReportDB(store, clock)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        report=ReportSettings(dir=str(tmp_path / "reports"), title="Test report"),
        base_dir=str(tmp_path),
    )
