"""The trend shows links by state per day, not only checks per day (issue 14)."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from linkwatch.config import Settings
from linkwatch.jobs.report import generate_report
from tests.report.example import ReportDB


def _trend(settings: Settings, rdb: ReportDB) -> dict[str, dict[str, int]]:
    generate_report(settings, rdb.store, clock=rdb.clock)
    report = json.loads((settings.report_dir / "report.json").read_text())
    return {d["day"]: d["states"] for d in report["trend"]}


def test_each_day_counts_links_by_the_state_they_ended_it_in(
    rdb: ReportDB, settings: Settings, clock: Any
) -> None:
    day0 = clock()
    a = rdb.link("https://a.example/", state="dead", first_seen_at="2026-01-01T08:00:00+00:00")
    rdb.change(a, day0 + timedelta(days=1), "new", "alive")
    rdb.change(a, day0 + timedelta(days=3), "alive", "failing")
    rdb.change(a, day0 + timedelta(days=5), "failing", "dead")
    b = rdb.link("https://b.example/", first_seen_at="2026-01-03T08:00:00+00:00")
    rdb.change(b, day0 + timedelta(days=2, hours=9), "new", "alive")
    rdb.link("bad:", state="invalid", invalid_reason="not a URL")  # never drawn
    clock.advance(days=6)

    states = _trend(settings, rdb)

    assert states["2026-01-01"] == {"new": 1}
    assert states["2026-01-02"] == {"alive": 1}
    assert states["2026-01-03"] == {"alive": 2}
    assert states["2026-01-04"] == {"alive": 1, "failing": 1}
    assert states["2026-01-06"] == {"alive": 1, "dead": 1}
    assert states["2026-01-07"] == {"alive": 1, "dead": 1}


def test_changes_before_the_window_set_its_first_day(
    rdb: ReportDB, settings: Settings, clock: Any
) -> None:
    day0 = clock()
    a = rdb.link("https://a.example/", state="dead", first_seen_at="2026-01-01T08:00:00+00:00")
    rdb.change(a, day0 + timedelta(days=1), "new", "alive")
    rdb.change(a, day0 + timedelta(days=2), "alive", "dead")
    clock.advance(days=60)  # the 30-day window starts long after both changes

    states = _trend(settings, rdb)

    assert states and all(s == {"dead": 1} for s in states.values())


def test_the_index_draws_the_states_chart_with_its_numbers(
    rdb: ReportDB, settings: Settings, clock: Any
) -> None:
    a = rdb.link("https://a.example/", first_seen_at="2026-01-01T08:00:00+00:00")
    rdb.change(a, clock() + timedelta(hours=9), "new", "alive")
    generate_report(settings, rdb.store, clock=rdb.clock)
    page = (settings.report_dir / "index.html").read_text()
    assert 'aria-label="Links per day by state"' in page
    assert "<title>2026-01-01: 1 alive</title>" in page
