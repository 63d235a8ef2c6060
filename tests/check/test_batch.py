"""Running batches against the store: history, verdicts over days, holds, outages, stop."""

from __future__ import annotations

import json
import threading
import time
from datetime import timedelta
from typing import Any

import pytest

from linkwatch.check.transport import NameNotResolved
from linkwatch.config import Settings
from linkwatch.jobs.check import check_links
from linkwatch.model import LinkState
from linkwatch.store import Store
from tests.check.harness import add_links, link_row, make_settings
from tests.conftest import FakeClock
from tests.kit.rows import check_history, insert, state_history
from tests.kit.simweb import SimWeb


def test_results_are_recorded_as_history_state_and_schedule(
    web: SimWeb, settings: Settings, store: Store, clock: FakeClock
) -> None:
    ok, gone, moved = add_links(
        store,
        [web.url(0, "/ok/rec"), web.url(0, "/status/404"), web.url(0, "/redirect/301/ok/rec-new")],
    )
    summary = check_links(settings, store, clock=clock)
    assert summary.checked == 3
    assert summary.by_outcome == {"ok": 1, "broken": 1, "redirected": 1}
    row = link_row(store, ok)
    assert row["state"] == "alive" and row["last_status"] == 200
    assert row["title"] == "Page rec" and row["content_hash"] and row["fingerprint_at"]
    assert row["next_check_at"] > row["last_checked_at"]
    gone_row = link_row(store, gone)
    assert gone_row["state"] == "failing" and gone_row["strikes"] == 1
    moved_row = link_row(store, moved)
    assert moved_row["last_final_url"] == web.url(0, "/ok/rec-new")
    assert moved_row["redirect_permanent"] == 1
    history = check_history(store, moved)
    assert json.loads(history[0]["redirects"]) == [web.url(0, "/ok/rec-new")]
    assert [c["to_state"] for c in state_history(store, gone)] == ["failing"]


def test_nothing_is_due_right_after_a_run(
    web: SimWeb, settings: Settings, store: Store, clock: FakeClock
) -> None:
    add_links(store, [web.url(0, "/ok/due1"), web.url(0, "/status/410")])
    check_links(settings, store, clock=clock)
    assert check_links(settings, store, clock=clock).checked == 0
    assert check_links(settings, store, clock=clock, select="all").checked == 2


def test_a_link_is_declared_dead_after_three_runs_days_apart(
    web: SimWeb, settings: Settings, store: Store, clock: FakeClock
) -> None:
    (link,) = add_links(store, [web.url(1, "/status/404")])
    summaries = []
    for _ in range(3):
        summaries.append(check_links(settings, store, clock=clock))
        clock.advance(days=3, minutes=1)
    assert link_row(store, link)["state"] == "dead"
    assert summaries[-1].newly_dead == [web.url(1, "/status/404")]
    assert [c["to_state"] for c in state_history(store, link)] == ["failing", "dead"]
    assert sum(c["strike"] for c in check_history(store, link)) == 3


def test_a_recovered_link_is_reported(
    web: SimWeb, settings: Settings, store: Store, clock: FakeClock
) -> None:
    (link,) = add_links(store, [web.url(1, "/ok/back")], state="dead", strikes=3)
    summary = check_links(settings, store, clock=clock, select="all")
    assert summary.recovered == [web.url(1, "/ok/back")]
    assert link_row(store, link)["strikes"] == 0


def _names(web: SimWeb, count: int) -> dict[str, str]:
    return {f"site{i}.test": web.address(i) for i in range(count)}


