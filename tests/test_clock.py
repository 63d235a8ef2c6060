"""Time parsing shared by the checker and the archiver."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from linkwatch.clock import retry_after_seconds

NOW = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("120", 120.0),
        (" 5 ", 5.0),
        ("Thu, 01 Jan 2026 12:01:30 GMT", 90.0),
        ("Thu, 01 Jan 2026 11:00:00 GMT", 0.0),
        (None, None),
        ("", None),
        ("soon", None),
        ("inf", None),
        ("nan", None),
        ("-5", None),
        ("1e9", None),
    ],
    ids=[
        "seconds",
        "padded",
        "http-date",
        "date-in-the-past",
        "absent",
        "empty",
        "garbage",
        "inf",
        "nan",
        "negative",
        "exponent",
    ],
)
def test_retry_after(value: str | None, seconds: float | None) -> None:
    assert retry_after_seconds(value, NOW) == seconds
