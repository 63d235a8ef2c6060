"""Copies in other archives (Memento, RFC 7089): TimeMaps parsed as archives write them,
the best copy chosen across archives, private URLs never named to them, their limits kept."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from linkwatch.archive.memento import (
    MementoLookup,
    Source,
    mementos_of,
    parse_link_format,
    preferred,
)
from linkwatch.archive.privacy import lookup_refusal
from linkwatch.cli import cli
from linkwatch.jobs.archive import work_archive_queue
from linkwatch.store import Store
from tests.archive.conftest import add_link, fast_settings
from tests.kit.fakememento import FakeMementoArchive
from tests.kit.fakewayback import FakeWayback
from tests.kit.simweb import SimWeb

PAGE = "http://gone.example.org/report-2019"
ACCESS = datetime(2021, 6, 1, tzinfo=UTC)


@pytest.fixture
def today() -> Iterator[FakeMementoArchive]:
    with FakeMementoArchive("127.0.0.60", per_minute=30) as archive:
        yield archive


@pytest.fixture
def other() -> Iterator[FakeMementoArchive]:
    with FakeMementoArchive("127.0.0.61", per_minute=30) as archive:
        yield archive


def _settings(wayback: FakeWayback, *sources: str, **archive: Any) -> Any:
    return fast_settings(wayback, memento_sources=sources, memento_per_minute=20, **archive)


def _dead(store: Store, url: str = PAGE, **fields: Any) -> int:
    fields.setdefault("access_date", ACCESS.isoformat())
    return add_link(store, url, state="dead", last_outcome="broken", last_status=404, **fields)


def _run(settings: Any, store: Store, clock: Any) -> list[dict[str, Any]]:
    results: list[dict[str, Any]] = []
    work_archive_queue(settings, store, clock=clock, on_result=results.append)
    return results


def _chosen(store: Store, url: str = PAGE) -> dict[str, Any]:
    return store.query(
        "SELECT snapshot_url, snapshot_timestamp, snapshot_archive FROM links WHERE url = ?",
        [url],
    )[0]


def test_link_format_is_read_as_archives_write_it() -> None:
    # archive.today's shape: combined rels, a bare timegate, several links on one line
    text = (
        '<http://a.example/>; rel="original", <https://archive.ph/timegate/http://a.example/>;'
        ' rel="timegate",\n'
        '<https://archive.ph/20130101000000/http://a.example/>; rel="first last memento";'
        ' datetime="Tue, 01 Jan 2013 00:00:00 GMT",\n'
        "<https://arquivo.pt/wayback/20140202101010/http://a.example/>; rel=memento;"
        ' datetime="Sun, 02 Feb 2014 10:10:10 GMT",\n'
        '<javascript:alert(1)>; rel="memento"; datetime="Sun, 02 Feb 2014 10:10:10 GMT",\n'
        '<https://archive.ph/x>; rel="memento"; datetime="not a date",\n'
        '<https://archive.ph/timemap/http://a.example/>; rel="self"; type="application/link-format"'
    )
    links = parse_link_format(text)
    assert [sorted(link.rels) for link in links][:3] == [
        ["original"],
        ["timegate"],
        ["first", "last", "memento"],
    ]
    found = list(mementos_of(links, Source("agg", "https://agg.example/timemap/")))
    assert [(m.archive, m.timestamp) for m in found] == [
        ("archive.today", "20130101000000"),
        ("Arquivo.pt", "20140202101010"),
    ]


def test_the_preferred_copy_is_the_last_before_the_access_date_then_the_first_after() -> None:
    links = parse_link_format(
        ",\n".join(
            f'<https://x.example/{y}>; rel="memento"; datetime="Mon, 01 Jan {y} 00:00:00 GMT"'
            for y in (2018, 2020, 2023, 2025)
        )
    )
    ms = list(mementos_of(links, Source("x", "https://x.example/timemap/")))
    assert [m.at.year for m in preferred(ms, ACCESS)] == [2020, 2018, 2023, 2025]
    assert [m.at.year for m in preferred(ms, None)] == [2025, 2023, 2020, 2018]


def test_a_dead_link_without_a_wayback_copy_gets_another_archives_copy_named(
    wayback: FakeWayback, store: Store, clock: Any, today: FakeMementoArchive
) -> None:
    uri = today.hold(PAGE, datetime(2020, 3, 4, 5, 6, 7, tzinfo=UTC))
    settings = _settings(wayback, f"archive.today={today.timemap}")
    _dead(store)

    results = _run(settings, store, clock)

    assert [r["action"] for r in results] == ["already_archived"]
    assert _chosen(store) == {
        "snapshot_url": uri,
        "snapshot_timestamp": "20200304050607",
        "snapshot_archive": "archive.today",
    }
    assert today.violations == []


def test_the_rule_picks_across_archives_and_skips_what_cdx_already_answered(
    wayback: FakeWayback,
    store: Store,
    clock: Any,
    today: FakeMementoArchive,
    other: FakeMementoArchive,
) -> None:
    wayback.state.add_capture(PAGE, "20240101000000")  # only after the access date
    before = other.hold(PAGE, datetime(2021, 1, 1, tzinfo=UTC))
    # the aggregator lists the other archive's copy, a newer one and a Wayback memento
    today.hold(PAGE, datetime(2021, 1, 1, tzinfo=UTC), uri=before)
    today.hold(PAGE, datetime(2022, 1, 1, tzinfo=UTC))
    today.hold(
        PAGE,
        datetime(2021, 5, 1, tzinfo=UTC),
        uri=f"https://web.archive.org/web/20210501000000/{PAGE}",
    )
    settings = _settings(wayback, f"Time Travel={today.base_url}/timemap/link/")
    _dead(store)

    _run(settings, store, clock)

    chosen = _chosen(store)
    assert chosen["snapshot_url"] == before  # before the access date beats Wayback's 2024
    assert chosen["snapshot_archive"] == "Time Travel"  # named by the source that listed it
    assert not any("web.archive.org" in r["path"] for r in today.requests)
    assert len(other.requests) == 1  # the chosen copy, replayed once to check it


def test_a_copy_that_replays_as_an_error_is_not_a_snapshot(
    wayback: FakeWayback, store: Store, clock: Any, today: FakeMementoArchive
) -> None:
    today.hold(PAGE, datetime(2021, 5, 1, tzinfo=UTC), status=404)  # an archived 404 page
    good = today.hold(PAGE, datetime(2019, 5, 1, tzinfo=UTC))
    settings = _settings(wayback, f"archive.today={today.timemap}")
    _dead(store)

    _run(settings, store, clock)

    assert _chosen(store)["snapshot_url"] == good


def test_a_paged_timemap_is_followed_to_its_last_page(today: FakeMementoArchive) -> None:
    today.faults.page_size = 2
    for year in range(2015, 2020):
        today.hold(PAGE, datetime(year, 1, 1, tzinfo=UTC))
    settings = fast_settings(FakeWaybackStub, memento_sources=(f"a={today.timemap}",))
    lookup = MementoLookup(settings, threading.Event())
    try:
        found = lookup.find(PAGE, ACCESS)
    finally:
        lookup.close()
    assert found.memento is not None and found.memento.at.year == 2019
    assert sum("/timemap/" in r["path"] for r in today.requests) == 3


def test_an_archive_that_says_wait_is_waited_for_and_no_rule_is_broken(
    wayback: FakeWayback, store: Store, clock: Any, today: FakeMementoArchive
) -> None:
    today.hold(PAGE, datetime(2020, 1, 1, tzinfo=UTC))
    today.faults.replies = ["429:1"]
    settings = _settings(wayback, f"archive.today={today.timemap}")
    _dead(store)

    _run(settings, store, clock)

    assert _chosen(store)["snapshot_archive"] == "archive.today"
    times = [r["t"] for r in today.requests]
    assert len(times) == 3 and times[1] - times[0] >= 0.95  # TimeMap, again after 1 s, replay
    assert today.violations == []


def test_an_archive_that_cannot_be_asked_keeps_the_item_for_a_later_run(
    wayback: FakeWayback, store: Store, clock: Any, today: FakeMementoArchive
) -> None:
    today.hold(PAGE, datetime(2020, 1, 1, tzinfo=UTC))
    today.faults.replies = ["503"]
    settings = _settings(wayback, f"archive.today={today.timemap}")
    _dead(store)

    first = _run(settings, store, clock)

    row = store.query("SELECT status, last_error FROM archive_queue")[0]
    assert first[0]["action"] == "queued" and row["status"] == "pending"
    assert "archive.today" in row["last_error"] and "HTTP 503" in row["last_error"]
    store.conn.execute("UPDATE archive_queue SET next_attempt_at = NULL")
    _run(settings, store, clock)
    assert _chosen(store)["snapshot_archive"] == "archive.today"


@pytest.mark.parametrize(
    ("host", "outcome", "addresses", "refused"),
    [
        ("intranet.corp", "network_error", (), True),
        ("wiki", "network_error", (), True),
        ("printer.local", "dns_error", (), True),
        ("10.1.2.3", None, (), True),
        ("www.example.org", "skipped_policy", (), True),
        ("gone.example.org", "dns_error", (), False),
        ("news.example.com", "broken", ("93.184.215.14",), False),
        ("news.example.com", "broken", ("10.0.0.8",), True),
    ],
)
def test_private_urls_are_never_named_to_another_archive(
    host: str, outcome: str | None, addresses: tuple[str, ...], refused: bool
) -> None:
    assert (lookup_refusal(host, outcome, addresses) is not None) is refused


def test_a_private_dead_link_sends_nothing_to_other_archives(
    wayback: FakeWayback, store: Store, clock: Any, today: FakeMementoArchive
) -> None:
    settings = _settings(wayback, f"archive.today={today.timemap}")
    _dead(store, "http://intranet.corp/minutes", addresses=())
    _dead(store, "http://10.9.8.7/plan", addresses=(), doc="articles/b.md")

    _run(settings, store, clock)

    assert today.requests == []


class FakeWaybackStub:
    """Enough of a FakeWayback for settings that never reach it."""

    base_url = "http://127.0.0.1:9"


def test_the_report_shows_another_archives_copy_of_a_dead_citation_with_its_name(
    tmp_path: Path, today: FakeMementoArchive
) -> None:
    with SimWeb(hosts=1) as web, FakeWayback(minute_s=1.0, cdx_per_minute=200) as wayback:
        gone = web.url(0, "/gone/annual-report")
        copy = today.hold(gone, datetime(2020, 2, 2, tzinfo=UTC))
        (tmp_path / "corpus").mkdir()
        (tmp_path / "corpus" / "story.md").write_text(
            f"---\ndate: 2021-01-01\n---\n# Story\n\nAs the [report]({gone}) said.\n",
            encoding="utf-8",
        )
        config = tmp_path / "linkwatch.toml"
        config.write_text(
            '[corpus]\npaths = ["corpus/**/*"]\n[state]\npath = "state/lw.db"\n'
            '[report]\ndir = "reports/"\n'
            '[check]\nallow_networks = ["127.0.0.0/8"]\nhost_interval_s = 0.0\n'
            'timeout_s = 3.0\nstrikes = 2\nstrike_spacing = "1h"\n'
            f'[archive]\nwayback_url = "{wayback.base_url}"\n'
            f'availability_url = "{wayback.base_url}"\nrate_window_s = 1.0\n'
            'submit_networks = ["127.0.0.0/8"]\n'
            f'memento_sources = ["archive.today={today.timemap}"]\n',
            encoding="utf-8",
        )
        for now in ("2026-01-01T00:00:00Z", "2026-01-02T00:00:00Z", "2026-01-03T00:00:00Z"):
            result = CliRunner().invoke(
                cli, ["--config", str(config), "--now", now, "run"], catch_exceptions=False
            )
            assert result.exit_code in (0, 3), result.output
        data = json.loads((tmp_path / "reports" / "report.json").read_text(encoding="utf-8"))
    link = next(lk for lk in data["links"] if lk["url"] == gone)
    assert link["state"] == "dead"
    assert link["snapshot"] == {
        "url": copy,
        "timestamp": "20200202000000",
        "archive": "archive.today",
    }
    index = (tmp_path / "reports" / "index.html").read_text(encoding="utf-8")
    assert f'href="{copy}"' in index and '<span class="archive">archive.today</span>' in index
    assert wayback.violations == [] and today.violations == []
