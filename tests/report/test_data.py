"""What the report says: the view model built from the store."""

from __future__ import annotations

import itertools
from dataclasses import replace
from typing import Any

from linkwatch.clock import iso
from linkwatch.config import Settings
from linkwatch.jobs.report import generate_report, load_model
from linkwatch.report.views import ReportModel
from tests.report.example import ReportDB, days_ago, populate_example

WB = "https://web.archive.org/web/20200101000000/"
_DOC_NUMBERS = itertools.count(1)


def _model(rdb: ReportDB, settings: Settings) -> ReportModel:
    return load_model(settings, rdb.store, clock=rdb.clock)


def _cited(rdb: ReportDB, url: str, state: str = "alive", **columns: Any) -> int:
    doc = rdb.document(f"doc-{next(_DOC_NUMBERS)}.md")
    link = rdb.link(url, state, **columns)
    rdb.cite(doc, link, 3, "anchor")
    return link


def test_dead_links_come_before_failing_ones(rdb: ReportDB, settings: Settings) -> None:
    _cited(rdb, "https://a.example/", "failing", failing_since="2025-12-01T00:00:00+00:00")
    _cited(rdb, "https://b.example/", "dead", failing_since="2025-12-20T00:00:00+00:00")
    _cited(rdb, "https://c.example/", "alive")
    assert [lk.url for lk in _model(rdb, settings).problems] == [
        "https://b.example/",
        "https://a.example/",
    ]


def test_every_citing_document_and_line_is_attached(rdb: ReportDB, settings: Settings) -> None:
    link = rdb.link("https://a.example/", "dead")
    for path, line in (("one.md", 4), ("two.md", 9)):
        rdb.cite(rdb.document(path), link, line, f"cited in {path}")
    cites = _model(rdb, settings).problems[0].citations
    assert [(c.document, c.line, c.text) for c in cites] == [
        ("one.md", 4, "cited in one.md"),
        ("two.md", 9, "cited in two.md"),
    ]


def test_ended_citations_and_removed_documents_are_left_out(
    rdb: ReportDB, settings: Settings
) -> None:
    link = rdb.link("https://a.example/", "dead")
    rdb.cite(rdb.document("kept.md"), link, 1)
    rdb.cite(rdb.document("gone.md", removed=True), link, 2)
    rdb.cite(rdb.document("edited.md"), link, 3, ended=True)
    uncited = rdb.link("https://nobody.example/", "dead")
    rdb.cite(rdb.document("old.md"), uncited, 1, ended=True)
    model = _model(rdb, settings)
    assert [lk.url for lk in model.links] == ["https://a.example/"]
    assert [c.document for c in model.links[0].citations] == ["kept.md"]
    assert [d.path for d in model.documents] == ["kept.md"]


def test_newly_dead_and_recovered_are_since_the_previous_report(
    rdb: ReportDB, settings: Settings
) -> None:
    old_dead = _cited(rdb, "https://old.example/", "dead")
    rdb.change(old_dead, days_ago(rdb.clock, 5), "failing", "dead")
    generate_report(settings, rdb.store, clock=rdb.clock)
    rdb.clock.advance(days=1)
    new_dead = _cited(rdb, "https://new.example/", "dead")
    rdb.change(new_dead, rdb.clock(), "failing", "dead")
    back = _cited(rdb, "https://back.example/", "alive")
    rdb.change(back, rdb.clock(), "dead", "alive")
    flapped = _cited(rdb, "https://flap.example/", "alive")
    rdb.change(flapped, rdb.clock(), "failing", "dead")
    rdb.change(flapped, rdb.clock(), "dead", "alive")
    summary = _model(rdb, settings).summary
    assert [lk.url for lk in summary.newly_dead] == ["https://new.example/"]
    assert sorted(lk.url for lk in summary.newly_recovered) == [
        "https://back.example/",
        "https://flap.example/",
    ]
    assert summary.previous_at == iso(days_ago(rdb.clock, 1))


