"""The archive queue against the fake Wayback Machine: the issue's acceptance criteria."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from linkwatch.clock import iso, parse_instant
from linkwatch.config import ArchiveSettings
from linkwatch.errors import ArchiveUnavailable
from linkwatch.jobs.archive import archive_status, work_archive_queue
from linkwatch.store import Store, open_store
from tests.archive.conftest import add_link, fast_settings
from tests.kit.rows import update


def run(settings: Any, store: Store, clock: Any, **kw: Any) -> tuple[Any, list[dict[str, Any]]]:
    results: list[dict[str, Any]] = []
    summary = work_archive_queue(settings, store, clock=clock, on_result=results.append, **kw)
    return summary, results


def queue_row(store: Store, url: str) -> dict[str, Any]:
    return store.query(
        "SELECT q.* FROM archive_queue q JOIN links l ON l.id = q.link_id WHERE l.url = ?", [url]
    )[0]


def test_each_new_live_link_is_captured_exactly_once(wayback, store, clock) -> None:
    urls = [f"http://site{i}.test/story" for i in range(6)]
    for url in urls:
        add_link(store, url, state="alive", last_outcome="ok")
    settings = fast_settings(wayback)

    summary, results = run(settings, store, clock)
    clock.advance(hours=2)
    again, _ = run(settings, store, clock)

    assert summary.captured == 6
    assert {r["action"] for r in results} == {"captured"}
    assert all(wayback.state.new_captures[u] == 1 for u in urls)
    assert again.due == 0 and len(wayback.requests_of("save")) == 6
    row = store.query(
        "SELECT snapshot_url, snapshot_timestamp FROM links WHERE url = ?", [urls[0]]
    )[0]
    assert row["snapshot_url"] == f"https://web.archive.org/web/20260101000000/{urls[0]}"
    assert row["snapshot_timestamp"] == "20260101000000"


def test_a_link_with_a_recent_snapshot_is_not_captured_again(wayback, store, clock) -> None:
    url = "http://fresh.test/page"
    wayback.add_capture(url, "20251220120000")  # 12 days old, inside the 30 d window
    add_link(store, url, state="alive", last_outcome="ok")

    _, results = run(fast_settings(wayback), store, clock)

    assert results[0]["action"] == "already_archived"
    assert results[0]["snapshot_timestamp"] == "20251220120000"
    assert wayback.requests_of("save") == []


def test_an_old_snapshot_outside_the_window_gets_a_new_capture(wayback, store, clock) -> None:
    url = "http://stale.test/page"
    wayback.add_capture(url, "20240101000000")
    add_link(store, url, state="alive", last_outcome="ok")

    _, results = run(fast_settings(wayback), store, clock)

    assert results[0]["action"] == "captured"
    assert wayback.state.new_captures[url] == 1


def test_the_archive_refuses_a_duplicate_inside_the_window(wayback, store, clock) -> None:
    """The availability API can miss a capture; if_not_archived_within still protects."""
    url = "http://missed.test/page"
    wayback.add_capture(url, "20251231000000")
    wayback.faults.availability_replies = ["empty"]
    add_link(store, url, state="alive", last_outcome="ok")

    _, results = run(fast_settings(wayback), store, clock)

    assert results[0]["action"] == "already_archived"
    assert wayback.state.new_captures[url] == 0
    assert wayback.requests_of("save")[0]["options"]["if_not_archived_within"] == "30d"


def test_a_restart_mid_queue_resumes_without_loss_or_duplicates(wayback, tmp_path, clock) -> None:
    urls = [f"http://slow{i}.test/" for i in range(4)]
    path = tmp_path / "state.db"
    first = open_store(path, clock=clock)
    for url in urls:
        add_link(first, url, state="alive", last_outcome="ok")
    wayback.faults.pending_polls = 10_000  # jobs stay pending until the "restart"
    settings = fast_settings(wayback, poll_timeout_s=30.0, concurrent_captures=4)
    stop = threading.Event()
    worker = threading.Thread(
        target=work_archive_queue, args=(settings, first), kwargs={"clock": clock, "stop": stop}
    )
    worker.start()

    def job_ids_stored() -> int:  # what a restart would find
        with open_store(path, clock=clock) as peek:
            return int(peek.scalar("SELECT count(job_id) FROM archive_queue") or 0)

    deadline = time.monotonic() + 10
    while job_ids_stored() < 4 and time.monotonic() < deadline:
        time.sleep(0.02)
    stop.set()
    stopping = time.monotonic()
    worker.join(10)
    stop_took = time.monotonic() - stopping
    submitted = first.query("SELECT status, job_id FROM archive_queue")
    first.close()

    wayback.faults.pending_polls = 0
    second = open_store(path, clock=clock)  # a new process would open a new store
    summary, results = run(settings, second, clock)
    second.close()

    assert not worker.is_alive() and stop_took < 1.5
    assert {r["status"] for r in submitted} == {"submitted"}
    assert all(r["job_id"].startswith("spn2-") for r in submitted)
    assert sorted(r["url"] for r in results) == urls
    assert {r["action"] for r in results} == {"captured"}
    assert len(wayback.requests_of("save")) == 4
    assert all(wayback.state.new_captures[u] == 1 for u in urls)


@pytest.mark.parametrize("reply", ["429", "429:1"], ids=["no-retry-after", "retry-after"])
def test_429_slows_the_whole_archiver_without_losing_work(wayback, store, clock, reply) -> None:
    urls = [f"http://busy{i}.test/" for i in range(5)]
    for url in urls:
        add_link(store, url, state="alive", last_outcome="ok")
    wayback.faults.save_replies = [reply]
    settings = fast_settings(wayback, backoff_429_s=1.0)

    summary, results = run(settings, store, clock)

    t429 = next(r for r in wayback.requests if r["kind"] == "save")["t"]
    # requests already on the wire may still arrive (late, on a loaded machine: half a
    # second is allowed them); after that, silence until the back-off has passed, which
    # the client counts from the 429's arrival, later than t429
    during = [r for r in wayback.requests if t429 + 0.5 < r["t"] < t429 + 1.0]
    assert during == []
    assert any(r["t"] >= t429 + 1.0 for r in wayback.requests)
    assert summary.backoffs >= 1
    assert sorted(r["url"] for r in results) == urls
    assert {r["action"] for r in results} == {"captured"}
    assert all(wayback.state.new_captures[u] == 1 for u in urls)


def test_a_long_retry_after_ends_the_run_and_the_queue_keeps_the_work(
    wayback, store, clock
) -> None:
    url = "http://later.test/"
    add_link(store, url, state="alive", last_outcome="ok")
    wayback.faults.save_replies = ["429:3600"]
    settings = fast_settings(wayback)

    started = time.monotonic()
    summary, _ = run(settings, store, clock)

    assert time.monotonic() - started < 5
    assert summary.backoff_until == "2026-01-01T01:00:00+00:00"
    assert queue_row(store, url)["status"] == "pending"
    assert archive_status(settings, store)["budget"]["backoff_until"] == summary.backoff_until


def test_permanent_errors_are_recorded_and_not_retried(wayback, store, clock) -> None:
    url = "http://tracker.test/pixel"
    add_link(store, url, state="alive", last_outcome="ok")
    wayback.faults.job_outcomes[url] = "error:blocked-url"
    settings = fast_settings(wayback)

    _, results = run(settings, store, clock)
    clock.advance(days=30)
    later, _ = run(settings, store, clock)

    row = queue_row(store, url)
    assert results[0]["action"] == "failed"
    assert row["status"] == "failed" and "error:blocked-url" in row["last_error"]
    assert later.due == 0 and len(wayback.requests_of("save")) == 1


def test_refusals_at_submit_time_are_permanent_too(wayback, store, clock) -> None:
    url = "http://bad.test/"
    add_link(store, url, state="alive", last_outcome="ok")
    wayback.faults.url_save_replies[url] = ["error:invalid-url-syntax"]

    _, results = run(fast_settings(wayback), store, clock)

    assert results[0]["action"] == "failed"
    assert "error:invalid-url-syntax" in results[0]["error"]


def test_transient_errors_stop_after_max_attempts(wayback, store, clock) -> None:
    url = "http://flaky.test/"
    add_link(store, url, state="alive", last_outcome="ok")
    wayback.faults.job_outcomes[url] = "error:browsing-timeout"
    settings = fast_settings(wayback, max_attempts=3, retry_backoff_s=60.0)

    actions = []
    for _ in range(5):
        _, results = run(settings, store, clock)
        actions += [r["action"] for r in results]
        clock.advance(days=1)

    row = queue_row(store, url)
    assert actions == ["queued", "queued", "failed"]
    assert row["attempts"] == 3 and row["status"] == "failed"
    assert "gave up after 3 attempts" in row["last_error"]
    assert len(wayback.requests_of("save")) == 3


def test_a_session_limit_reply_waits_and_keeps_the_item(wayback, store, clock) -> None:
    url = "http://sessions.test/"
    add_link(store, url, state="alive", last_outcome="ok")
    wayback.faults.save_replies = ["session-limit"]

    _, results = run(fast_settings(wayback, rate_window_s=0.4), store, clock)

    assert results[0]["action"] == "captured"
    assert len(wayback.requests_of("user")) >= 2  # at start, and after the refusal
    assert queue_row(store, url)["attempts"] == 1


# -- verification --------------------------------------------------------------------------
def test_a_failure_that_archived_anyway_counts_as_captured(wayback, store, clock) -> None:
    url = "http://odd.test/"
    add_link(store, url, state="alive", last_outcome="ok")
    wayback.faults.job_outcomes[url] = "fail-but-exists"

    _, results = run(fast_settings(wayback), store, clock)

    assert results[0]["action"] == "captured"
    assert results[0]["snapshot_timestamp"] == "20260101000000"


def test_success_for_an_error_page_is_not_a_good_snapshot(wayback, store, clock) -> None:
    url = "http://gone-for-ia.test/"
    add_link(store, url, state="alive", last_outcome="ok")
    wayback.faults.job_outcomes[url] = "success-404"

    _, results = run(fast_settings(wayback), store, clock)

    snap = store.query("SELECT status FROM snapshots")[0]
    assert results[0]["action"] == "queued"
    assert results[0]["snapshot_url"] is None and "HTTP 404" in results[0]["error"]
    assert snap["status"] == 404


def test_a_capture_of_a_soft_404_is_rejected(wayback, store, clock) -> None:
    url = "http://soft.test/missing"
    link_id = add_link(store, url, state="alive", last_outcome="ok")
    wayback.faults.pending_polls = 10**6  # the job stays pending until the check below

    def check_flips_to_soft404() -> None:
        # a check beside the run sees a soft 404 once the capture is submitted; only then
        # does the archive finish the job (no race: the poll answers "pending" till then)
        deadline = time.monotonic() + 5
        while not wayback.requests_of("save") and time.monotonic() < deadline:
            time.sleep(0.005)
        with store.write() as db:
            update(db, "links", link_id, {"last_outcome": "soft404"})
        wayback.faults.pending_polls = 0

    worker_store_update = threading.Thread(target=check_flips_to_soft404)
    worker_store_update.start()
    _, results = run(fast_settings(wayback, poll_interval_s=0.05), store, clock)
    worker_store_update.join()

    snap = store.query("SELECT verified FROM snapshots")[0]
    assert results[0]["snapshot_url"] is None
    assert snap["verified"] == -1


def test_no_capture_is_spent_on_a_link_whose_last_check_saw_a_soft_404(
    wayback, store, clock
) -> None:
    add_link(store, "http://soft.test/x", state="alive", last_outcome="soft404")

    _, results = run(fast_settings(wayback), store, clock)

    assert results[0]["action"] == "skipped" and "soft404" in results[0]["error"]
    assert wayback.requests_of("save") == []


def test_a_site_that_blocks_linkwatch_is_still_captured_by_the_archive(
    wayback, store, clock
) -> None:
    url = "http://cloudflared.test/story"
    add_link(store, url, state="new", last_outcome="blocked")

    _, results = run(fast_settings(wayback), store, clock)

    assert results[0]["action"] == "captured"
    assert results[0]["snapshot_url"] == f"https://web.archive.org/web/20260101000000/{url}"
    assert wayback.state.new_captures[url] == 1


def test_a_capture_not_yet_in_cdx_is_verified_later_without_a_new_capture(
    wayback, store, clock
) -> None:
    url = "http://lagging.test/"
    add_link(store, url, state="alive", last_outcome="ok")
    wayback.faults.job_outcomes[url] = "lag"
    settings = fast_settings(wayback)

    _, first = run(settings, store, clock)
    for cap in wayback.state.captures_of(url, visible_only=False):
        cap.visible = True  # the index caught up
    clock.advance(hours=2)
    _, second = run(settings, store, clock)

    assert first[0]["action"] == "queued"
    assert second[0]["action"] == "captured"
    assert wayback.state.new_captures[url] == 1


def test_a_job_pending_forever_is_given_up_and_decided_by_cdx(wayback, store, clock) -> None:
    url = "http://expired.test/"
    add_link(store, url, state="alive", last_outcome="ok")
    wayback.faults.job_outcomes[url] = "pending-forever"
    settings = fast_settings(wayback, poll_timeout_s=0.3)

    started = time.monotonic()
    _, first = run(settings, store, clock)
    elapsed = time.monotonic() - started
    wayback.add_capture(url, "20260101000001")  # it did archive after all
    clock.advance(hours=2)
    _, second = run(settings, store, clock)

    assert elapsed < 3
    assert first[0]["action"] == "queued" and "still pending" in first[0]["error"]
    assert second[0]["action"] == "captured"
    assert len(wayback.requests_of("save")) == 1


# -- failing and dead links -----------------------------------------------------------------
CAPTURES = [
    ("20190101000000", 200),
    ("20200301000000", 200),
    ("20200601000000", 404),
    ("20210101000000", 200),
]


@pytest.mark.parametrize(
    ("access_date", "expected"),
    [
        ("2020-07-01", "20200301000000"),  # last 2xx at or before (skips the 404 of June)
        ("2020-03-01T00:00:00Z", "20200301000000"),  # at the access date counts as before
        ("2018-05-05", "20190101000000"),  # nothing before: the first after
        (None, "20200301000000"),  # no document date: when the citation was first seen
    ],
    ids=["last-before", "at-the-date", "first-after", "first-seen"],
)
def test_dead_link_gets_the_snapshot_the_rule_chooses(
    wayback, store, clock, access_date, expected
) -> None:
    url = "http://rotted.test/article"
    for ts, status in CAPTURES:
        wayback.add_capture(url, ts, status)
    add_link(
        store,
        url,
        state="dead",
        last_outcome="broken",
        access_date=access_date,
        first_seen_at="2020-05-01T00:00:00+00:00",
    )

    _, results = run(fast_settings(wayback), store, clock)

    assert results[0]["action"] == "already_archived"
    assert results[0]["snapshot_timestamp"] == expected
    assert wayback.requests_of("save") == []


def test_a_dead_link_without_any_capture_fails_without_a_capture_attempt(
    wayback, store, clock
) -> None:
    add_link(store, "http://never.test/", state="dead", last_outcome="broken")

    _, results = run(fast_settings(wayback), store, clock)

    assert results[0]["action"] == "failed"
    assert wayback.requests_of("save") == []


def test_a_link_that_starts_failing_is_queued_again_and_sooner(wayback, store, clock) -> None:
    url = "http://decaying.test/"
    wayback.add_capture(url, "20190101000000")
    link_id = add_link(store, url, state="alive", last_outcome="ok", access_date="2019-06-01")
    add_link(store, "http://other.test/", state="alive", last_outcome="ok")
    run(fast_settings(wayback), store, clock)
    with store.write() as db:
        update(db, "links", link_id, {"state": "dead", "last_outcome": "broken"})

    planned = store.plan_archive_queue(clock())

    row = queue_row(store, url)
    assert planned == 1 and row["reason"] == "failing" and row["status"] == "pending"
    _, results = run(fast_settings(wayback), store, clock)
    assert results[0]["snapshot_timestamp"] == "20190101000000"


def test_a_citation_of_an_archived_copy_counts_as_archived_once_the_copy_replays(
    wayback, store, clock
) -> None:
    copy = "https://web.archive.org/web/20200101000000/http://cited.test/"
    wayback.add_capture("http://cited.test/", "20200101000000")
    add_link(store, "http://cited.test/", state="dead", archived_copy=copy)

    summary, _ = run(fast_settings(wayback), store, clock)

    snap = store.query("SELECT source, url, status, verified FROM snapshots")[0]
    link = store.query("SELECT snapshot_url, snapshot_timestamp FROM links")[0]
    # checked for what it is: one replay of the copy, no capture, no look-up of the original
    assert summary.due == 0 and [r["kind"] for r in wayback.requests] == ["replay"]
    assert snap == {"source": "citation", "url": copy, "status": 200, "verified": 1}
    assert link == {"snapshot_url": copy, "snapshot_timestamp": "20200101000000"}
    run(fast_settings(wayback), store, clock)
    assert len(wayback.requests) == 1  # verified once, not every run


def test_a_cited_copy_that_replays_an_error_is_no_snapshot_and_the_original_is_looked_up(
    wayback, store, clock
) -> None:
    copy = "https://web.archive.org/web/20200101000000/http://cited404.test/"
    wayback.add_capture("http://cited404.test/", "20200101000000", 404)  # an archived 404
    wayback.add_capture("http://cited404.test/", "20190101000000")
    add_link(store, "http://cited404.test/", state="dead", archived_copy=copy)

    run(fast_settings(wayback), store, clock)  # replays the copy: 404
    run(fast_settings(wayback), store, clock)  # the link is looked up like any other

    snap = store.query("SELECT status, verified FROM snapshots WHERE source = 'citation'")[0]
    assert snap == {"status": 404, "verified": -1}
    link = store.query("SELECT snapshot_url FROM links")[0]
    assert (
        link["snapshot_url"] == "https://web.archive.org/web/20190101000000/http://cited404.test/"
    )


def test_a_cited_copy_the_archive_cannot_replay_now_decides_nothing(wayback, store, clock) -> None:
    copy = "https://web.archive.org/web/20200101000000/http://slowcopy.test/"
    add_link(store, "http://slowcopy.test/", state="dead", archived_copy=copy)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(
            "linkwatch.archive.memento.MementoLookup.replay_status",
            lambda self, uri: (_ for _ in ()).throw(ArchiveUnavailable("memento replay: timeout")),
        )
        run(fast_settings(wayback), store, clock)
    snap = store.query("SELECT verified FROM snapshots")[0]
    assert snap == {"verified": 0}  # still the snapshot; tried again on a later run
    assert store.query("SELECT snapshot_url FROM links")[0]["snapshot_url"] == copy


def test_when_the_original_of_a_cited_copy_is_back_it_is_captured_too(
    wayback, store, clock
) -> None:
    copy = "https://web.archive.org/web/20200101000000/http://back.test/"
    wayback.add_capture("http://back.test/", "20200101000000")
    add_link(store, "http://back.test/", state="alive", archived_copy=copy)

    run(fast_settings(wayback), store, clock)

    assert wayback.state.new_captures == {"http://back.test/": 1}
    # the citation's own copy stays the one to show
    assert store.query("SELECT snapshot_url FROM links")[0]["snapshot_url"] == copy


def test_invalid_links_are_never_queued(wayback, store, clock) -> None:
    add_link(store, "http://bad host.test/", invalid_reason="bad host")

    summary, _ = run(fast_settings(wayback), store, clock)

    assert summary.planned == 0 and wayback.requests == []


# -- no keys, manual URLs, limits ---------------------------------------------------------------
def test_without_keys_lookups_run_and_captures_are_skipped(wayback, store, clock) -> None:
    wayback.add_capture("http://known.test/", "20200101000000")
    add_link(store, "http://known.test/", state="alive", last_outcome="ok")
    add_link(store, "http://unknown.test/", state="alive", last_outcome="ok")
    settings = fast_settings(wayback, keys=False)

    summary, results = run(settings, store, clock)

    by_url = {r["url"]: r for r in results}
    assert {r["action"] for r in results} == {"skipped"}
    assert "captures need keys" in by_url["http://unknown.test/"]["error"]
    assert by_url["http://known.test/"]["snapshot_timestamp"] == "20200101000000"
    assert wayback.requests_of("save") == [] and len(wayback.requests_of("availability")) == 2
    assert summary.captures_note is not None and "captures need keys" in summary.captures_note
    status = archive_status(settings, store)
    assert status["captures"] == "captures need keys"
    assert "LINKWATCH_IA_ACCESS_KEY" in status["captures_message"]


def test_refused_keys_stop_captures_for_the_run(wayback, store, clock) -> None:
    for i in range(3):
        add_link(store, f"http://k{i}.test/", state="alive", last_outcome="ok")
    wayback.state.keys = ("other", "keys")

    _, results = run(fast_settings(wayback, concurrent_captures=1), store, clock)

    assert {r["action"] for r in results} == {"skipped"}
    assert "401" in results[0]["error"]
    assert len(wayback.requests_of("save")) == 1


def test_url_option_archives_only_that_url(wayback, store, clock) -> None:
    """(The CLI checks a --url first; here the link is known and was checked.)"""
    add_link(store, "http://queued.test/", state="alive", last_outcome="ok")
    add_link(store, "http://manual.test/", state="alive", last_outcome="ok")  # checked: public

    summary, results = run(fast_settings(wayback), store, clock, urls=["HTTP://Manual.test"])

    assert [r["url"] for r in results] == ["http://manual.test/"]
    assert results[0]["action"] == "captured" and results[0]["reason"] == "manual"
    assert wayback.state.new_captures == {"http://manual.test/": 1}


def test_no_request_goes_beyond_the_archive_limits(wayback, store, clock) -> None:
    wayback.state.captures_per_minute = 4
    wayback.state.cdx_per_minute = 8
    wayback.state.minute_s = 0.5
    for i in range(10):
        add_link(store, f"http://many{i}.test/", state="alive", last_outcome="ok")
    settings = fast_settings(wayback, captures_per_minute=4, cdx_per_minute=8, rate_window_s=0.5)

    summary, _ = run(settings, store, clock)

    assert summary.captured == 10
    assert wayback.violations == []
    saves = [r["t"] for r in wayback.requests_of("save")]
    assert saves[-1] - saves[0] >= 1.0  # 10 captures at 4 per 0.5 s need > 2 windows


def test_max_items_bounds_the_run_and_progress_reports_each_item(wayback, store, clock) -> None:
    for i in range(4):
        add_link(store, f"http://p{i}.test/", state="alive", last_outcome="ok")
    seen: list[tuple[int, int]] = []

    summary, _ = run(
        fast_settings(wayback), store, clock, max_items=2, progress=lambda d, t: seen.append((d, t))
    )

    assert summary.handled == 2
    assert seen == [(1, 2), (2, 2)]


def test_concurrent_captures_stay_within_the_accounts_sessions(wayback, store, clock) -> None:
    wayback.state.concurrent_sessions = 2
    wayback.state.capture_s = 0.15
    for i in range(6):
        add_link(store, f"http://c{i}.test/", state="alive", last_outcome="ok")

    summary, _ = run(fast_settings(wayback, concurrent_captures=2), store, clock)

    assert summary.captured == 6 and wayback.violations == []


def test_a_used_up_daily_budget_pauses_captures_but_not_lookups(wayback, store, clock) -> None:
    wayback.state.daily_captures = wayback.state.daily_captures_limit
    add_link(store, "http://daily.test/", state="alive", last_outcome="ok")
    settings = fast_settings(wayback)

    _, results = run(settings, store, clock)

    assert results[0]["action"] == "skipped" and "daily capture budget" in results[0]["error"]
    assert wayback.requests_of("save") == [] and wayback.requests_of("availability")
    assert archive_status(settings, store)["budget"]["user_status"]["daily_captures"] == 30000


@pytest.mark.parametrize(
    ("delay", "action", "status"),
    [(1, "captured", "done"), (3600, "queued", "submitted")],
    ids=["short-delay", "hours-away"],
)
def test_a_delayed_capture_is_polled_or_resumed_later(
    wayback, store, clock, delay, action, status
) -> None:
    url = "http://delayed.test/"
    add_link(store, url, state="alive", last_outcome="ok")
    wayback.faults.save_replies = [f"delayed:{delay}"]

    _, results = run(fast_settings(wayback), store, clock)

    assert results[0]["action"] == action
    assert queue_row(store, url)["status"] == status
    assert len(wayback.requests_of("save")) == 1


@pytest.mark.parametrize("reply", ["502", "503", "drop"])
def test_every_failed_submission_counts_until_max_attempts(
    wayback, store, clock, reply: str
) -> None:
    """A capture answered with a 5xx (or no answer at all) is an attempt: the back-off
    doubles and archive.max_attempts ends it (it used to be resubmitted forever)."""
    add_link(store, "http://fivexx.test/", state="alive", last_outcome="ok")
    wayback.faults.url_save_replies["http://fivexx.test/"] = [reply] * 10
    settings = fast_settings(wayback, max_attempts=3, retry_backoff_s=60.0, request_timeout_s=0.5)
    waits = []
    for _ in range(3):
        run(settings, store, clock)
        row = queue_row(store, "http://fivexx.test/")
        if row["next_attempt_at"]:
            waits.append((parse_instant(row["next_attempt_at"]) - clock()).total_seconds())
        clock.advance(days=1)
    row = queue_row(store, "http://fivexx.test/")
    assert row["status"] == "failed" and row["attempts"] == 3
    assert waits == [60.0, 120.0]  # doubling
    assert len(wayback.requests_of("save")) == 3


def test_a_link_that_comes_back_after_a_failed_capture_is_captured(wayback, store, clock) -> None:
    """The page was down when we tried (the capture failed for good); it checks alive
    again later: it is queued as 'recovered' and captured."""
    link = add_link(store, "http://back.test/", state="alive", last_outcome="ok")
    wayback.faults.job_outcomes["http://back.test/"] = "error:job-failed"
    settings = fast_settings(wayback, max_attempts=1)
    run(settings, store, clock)
    assert queue_row(store, "http://back.test/")["status"] == "failed"
    clock.advance(days=1)
    with store.write() as db:  # a later check: alive again
        db.execute("UPDATE links SET last_ok_at = ? WHERE id = ?", [iso(clock()), link])
    wayback.faults.job_outcomes["http://back.test/"] = "success"
    summary, results = run(settings, store, clock)
    assert [(r["reason"], r["action"]) for r in results] == [("recovered", "captured")]
    assert archive_status(settings, store)["queue"]["by_status"] == {"done": 1}


def test_a_permanent_refusal_is_not_queued_again(wayback, store, clock) -> None:
    link = add_link(store, "http://blocked.test/", state="alive", last_outcome="ok")
    wayback.faults.url_save_replies["http://blocked.test/"] = ["error:blocked-url"]
    settings = fast_settings(wayback)
    run(settings, store, clock)
    clock.advance(days=1)
    with store.write() as db:
        db.execute("UPDATE links SET last_ok_at = ? WHERE id = ?", [iso(clock()), link])
    _, results = run(settings, store, clock)
    assert results == []
    assert queue_row(store, "http://blocked.test/")["status"] == "failed"


def test_a_429_without_retry_after_pauses_five_minutes_and_is_stored_at_once(
    wayback, store, clock
) -> None:
    add_link(store, "http://plain429.test/", state="alive", last_outcome="ok")
    wayback.faults.save_replies = ["429"]
    settings = fast_settings(wayback, backoff_429_s=ArchiveSettings().backoff_429_s)
    stop = threading.Event()
    worker = threading.Thread(target=run, args=(settings, store, clock), kwargs={"stop": stop})
    worker.start()
    try:
        deadline = time.monotonic() + 10
        while store.get_meta("archive.backoff_until") is None and time.monotonic() < deadline:
            time.sleep(0.05)
        # stored while the run still waits: a process killed now leaves it for the next
        assert worker.is_alive()
        # the archive's own advice for its 429s (the clock of these tests stands still)
        assert store.get_meta("archive.backoff_until") == "2026-01-01T00:05:00+00:00"
    finally:
        stop.set()
        worker.join(timeout=10)
    assert queue_row(store, "http://plain429.test/")["status"] == "pending"
