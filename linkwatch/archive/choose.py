"""Which snapshot to show for a link. Pure functions, no I/O.

For a failing or dead link, InternetArchiveBot's rule: the **last 2xx capture at or
before the citation's access date**, else the **first 2xx capture after it**, across every
archive that holds one (the Wayback Machine through CDX, others through Memento). The access
date is the citing document's ``date``/``access_date`` from front matter, else when the
citation was first seen; a link cited several times uses its earliest access date (the
page as it was when it was first cited).

For a live link the newest good capture is the useful one. A snapshot is *good* when the
archive recorded a 2xx status for it and we did not reject it (a capture made while our
own check saw a soft 404 or a block page is rejected), or when the citation itself
pointed at an archived copy.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime

from linkwatch.clock import parse_instant
from linkwatch.model import SNAPSHOT_REJECTED, LinkState, Outcome, Snapshot

REJECTED = SNAPSHOT_REJECTED  # snapshots.verified: a capture we know is not a good snapshot
# A 2xx capture is not the cited page when our check saw a page that says "not found".
# ``blocked`` is not here: a site that refuses linkwatch (a bot challenge, a 403) often
# lets the archive in, and then the archive's own 2xx is the proof; a block page served to
# the archive comes back as 403/429 and fails the 2xx test anyway.
BAD_PAGE_OUTCOMES = frozenset({Outcome.SOFT404.value})
GONE_OUTCOMES = frozenset({Outcome.BROKEN.value, Outcome.SOFT404.value})


def wayback_timestamp(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y%m%d%H%M%S")


def access_instant(dates: Iterable[str | None]) -> datetime | None:
    """The earliest parseable date among a link's citation access dates."""
    found: list[datetime] = []
    for text in dates:
        if not text:
            continue
        try:
            found.append(parse_instant(str(text)))
        except ValueError:
            continue
    return min(found) if found else None


def iabot_choice(candidates: Sequence[Snapshot], access: datetime | None) -> Snapshot | None:
    """Last good snapshot at or before ``access``, else the first good one after it."""
    good = sorted((c for c in candidates if c.is_good and c.timestamp), key=lambda c: c.timestamp)
    if not good:
        return None
    if access is None:
        return good[-1]
    cutoff = wayback_timestamp(access)
    before = [c for c in good if c.timestamp <= cutoff]
    return before[-1] if before else good[0]


def newest_good(candidates: Sequence[Snapshot]) -> Snapshot | None:
    good = [c for c in candidates if c.is_good]
    return max(good, key=lambda c: c.timestamp) if good else None


def choose_snapshot(
    candidates: Sequence[Snapshot], *, state: str, access: datetime | None
) -> Snapshot | None:
    """The snapshot to show for a link in ``state`` (a ``LinkState`` value)."""
    citation = [c for c in candidates if c.source == "citation" and c.is_good]
    if citation:
        return citation[0]
    if state in (LinkState.FAILING.value, LinkState.DEAD.value):
        return iabot_choice(candidates, access)
    return newest_good(candidates)


def is_good_capture(status: int | None, last_outcome: str | None) -> bool:
    """A fresh capture is good when the archive saw 2xx and our last check saw a real page."""
    if status is None or not 200 <= status < 300:
        return False
    return last_outcome not in BAD_PAGE_OUTCOMES