def test_checks_done_since_the_previous_report(rdb: ReportDB, settings: Settings) -> None:
    link = _cited(rdb, "https://a.example/")
    rdb.check(link, days_ago(rdb.clock, 2), "ok", 200)
    generate_report(settings, rdb.store, clock=rdb.clock)
    rdb.clock.advance(hours=6)
    rdb.check(link, days_ago(rdb.clock, 0.1), "ok", 200)
    rdb.check(link, days_ago(rdb.clock, 0.05), "timeout")
    summary = _model(rdb, settings).summary
    assert (summary.checks_since, summary.checks_total) == (2, 3)


def test_snapshot_is_the_chosen_wayback_copy(rdb: ReportDB, settings: Settings) -> None:
    _cited(
        rdb,
        "https://a.example/",
        "dead",
        snapshot_url=WB + "https://a.example/",
        snapshot_timestamp="20200101000000",
    )
    assert _model(rdb, settings).links[0].snapshot == {
        "url": WB + "https://a.example/",
        "timestamp": "20200101000000",
        "archive": "Wayback Machine",
    }


def test_an_archived_copy_a_citation_used_counts_as_snapshot(
    rdb: ReportDB, settings: Settings
) -> None:
    _cited(rdb, "https://a.example/", "dead", archived_copy=WB + "https://a.example/")
    assert _model(rdb, settings).links[0].snapshot == {
        "url": WB + "https://a.example/",
        "timestamp": "20200101000000",
        "archive": "Wayback Machine",
    }


def test_a_copy_in_another_archive_is_a_snapshot_with_its_archive_name(
    rdb: ReportDB, settings: Settings
) -> None:
    copy = "https://archive.ph/20190101000000/https://a.example/"
    _cited(
        rdb,
        "https://a.example/",
        "dead",
        snapshot_url=copy,
        snapshot_timestamp="20190101000000",
        snapshot_archive="archive.today",
    )
    assert _model(rdb, settings).links[0].snapshot == {
        "url": copy,
        "timestamp": "20190101000000",
        "archive": "archive.today",
    }


def test_a_cited_copy_in_another_archive_counts_with_its_archive_name(
    rdb: ReportDB, settings: Settings
) -> None:
    copy = "https://archive.ph/20190101000000/https://a.example/"
    _cited(rdb, "https://a.example/", "dead", archived_copy=copy)
    assert _model(rdb, settings).links[0].snapshot == {
        "url": copy,
        "timestamp": "20190101000000",
        "archive": "archive.today",
    }


def test_a_non_wayback_snapshot_is_no_snapshot(rdb: ReportDB, settings: Settings) -> None:
    _cited(rdb, "https://a.example/", "dead", snapshot_url="https://evil.example/20200101000000")
    model = _model(rdb, settings)
    assert model.links[0].snapshot is None
    assert [lk.url for lk in model.no_snapshot] == ["https://a.example/"]


def test_archive_coverage_leaves_invalid_links_out(rdb: ReportDB, settings: Settings) -> None:
    _cited(rdb, "https://a.example/", snapshot_url=WB + "https://a.example/")
    _cited(rdb, "https://b.example/")
    _cited(rdb, "mailto:x@example.org", "invalid", invalid_reason="scheme 'mailto'")
    summary = _model(rdb, settings).summary
    assert (summary.with_snapshot, summary.archivable, summary.coverage) == (1, 2, 50.0)


def test_redirected_links_carry_their_new_address(rdb: ReportDB, settings: Settings) -> None:
    _cited(
        rdb,
        "https://a.example/old",
        last_outcome="redirected",
        redirect_permanent=1,
        last_final_url="https://a.example/new",
    )
    _cited(rdb, "https://b.example/", last_outcome="ok")
    [moved] = _model(rdb, settings).redirected
    assert (moved.url, moved.final_url, moved.permanent_redirect) == (
        "https://a.example/old",
        "https://a.example/new",
        True,
    )


def test_evidence_timeline_is_the_last_outcomes_oldest_first(
    rdb: ReportDB, settings: Settings
) -> None:
    link = _cited(rdb, "https://a.example/", "failing")
    outcomes = ["ok", "ok", "timeout", "broken", "server_error", "broken", "broken", "broken"]
    for i, outcome in enumerate(outcomes):
        rdb.check(link, days_ago(rdb.clock, 10 - i), outcome)
    timeline = _model(rdb, settings).problems[0].timeline
    assert [c.outcome for c in timeline] == outcomes[-settings.report.timeline :]


