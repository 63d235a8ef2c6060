"""The fake archive as a referee: a scripted run full of faults breaks none of the
published limits, and every live URL is captured exactly once."""

from __future__ import annotations

from typing import Any

import pytest

from linkwatch.jobs.archive import work_archive_queue
from tests.archive.conftest import add_link, fast_settings

URLS = [f"http://ref{i}.test/page" for i in range(8)]


@pytest.mark.slow
def test_a_run_full_of_faults_breaks_no_limit_and_captures_each_url_once(
    wayback, store, clock
) -> None:
    state = wayback.state
    state.concurrent_sessions = 2
    wayback.faults.save_replies = ["429:1"]  # the first capture: wait 1 s (whole seconds)
    wayback.faults.status_replies = ["429:1"]  # the first poll: every poll waits
    wayback.faults.url_save_replies[URLS[2]] = ["drop-after-start"]  # the reply is lost
    wayback.faults.job_outcomes[URLS[3]] = "error:job-failed|success"  # retryable, then ok
    wayback.faults.job_outcomes[URLS[4]] = "fail-but-exists"  # says error, but archived
    wayback.faults.pending_polls = 2
    for url in URLS:
        add_link(store, url, state="alive", last_outcome="ok")
    settings = fast_settings(
        wayback,
        concurrent_captures=2,
        captures_per_minute=12,
        poll_interval_s=0.05,
        retry_backoff_s=60.0,
    )
    results: list[dict[str, Any]] = []
    for _ in range(3):  # the retryable error and the lost reply come back on later runs
        work_archive_queue(settings, store, clock=clock, on_result=results.append)
        clock.advance(hours=1)
    assert state.violations == []
    made = {url: len(state.captures_of(url, visible_only=False)) for url in URLS}
    assert made == dict.fromkeys(URLS, 1)
    done = {r["url"] for r in results if r["action"] in ("captured", "already_archived")}
    assert done == set(URLS)
