"""Which snapshot a link shows: InternetArchiveBot's rule for failing and dead links."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from linkwatch.archive.choose import (
    REJECTED,
    Snapshot,
    access_instant,
    choose_snapshot,
    iabot_choice,
    is_good_capture,
)


def snap(ts: str, status: int | None = 200, source: str = "cdx", verified: int = 1) -> Snapshot:
    return Snapshot(
        ts, f"https://web.archive.org/web/{ts}/http://x.test/", status, source, verified
    )


SNAPS = [
    snap("20190101000000"),
    snap("20200301000000"),
    snap("20200601000000", 404),
    snap("20200701000000", verified=REJECTED),
    snap("20210101000000"),
]
AT = datetime(2020, 8, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("access", "expected"),
    [
        (AT, "20200301000000"),
        (datetime(2020, 3, 1, tzinfo=UTC), "20200301000000"),
        (datetime(2018, 1, 1, tzinfo=UTC), "20190101000000"),
        (datetime(2030, 1, 1, tzinfo=UTC), "20210101000000"),
        (None, "20210101000000"),
    ],
    ids=["last-good-before", "exactly-at", "first-after", "all-before", "no-date-newest"],
)
def test_iabot_rule(access, expected) -> None:
    chosen = iabot_choice(SNAPS, access)
    assert chosen is not None and chosen.timestamp == expected


@pytest.mark.parametrize("state", ["failing", "dead"])
def test_failing_and_dead_links_use_the_rule(state) -> None:
    chosen = choose_snapshot(SNAPS, state=state, access=AT)
    assert chosen is not None and chosen.timestamp == "20200301000000"


@pytest.mark.parametrize("state", ["new", "alive"])
def test_live_links_show_the_newest_good_capture(state) -> None:
    chosen = choose_snapshot(SNAPS, state=state, access=AT)
    assert chosen is not None and chosen.timestamp == "20210101000000"


def test_a_citation_copy_wins() -> None:
    cited = snap("20150101000000", None, "citation", 0)
    assert choose_snapshot([*SNAPS, cited], state="dead", access=AT) == cited


def test_nothing_good_means_no_choice() -> None:
    bad = [snap("20200101000000", 404), snap("20200102000000", verified=REJECTED)]
    assert choose_snapshot(bad, state="dead", access=AT) is None


def test_the_earliest_access_date_counts_and_garbage_is_ignored() -> None:
    dates = ["2021-05-01", "not a date", None, "2020-02-03T04:05:06Z"]
    assert access_instant(dates) == datetime(2020, 2, 3, 4, 5, 6, tzinfo=UTC)


@pytest.mark.parametrize(
    ("status", "outcome", "good"),
    [
        (200, "ok", True),
        (200, None, True),
        (200, "soft404", False),
        (200, "blocked", True),
        (403, "blocked", False),
        (404, "ok", False),
        (None, "ok", False),
        (302, "ok", False),
    ],
    ids=[
        "ok",
        "never-checked",
        "soft404",
        "blocked-for-us-2xx-for-the-archive",
        "block-page",
        "error-page",
        "unknown",
        "redirect",
    ],
)
def test_a_fresh_capture_is_good_only_for_a_real_page(status, outcome, good) -> None:
    assert is_good_capture(status, outcome) is good