def test_domains_rank_the_sites_that_rot_most_first(rdb: ReportDB, settings: Settings) -> None:
    _cited(rdb, "https://rot.example/1", "dead")
    _cited(rdb, "https://rot.example/2", "failing")
    _cited(rdb, "https://fine.example/1", "alive")
    _cited(rdb, "https://blocks.example/1", "unverifiable", last_outcome="blocked")
    domains = _model(rdb, settings).domains
    assert [(d.host, d.dead, d.failing, d.blocked) for d in domains] == [
        ("rot.example", 1, 1, 0),
        ("blocks.example", 0, 0, 1),
        ("fine.example", 0, 0, 0),
    ]
    assert domains[0].rot == 100.0


def test_documents_show_their_citation_health(rdb: ReportDB, settings: Settings) -> None:
    doc = rdb.document("article.md")
    for i, state in enumerate(["dead", "alive", "alive", "failing"]):
        rdb.cite(doc, rdb.link(f"https://x.example/{i}", state), i + 1)
    [view] = _model(rdb, settings).documents
    assert (view.states["dead"], view.states["failing"], view.problems, view.health) == (
        1,
        1,
        2,
        50.0,
    )


def test_trend_counts_checks_per_day_by_kind(rdb: ReportDB, settings: Settings) -> None:
    link = _cited(rdb, "https://a.example/")
    rdb.check(link, days_ago(rdb.clock, 1.9), "ok")
    rdb.check(link, days_ago(rdb.clock, 1.8), "broken")
    rdb.check(link, days_ago(rdb.clock, 1.7), "blocked")
    rdb.check(link, days_ago(rdb.clock, 1.6), "redirected")
    trend = _model(rdb, settings).trend
    day = next(d for d in trend if d.total)
    assert (day.day, day.ok, day.warn, day.fail) == ("2025-12-30", 2, 1, 1)
    assert trend[-1].day == "2026-01-01"


def test_failures_during_a_network_outage_are_drawn_as_inconclusive(
    rdb: ReportDB, settings: Settings
) -> None:
    link = _cited(rdb, "https://a.example/")
    rdb.check(link, days_ago(rdb.clock, 1.9), "broken")
    rdb.check(link, days_ago(rdb.clock, 1.8), "network_error", network_down=True)
    rdb.check(link, days_ago(rdb.clock, 1.7), "broken", network_down=True)
    day = next(d for d in _model(rdb, settings).trend if d.total)
    assert (day.ok, day.warn, day.fail) == (0, 2, 1)


def test_trend_starts_at_the_first_check_but_shows_two_weeks(
    rdb: ReportDB, settings: Settings
) -> None:
    link = _cited(rdb, "https://a.example/")
    rdb.check(link, days_ago(rdb.clock, 40), "ok")
    rdb.check(link, days_ago(rdb.clock, 15), "ok")
    assert len(_model(rdb, settings).trend) == 41
    assert (
        len(_model(rdb, replace(settings, report=replace(settings.report, trend_days=20))).trend)
        == 16
    )


def test_trend_of_a_new_installation_shows_two_weeks(rdb: ReportDB, settings: Settings) -> None:
    assert len(_model(rdb, settings).trend) == 14


def test_captures_need_keys_without_credentials(rdb: ReportDB, settings: Settings) -> None:
    assert _model(rdb, settings).summary.captures_need_keys is True


def test_archive_queue_and_budget_figures(rdb: ReportDB, settings: Settings) -> None:
    populate_example(rdb)
    summary = _model(rdb, settings).summary
    assert summary.queue == {"failed": 1, "pending": 1}
    assert summary.archive_meta == {
        "free capture slots": "4",
        "captures in progress": "1",
        "captures today": "37 of 100000",
        "as of": "2025-12-31T21:36:00+00:00",
    }
    assert summary.queue_errors[0].last_error.startswith("job failed")