def test_network_outage_failures_are_not_strikes(
    web: SimWeb, settings: Settings, store: Store, clock: FakeClock
) -> None:
    names = _names(web, 6)
    ids = add_links(store, [f"http://{n}:{web.port}/ok/x" for n in names])
    outage = threading.Event()

    async def resolve(host: str, port: int) -> list[str]:
        if outage.is_set():
            raise NameNotResolved(host, "Name or service not known", permanent=True)
        return [names[host]]

    check_links(settings, store, clock=clock, resolver=resolve)
    outage.set()
    clock.advance(days=30)
    summary = check_links(settings, store, clock=clock, resolver=resolve)
    assert summary.network_down
    assert summary.by_outcome == {"broken": 6}
    for link in ids:
        assert link_row(store, link)["state"] == "alive"
        assert link_row(store, link)["strikes"] == 0
        last = check_history(store, link)[0]
        assert last["network_down"] == 1 and last["strike"] == 0


def test_one_vanished_domain_among_healthy_ones_is_a_strike(
    web: SimWeb, settings: Settings, store: Store, clock: FakeClock
) -> None:
    names = _names(web, 6)
    urls = [f"http://{n}:{web.port}/ok/y" for n in names] + ["http://vanished.test/page"]
    add_links(store, urls)

    async def resolve(host: str, port: int) -> list[str]:
        if host not in names:
            raise NameNotResolved(host, "Name or service not known", permanent=True)
        return [names[host]]

    summary = check_links(settings, store, clock=clock, resolver=resolve)
    assert not summary.network_down
    link = store.links_by_url(["http://vanished.test/page"])["http://vanished.test/page"]
    assert link.state is LinkState.FAILING and link.status.strikes == 1


def test_retry_after_holds_only_that_host_and_reschedules_its_links(
    web: SimWeb, store: Store, clock: FakeClock
) -> None:
    settings = make_settings(per_host=1)
    held = add_links(
        store, [web.url(4, "/ratelimit/600"), web.url(4, "/ok/h1"), web.url(4, "/ok/h2")]
    )
    other = add_links(store, [web.url(5, "/ok/o1"), web.url(5, "/ok/o2")])
    started = time.monotonic()
    summary = check_links(settings, store, clock=clock)
    assert time.monotonic() - started < 5  # nobody slept on the Retry-After
    assert summary.deferred == 2
    assert web.hits(4, "/ok/h1") == []
    for link in held:
        assert link_row(store, link)["next_check_at"] >= (
            clock() + timedelta(seconds=600)
        ).isoformat(timespec="seconds")
    assert all(link_row(store, link)["state"] == "alive" for link in other)
    again = check_links(settings, store, clock=clock, select="all")
    assert again.deferred == 3 and again.checked == 2


def test_retry_after_is_capped(web: SimWeb, store: Store, clock: FakeClock) -> None:
    settings = make_settings(retry_after_cap="1h")
    (link,) = add_links(store, [web.url(6, "/ratelimit/999999")])
    check_links(settings, store, clock=clock)
    assert store.held_hosts(clock())[web.address(6)] <= clock() + timedelta(hours=1)
    assert link_row(store, link)["next_check_at"] <= (clock() + timedelta(hours=1.2)).isoformat()


def test_stop_takes_no_new_urls_but_records_what_finished(
    web: SimWeb, store: Store, clock: FakeClock
) -> None:
    settings = make_settings(per_host=1, concurrency=1)
    add_links(store, [web.url(7, f"/ok/stop{i}") for i in range(10)])
    stop = threading.Event()

    def on_result(record: dict[str, Any]) -> None:
        stop.set()

    summary = check_links(settings, store, clock=clock, stop=stop, on_result=on_result)
    assert summary.stopped and summary.checked == 1
    assert store.count_due_links(clock()) == 9


def test_progress_and_result_records_for_every_url(
    web: SimWeb, settings: Settings, store: Store, clock: FakeClock
) -> None:
    add_links(store, [web.url(2, "/ok/p1"), web.url(3, "/status/404")])
    calls: list[tuple[int, int]] = []
    records: list[dict[str, Any]] = []
    check_links(
        settings,
        store,
        clock=clock,
        progress=lambda d, t: calls.append((d, t)),
        on_result=records.append,
    )
    assert calls == [(1, 2), (2, 2)]
    assert {r["outcome"] for r in records} == {"ok", "broken"}
    for r in records:
        assert {
            "url",
            "outcome",
            "status",
            "final_url",
            "redirects",
            "elapsed_ms",
            "error",
            "state",
        } <= r.keys()
    assert {r["state"] for r in records} == {"alive", "failing"}


