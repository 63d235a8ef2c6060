"""Time as an injectable dependency: ``--now`` and tests replace the system clock.

All times are timezone-aware UTC ``datetime`` objects; in the database they are ISO-8601 text.
"""

from __future__ import annotations

import email.utils
from collections.abc import Callable
from datetime import UTC, datetime

Clock = Callable[[], datetime]


def system_clock() -> datetime:
    return datetime.now(UTC)


def fixed_clock(at: datetime) -> Clock:
    """A clock frozen at ``at`` (used by ``--now``)."""
    moment = at if at.tzinfo else at.replace(tzinfo=UTC)
    return lambda: moment


def parse_instant(text: str) -> datetime:
    """Parse ISO-8601 (``2026-01-02``, ``2026-01-02T03:04:05Z``); naive means UTC."""
    value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def iso(at: datetime) -> str:
    """The database form of an instant: UTC ISO-8601 with seconds."""
    return at.astimezone(UTC).isoformat(timespec="seconds")


def retry_after_seconds(value: str | None, now: datetime) -> float | None:
    """An HTTP ``Retry-After`` (delta-seconds or HTTP-date) as seconds from ``now``.

    ``None`` when absent or malformed (including ``inf``/``nan`` and negative numbers).
    """
    if not value:
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())
