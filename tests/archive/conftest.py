"""Fixtures for the archive tests: a fake Wayback Machine and fast settings pointing at it."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

import pytest

from linkwatch.config import ArchiveSettings, Credentials, Secret, Settings
from linkwatch.store import Store
from tests.kit.fakewayback import FakeWayback
from tests.kit.rows import insert, rows_where

ACCESS = "AKtestaccess4711"
SECRET = "s3cr3t-do-not-leak-9f2c"  # noqa: S105 - a test key for the fake


@pytest.fixture
def wayback(clock: Any) -> Iterator[FakeWayback]:
    """The fake archive, sharing the test's clock; fast polling (no Retry-After: 6)."""
    with FakeWayback(
        clock=clock, keys=(ACCESS, SECRET), minute_s=1.0, captures_per_minute=50, cdx_per_minute=200
    ) as wb:
        wb.faults.status_retry_after = None
        yield wb


def fast_settings(wb: FakeWayback, *, keys: bool = True, **archive: Any) -> Settings:
    values: dict[str, Any] = {
        "wayback_url": wb.base_url,
        "availability_url": wb.base_url,
        "captures_per_minute": 40,
        "concurrent_captures": 3,
        "cdx_per_minute": 150,
        "rate_window_s": 1.0,
        "poll_interval_s": 0.02,
        "poll_timeout_s": 2.0,
        "request_timeout_s": 2.0,
        "backoff_429_s": 0.3,
        "retry_backoff_s": 600.0,
        "memento_sources": (),  # the real archives are never asked from a test
    }
    values.update(archive)
    creds = Credentials(Secret(ACCESS), Secret(SECRET)) if keys else None
    return Settings(archive=replace(ArchiveSettings(), **values), credentials=creds)


@pytest.fixture
def settings_for() -> Callable[..., Settings]:
    return fast_settings


def add_link(
    store: Store,
    url: str,
    *,
    state: str = "new",
    last_outcome: str | None = "ok",
    last_status: int | None = 200,
    addresses: tuple[str, ...] = ("93.184.215.14",),
    access_date: str | None = None,
    first_seen_at: str = "2025-06-01T00:00:00+00:00",
    archived_copy: str | None = None,
    invalid_reason: str | None = None,
    doc: str = "articles/a.md",
) -> int:
    """A link cited once by ``doc`` (test data written with sqlite-utils' table API); by
    default its last check reached it at a public address (``addresses``)."""
    with store.write() as db:
        docs = list(rows_where(db, "documents", "path = ?", [doc]))
        if docs:
            doc_id = docs[0]["id"]
        else:
            doc_id = insert(
                db,
                "documents",
                {"path": doc, "access_date": access_date, "first_scanned_at": first_seen_at},
            )
        link_id = insert(
            db,
            "links",
            {
                "url": url,
                "host": url.split("/")[2],
                "first_seen_at": first_seen_at,
                "state": state,
                "last_outcome": last_outcome,
                "archived_copy": archived_copy,
                "last_status": last_status if last_outcome else None,
                "last_addresses": json.dumps(list(addresses)) if last_outcome else None,
                "invalid_reason": invalid_reason,
            },
        )
        insert(
            db,
            "citations",
            {
                "document_id": doc_id,
                "link_id": link_id,
                "line": 1,
                "source": "a@href",
                "raw_url": archived_copy or url,
                "first_seen_at": first_seen_at,
                "last_seen_at": first_seen_at,
            },
        )
    return int(link_id)
