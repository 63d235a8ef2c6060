"""Time as an injectable dependency: ``--now`` and tests replace the system clock.

All times are timezone-aware UTC ``datetime`` objects; in the database they are ISO-8601 text.
"""

from __future__ import annotations

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