def test_adhoc_urls_record_known_links_only(
    web: SimWeb, settings: Settings, store: Store, clock: FakeClock
) -> None:
    (known,) = add_links(store, [web.url(2, "/ok/known")])
    records: list[dict[str, Any]] = []
    check_links(
        settings,
        store,
        clock=clock,
        on_result=records.append,
        urls=[web.url(2, "/ok/known"), web.url(2, "/ok/stranger")],
    )
    by_url = {r["url"]: r for r in records}
    assert by_url[web.url(2, "/ok/known")]["state"] == "alive"
    assert by_url[web.url(2, "/ok/stranger")]["state"] is None
    assert link_row(store, known)["last_outcome"] == "ok"
    assert store.links_by_url([web.url(2, "/ok/stranger")]) == {}


def test_adhoc_urls_without_a_store(web: SimWeb, settings: Settings, clock: FakeClock) -> None:
    summary = check_links(settings, None, clock=clock, urls=[web.url(2, "/ok/free"), "ftp://x/"])
    assert summary.by_outcome == {"ok": 1, "skipped_scheme": 1}


def test_doc_restricts_to_one_documents_links(
    web: SimWeb, settings: Settings, store: Store, clock: FakeClock
) -> None:
    a, b = add_links(store, [web.url(3, "/ok/in-doc"), web.url(3, "/ok/elsewhere")])
    with store.write() as db:
        doc = insert(db, "documents", {"path": "articles/one.md"})
        insert(
            db,
            "citations",
            {
                "document_id": doc,
                "link_id": a,
                "line": 3,
                "source": "text",
                "raw_url": "x",
                "first_seen_at": "2026-01-01T00:00:00+00:00",
                "last_seen_at": "2026-01-01T00:00:00+00:00",
            },
        )
    summary = check_links(settings, store, clock=clock, doc="articles/one.md")
    assert summary.checked == 1
    assert link_row(store, b)["last_checked_at"] is None


def test_unknown_doc_is_an_error(settings: Settings, store: Store, clock: FakeClock) -> None:
    from linkwatch.errors import CorpusError

    with pytest.raises(CorpusError, match="scan"):
        check_links(settings, store, clock=clock, doc="nope.md")


@pytest.mark.slow
def test_requests_to_one_host_are_spaced_on_the_wire(web: SimWeb, clock: FakeClock) -> None:
    """The wiring against a real server (the rule itself, exactly, on virtual time:
    ``test_host_schedule.py``): two lanes for one host still start requests a spacing
    apart, as the server sees them."""
    settings = make_settings(host_interval_s=1.0, per_host=2)
    urls = [web.url(5, f"/ok/spaced{i}") for i in range(3)]
    check_links(settings, None, clock=clock, urls=urls)
    starts = sorted(web.hits(5, f"/ok/spaced{i}")[0].at for i in range(3))
    gaps = [b - a for a, b in zip(starts, starts[1:], strict=False)]
    assert min(gaps) >= 0.5  # unspaced, the two lanes would start together (~0 s)


def test_a_flapping_server_is_never_declared_dead(
    web: SimWeb, settings: Settings, store: Store, clock: FakeClock
) -> None:
    (link,) = add_links(store, [web.url(3, "/flap/moody")])
    outcomes = []
    for _ in range(6):
        check_links(settings, store, clock=clock, select="all")
        outcomes.append(check_history(store, link, limit=1)[0]["outcome"])
        clock.advance(days=3, minutes=1)
    assert set(outcomes) == {"ok", "server_error"}
    assert link_row(store, link)["state"] == "alive"
    assert link_row(store, link)["strikes"] == 0


def _resolver_without(names: dict[str, str]) -> Any:
    """A resolver that knows ``names`` and answers NXDOMAIN for every other host."""

    async def resolve(host: str, port: int) -> list[str]:
        if host not in names:
            raise NameNotResolved(host, "Name or service not known", permanent=True)
        return [names[host]]

    return resolve