def test_a_document_lists_the_citations_to_act_on(rdb: ReportDB, settings: Settings) -> None:
    doc = rdb.document("article.md")
    states = ["dead", "alive", "failing", "unverifiable", "invalid", "new"]
    for i, state in enumerate(states):
        rdb.cite(doc, rdb.link(f"https://x.example/{i}", state), i + 1)
    rdb.cite(
        doc,
        rdb.link(
            "https://x.example/moved",
            "alive",
            last_outcome="redirected",
            last_final_url="https://x.example/new",
        ),
        9,
    )
    [view] = _model(rdb, settings).documents
    assert [c.line for c, _link in view.attention] == [1, 3, 4, 5, 9]


def test_unknown_and_non_json_archive_figures_are_shown_as_they_are(
    rdb: ReportDB, settings: Settings
) -> None:
    rdb.store.set_meta("archive.backoff_until", "2026-01-01T01:00:00+00:00")
    rdb.store.set_meta("archive.something_new", "{not json")
    rdb.store.set_meta("archive.cleared", None)
    assert _model(rdb, settings).summary.archive_meta == {
        "paused (rate limited) until": "2026-01-01T01:00:00+00:00",
        "something_new": "{not json",
    }


def test_newly_dead_and_recovered_compare_with_the_state_at_the_previous_report(
    rdb: ReportDB, settings: Settings
) -> None:
    still_dead = _cited(rdb, "https://still-dead.example/", "dead")
    blip = _cited(rdb, "https://blip.example/", "alive")
    rdb.change(still_dead, days_ago(rdb.clock, 5), "failing", "dead")
    generate_report(settings, rdb.store, clock=rdb.clock)
    rdb.clock.advance(days=3)
    flaps = ((2.5, "dead", "alive"), (2, "alive", "failing"), (1, "failing", "dead"))
    for at, before, after in flaps:  # dead at the previous report, and dead again now
        rdb.change(still_dead, days_ago(rdb.clock, at), before, after)
    rdb.change(blip, days_ago(rdb.clock, 2), "alive", "failing")  # never reported failing
    rdb.change(blip, days_ago(rdb.clock, 1), "failing", "alive")
    summary = _model(rdb, settings).summary
    assert (list(summary.newly_dead), list(summary.newly_recovered)) == ([], [])


def test_links_checked_but_still_new_say_why_instead_of_new(
    rdb: ReportDB, settings: Settings
) -> None:
    """A link refused by the address policy is "not checked: <why>" from the first run;
    one that only got inconclusive answers is "inconclusive", never "new" (which reads as
    "not checked yet")."""
    _cited(
        rdb,
        "http://10.0.1.1/intranet",
        "new",
        last_outcome="skipped_policy",
        last_error="address 10.0.1.1 is private, not public",
    )
    _cited(
        rdb,
        "https://blocks.example/",
        "new",
        last_outcome="blocked",
        last_status=403,
        last_error="HTTP 403",
    )
    _cited(rdb, "https://fresh.example/", "new")
    model = _model(rdb, settings)
    views = {lk.url: lk for lk in model.links}
    private = views["http://10.0.1.1/intranet"]
    assert private.shown_state == "not checked"
    assert private.reason == "not checked: address 10.0.1.1 is private, not public"
    blocked = views["https://blocks.example/"]
    assert blocked.shown_state == "inconclusive"
    assert blocked.reason == "inconclusive: blocked us (HTTP 403)"
    assert views["https://fresh.example/"].reason == "not checked yet"
    listed = {lk.url for lk in model.unverifiable}
    assert listed == {"http://10.0.1.1/intranet", "https://blocks.example/"}


def test_the_why_text_never_repeats_the_status(rdb: ReportDB, settings: Settings) -> None:
    _cited(
        rdb,
        "https://gone.example/",
        "failing",
        last_outcome="broken",
        last_status=404,
        last_error="HTTP 404",
    )
    _cited(
        rdb,
        "https://cf.example/",
        "unverifiable",
        last_outcome="blocked",
        last_status=403,
        last_error="HTTP 403: bot challenge (cf-mitigated)",
    )
    views = {lk.url: lk for lk in _model(rdb, settings).links}
    assert views["https://gone.example/"].reason == "not found or gone (HTTP 404)"
    assert views["https://cf.example/"].reason == (
        "blocked us (HTTP 403): bot challenge (cf-mitigated)"
    )
