"""Look-ups against the fake: endpoints, parsing, deadlines, 429, no proxy from the env."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from linkwatch.archive.limits import ArchiveLimiter, Limits
from linkwatch.archive.lookup import Lookup, Stopped
from linkwatch.config import ArchiveSettings, Settings
from linkwatch.errors import ArchiveError, ArchiveRateLimited, ArchiveUnavailable
from tests.archive.conftest import fast_settings

NOW = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture
def limiter() -> ArchiveLimiter:
    return ArchiveLimiter(Limits(10, 2, 100, 1.0, patience_s=5.0))


@pytest.fixture
def lookup(wayback, limiter) -> Lookup:
    return Lookup(fast_settings(wayback, request_timeout_s=1.0), limiter, threading.Event())


def test_availability_finds_the_newest_capture(wayback, lookup) -> None:
    wayback.add_capture("http://a.test/", "20200101000000")
    wayback.add_capture("http://a.test/", "20250101000000", 404)
    cap = lookup.newest("http://a.test/", NOW)
    assert cap is not None and cap.timestamp == "20250101000000" and cap.status == 404
    assert cap.url == "https://web.archive.org/web/20250101000000/http://a.test/"


@pytest.mark.parametrize("fault", [None, "empty"], ids=["never-archived", "intermittent-empty"])
def test_availability_without_a_capture_is_none(wayback, lookup, fault) -> None:
    if fault:
        wayback.add_capture("http://a.test/", "20200101000000")
        wayback.faults.availability_replies = [fault]
    assert lookup.newest("http://a.test/", NOW) is None


def test_cdx_rows_are_parsed_and_filtered_to_2xx(wayback, lookup) -> None:
    for ts, status in [("20190101000000", 200), ("20200101000000", 404), ("20210101000000", 200)]:
        wayback.add_capture("http://c.test/page", ts, status)
    rows = lookup.captures("http://c.test/page", to_ts="20201231", limit=-1, only_2xx=True)
    assert [(r.timestamp, r.status) for r in rows] == [("20190101000000", 200)]
    params = wayback.requests_of("cdx")[0]["params"]
    assert params["filter"] == ["statuscode:2.."] and params["limit"] == ["-1"]


def test_cdx_429_backs_off_the_whole_limiter(wayback, lookup, limiter) -> None:
    wayback.faults.cdx_replies = ["429:2"]
    with pytest.raises(ArchiveRateLimited):
        lookup.captures("http://c.test/")
    assert 1.5 < limiter.backoff_remaining() <= 2.0


@pytest.mark.parametrize("fault", ["503", "drop"])
def test_cdx_trouble_is_unavailable_not_an_empty_answer(wayback, lookup, fault) -> None:
    wayback.add_capture("http://c.test/", "20200101000000")
    wayback.faults.cdx_replies = [fault]
    with pytest.raises(ArchiveUnavailable):
        lookup.captures("http://c.test/")


def test_a_blocked_site_is_a_permanent_error(wayback, lookup) -> None:
    wayback.faults.cdx_replies = ["blocked"]
    with pytest.raises(ArchiveError, match="excludes"):
        lookup.captures("http://c.test/")


def test_a_stuck_lookup_is_abandoned_at_its_deadline(wayback, lookup) -> None:
    wayback.faults.availability_replies = ["slow"]
    wayback.faults.slow_s = 3.0
    started = time.monotonic()
    with pytest.raises(ArchiveUnavailable, match="within"):
        lookup.newest("http://a.test/", NOW)
    assert time.monotonic() - started < 2.0


def test_a_stop_interrupts_the_wait_for_budget(wayback, limiter) -> None:
    stop = threading.Event()
    stop.set()
    limiter.back_off(1.0)
    with pytest.raises(Stopped):
        Lookup(fast_settings(wayback), limiter, stop).captures("http://c.test/")


@pytest.fixture
def hang_up_server() -> Iterator[tuple[int, list[int]]]:
    """A TCP server on loopback that closes every connection at once; counts them."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    server.settimeout(0.05)
    accepted = [0]
    done = threading.Event()

    def serve() -> None:
        while not done.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            accepted[0] += 1
            conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield server.getsockname()[1], accepted
    done.set()
    thread.join(2.0)
    server.close()


def test_one_cdx_lookup_is_one_request_even_over_https(hang_up_server, limiter) -> None:
    """One look-up is one request, also over https after a dropped connection (waybackpy
    retried up to five times on its own: requests the limiter never saw)."""
    port, accepted = hang_up_server
    settings = replace(
        Settings(),
        archive=replace(
            ArchiveSettings(), wayback_url=f"https://127.0.0.1:{port}", request_timeout_s=3.0
        ),
    )
    with pytest.raises(ArchiveUnavailable):
        Lookup(settings, limiter, threading.Event()).captures("http://c.test/")
    time.sleep(0.3)
    assert accepted[0] == 1


def test_proxies_in_the_environment_are_never_used(
    wayback, hang_up_server, limiter, monkeypatch
) -> None:
    """HTTP_PROXY / HTTPS_PROXY / ALL_PROXY point at a server that counts connections: the
    archive look-ups go to the archive itself, never through it."""
    port, accepted = hang_up_server
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.setenv(name, f"http://127.0.0.1:{port}")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    settings = replace(
        Settings(),
        archive=replace(
            ArchiveSettings(),
            wayback_url=wayback.base_url,
            availability_url=wayback.base_url,
            request_timeout_s=3.0,
        ),
    )
    wayback.add_capture("http://p.test/", "20240101000000")
    lookup = Lookup(settings, limiter, threading.Event())
    assert [c.timestamp for c in lookup.captures("http://p.test/")] == ["20240101000000"]
    assert lookup.newest("http://p.test/", datetime.now(UTC)) is not None
    assert accepted[0] == 0