def test_an_outage_on_a_first_run_condemns_nothing(
    settings: Settings, store: Store, clock: FakeClock
) -> None:
    urls = [f"http://news{i}.test/article/{j}" for i in range(8) for j in range(3)]
    ids = add_links(store, urls)
    summary = check_links(settings, store, clock=clock, resolver=_resolver_without({}))
    assert summary.network_down
    assert summary.checked == 24 and summary.by_outcome == {"broken": 24}
    assert summary.by_state == {"new": 24} and summary.newly_dead == []
    for link in ids:
        row = link_row(store, link)
        assert row["state"] == "new" and row["strikes"] == 0
        last = check_history(store, link)[0]
        assert last["network_down"] == 1 and last["strike"] == 0


def test_nearly_every_host_unreachable_on_a_first_run_is_an_outage(
    web: SimWeb, settings: Settings, store: Store, clock: FakeClock
) -> None:
    names = {"intranet.test": web.address(0)}  # one host still answers (e.g. a local one)
    ids = add_links(
        store,
        [f"http://intranet.test:{web.port}/ok/i"] + [f"http://gone{i}.test/a" for i in range(11)],
    )
    summary = check_links(settings, store, clock=clock, resolver=_resolver_without(names))
    assert summary.network_down
    assert all(link_row(store, link)["strikes"] == 0 for link in ids)
    assert link_row(store, ids[0])["state"] == "alive"


@pytest.mark.parametrize("vanished", [3, 5], ids=["three-of-nine", "five-of-twenty"])
def test_a_minority_of_vanished_domains_on_a_first_run_are_strikes(
    web: SimWeb, settings: Settings, store: Store, clock: FakeClock, vanished: int
) -> None:
    # the unknown names fail in no time and come back before any page: that alone is
    # no outage
    names = {f"live{i}.test": web.address(i % 8) for i in range(6 if vanished == 3 else 15)}
    live = add_links(store, [f"http://{n}:{web.port}/ok/m" for n in names])
    gone = add_links(store, [f"http://vanished{i}.test/page" for i in range(vanished)])
    summary = check_links(settings, store, clock=clock, resolver=_resolver_without(names))
    assert not summary.network_down
    assert all(link_row(store, link)["state"] == "alive" for link in live)
    for link in gone:
        row = link_row(store, link)
        assert row["state"] == "failing" and row["strikes"] == 1


@pytest.mark.parametrize("select", ["due", "all"])
def test_large_selections_are_checked_in_chunks_each_link_once(
    web: SimWeb,
    settings: Settings,
    store: Store,
    clock: FakeClock,
    monkeypatch: pytest.MonkeyPatch,
    select: str,
) -> None:
    import linkwatch.jobs.check as batch

    monkeypatch.setattr(batch, "CHUNK", 2)
    ids = add_links(store, [web.url(4, f"/ok/chunk-{select}{i}") for i in range(5)])
    calls: list[tuple[int, int]] = []
    summary = check_links(
        settings, store, clock=clock, select=select, progress=lambda d, t: calls.append((d, t))
    )
    assert summary.checked == 5 and calls[-1] == (5, 5)
    assert all(len(check_history(store, i)) == 1 for i in ids)
    assert check_links(settings, store, clock=clock, select=select, limit=3).checked == (
        0 if select == "due" else 3
    )


def test_adhoc_urls_that_are_no_urls_are_judged_before_any_request(
    settings: Settings, clock: FakeClock
) -> None:
    records: list[dict[str, Any]] = []
    summary = check_links(
        settings,
        None,
        clock=clock,
        on_result=records.append,
        urls=["http://exa mple.com/", "http://", "ftp://x.test/f"],
    )
    assert summary.by_outcome == {"invalid_url": 2, "skipped_scheme": 1}
    assert all(r["status"] is None and r["elapsed_ms"] == 0 for r in records)
