"""Helpers for extraction tests: run ``extract_document`` on a file of tests/fixtures/."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from linkwatch.extract import Extraction, extract_document

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


@pytest.fixture
def extract_fixture() -> Callable[..., Extraction]:
    def run(name: str, **kwargs: int) -> Extraction:
        return extract_document(name, (FIXTURES / name).read_bytes(), **kwargs)

    return run


def urls(result: Extraction) -> list[str]:
    return [c.url for c in result.citations]


def by_url(result: Extraction) -> dict[str, list[object]]:
    out: dict[str, list[object]] = {}
    for c in result.citations:
        out.setdefault(c.url, []).append(c)
    return out
