"""Large batches checked by worker processes sharded by host: same results, one writer,
stop, Retry-After, progress, and no process left behind."""

from __future__ import annotations

import collections
import glob
import os
import signal
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

import linkwatch.check.batch as batch
from linkwatch.check.batch import CheckSummary, check_links
from linkwatch.check.lanes import Job
from linkwatch.check.shard import pack, split_hosts, unpack, worker_count
from linkwatch.config import Settings
from linkwatch.model import CheckResult, Outcome
from linkwatch.store import Store
from tests.check.harness import add_links, link_row, make_settings
from tests.conftest import FakeClock
from tests.kit.simweb import SimWeb


def children() -> set[int]:
    """This process's child processes (Linux)."""
    found: set[int] = set()
    for path in glob.glob(f"/proc/{os.getpid()}/task/*/children"):
        with open(path, encoding="ascii") as listing:
            found.update(int(pid) for pid in listing.read().split())
    return found


@pytest.fixture(autouse=True)
def no_worker_left_behind() -> Iterator[None]:
    before = children()
    yield
    assert children() - before == set()  # every worker was waited for


@pytest.fixture
def sharded(monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Settings for two workers, and every batch big enough to be sharded."""
    monkeypatch.setattr(batch, "SHARD_MIN_URLS", 1)
    return make_settings(workers=2)


def test_a_sharded_batch_records_every_result(
    web: SimWeb, sharded: Settings, store: Store, clock: FakeClock
) -> None:
    ok = add_links(store, [web.url(h, f"/ok/shard{h}-{i}") for h in range(4) for i in range(3)])
    (gone,) = add_links(store, [web.url(1, "/status/410")])
    (moved,) = add_links(store, [web.url(2, "/redirect/301/ok/shard-moved")])
    summary = check_links(sharded, store, clock=clock)
    assert summary.checked == 14
    assert summary.by_outcome == {"ok": 12, "broken": 1, "redirected": 1}
    assert all(link_row(store, link)["state"] == "alive" for link in ok)
    assert link_row(store, ok[0])["title"] == "Page shard0-0"
    assert link_row(store, gone)["state"] == "failing"
    assert link_row(store, moved)["last_final_url"] == web.url(2, "/ok/shard-moved")
    assert all(len(store.check_history(link)) == 1 for link in [*ok, gone, moved])


def test_a_sharded_batch_runs_under_a_worker_thread(
    web: SimWeb, sharded: Settings, clock: FakeClock
) -> None:
    urls = [web.url(h, f"/ok/thread{h}") for h in range(4)]
    found: list[CheckSummary] = []
    thread = threading.Thread(
        target=lambda: found.append(check_links(sharded, None, clock=clock, urls=urls)))
    thread.start()
    thread.join(30)
    assert found and found[0].by_outcome == {"ok": 4}


def test_progress_and_results_come_for_every_url_in_this_process(
    web: SimWeb, sharded: Settings, clock: FakeClock
) -> None:
    urls = [web.url(h, f"/ok/progress{h}-{i}") for h in range(3) for i in range(4)]
    calls: list[tuple[int, int]] = []
    records: list[dict[str, Any]] = []
    check_links(sharded, None, clock=clock, urls=urls, on_result=records.append,
                progress=lambda done, total: calls.append((done, total)))
    assert calls == [(n, 12) for n in range(1, 13)]
    assert sorted(r["url"] for r in records) == sorted(urls)


def test_per_host_limits_hold_across_workers(web: SimWeb, clock: FakeClock,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(batch, "SHARD_MIN_URLS", 1)
    settings = make_settings(workers=2, per_host=1, host_interval_s=0.2, soft404_probe=False)
    urls = [web.url(h, f"/ok/spacing{h}-{i}") for h in (3, 4) for i in range(3)]
    check_links(settings, None, clock=clock, urls=urls)
    for h in (3, 4):
        starts = sorted(web.hits(h, f"/ok/spacing{h}-{i}")[0].at for i in range(3))
        assert min(b - a for a, b in zip(starts, starts[1:], strict=False)) >= 0.15


def test_retry_after_in_a_worker_defers_that_hosts_links(
    web: SimWeb, store: Store, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(batch, "SHARD_MIN_URLS", 1)
    settings = make_settings(workers=2, per_host=1)
    add_links(store, [web.url(5, "/ratelimit/600"), web.url(5, "/ok/later1"),
                      web.url(5, "/ok/later2")])
    other = add_links(store, [web.url(6, f"/ok/goes-on{i}") for i in range(3)])
    summary = check_links(settings, store, clock=clock)
    assert summary.deferred == 2 and summary.by_outcome["rate_limited"] == 1
    assert web.hits(5, "/ok/later1") == []
    assert web.address(5) in store.held_hosts(clock())
    assert all(link_row(store, link)["state"] == "alive" for link in other)


def test_stop_ends_the_workers_and_leaves_the_rest_due(
    web: SimWeb, store: Store, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(batch, "SHARD_MIN_URLS", 1)
    settings = make_settings(workers=2, per_host=1, host_interval_s=0.3)
    add_links(store, [web.url(h, f"/ok/stopping{h}-{i}") for h in (1, 2) for i in range(10)])
    stop = threading.Event()
    summary = check_links(settings, store, clock=clock, stop=stop,
                          on_result=lambda record: stop.set())
    assert summary.stopped
    assert 1 <= summary.checked < 20
    assert len(store.due_links(clock())) == 20 - summary.checked


def test_a_worker_that_dies_does_not_hang_the_run(
    web: SimWeb, store: Store, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(batch, "SHARD_MIN_URLS", 1)
    settings = make_settings(workers=2, per_host=1, host_interval_s=0.2)
    add_links(store, [web.url(h, f"/ok/dies{h}-{i}") for h in (1, 2) for i in range(10)])
    killed: list[int] = []
    before = children()

    def kill_one(record: dict[str, Any]) -> None:
        if not killed:
            victim = min(children() - before)
            os.kill(victim, signal.SIGKILL)
            killed.append(victim)

    summary = check_links(settings, store, clock=clock, on_result=kill_one)
    assert killed and not summary.stopped
    assert summary.checked < 20  # the dead worker's unchecked links stay due
    assert len(store.due_links(clock())) == 20 - summary.checked


def test_small_batches_stay_in_this_process(
    web: SimWeb, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    started: list[object] = []
    monkeypatch.setattr(batch, "Shards", lambda *a, **k: started.append(a))
    settings = make_settings(workers=2)
    summary = check_links(settings, None, clock=clock, urls=[web.url(0, "/ok/small"),
                                                             web.url(1, "/ok/small")])
    assert summary.by_outcome == {"ok": 2} and started == []


def test_hosts_are_split_evenly_and_never_across_groups() -> None:
    sizes = {"a": 9, "b": 5, "c": 4, "d": 3, "e": 1}
    lanes = {h: collections.deque(Job(i, f"http://{h}/{i}", h) for i in range(n))
             for h, n in sizes.items()}
    groups = split_hosts(lanes, 2)
    assert sorted(h for g in groups for h in g) == sorted(sizes)
    loads = sorted(sum(len(q) for q in g.values()) for g in groups)
    assert loads == [10, 12]  # 9 + 3 against 5 + 4 + 1: the largest hosts spread first
    assert split_hosts(lanes, 10) and len(split_hosts(lanes, 10)) == 5


@pytest.mark.parametrize(("configured", "expected"), [(1, 1), (3, 3)], ids=["off", "three"])
def test_configured_worker_count(configured: int, expected: int) -> None:
    assert worker_count(configured) == expected


def test_automatic_worker_count_follows_the_cpus() -> None:
    assert worker_count(0) == max(1, min((os.cpu_count() or 1) - 1, 4))


def test_workers_are_started_once_per_run_and_take_every_chunk(
    web: SimWeb, sharded: Settings, store: Store, clock: FakeClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from linkwatch.check.shard import Shards

    monkeypatch.setattr(batch, "CHUNK", 4)
    started: list[object] = []
    start = Shards._start
    monkeypatch.setattr(Shards, "_start", lambda self: started.append(1) or start(self))
    ids = add_links(store, [web.url(h, f"/ok/chunked{h}-{i}") for h in range(3) for i in range(3)])
    summary = check_links(sharded, store, clock=clock, select="all")
    assert summary.checked == 9 and started == [1]  # this process is the other checker
    assert all(link_row(store, link)["state"] == "alive" for link in ids)


@pytest.mark.parametrize("result", [
    CheckResult("http://a.test/x", Outcome.OK, datetime(2026, 1, 2, 3, 4, 5, 6, UTC), 200,
                "http://a.test/x", title="X", content_hash="ab" * 32),
    CheckResult("http://a.test/r", Outcome.REDIRECTED, datetime(2026, 1, 2, tzinfo=UTC), 200,
                "http://b.test/", ("http://b.test/",), True, 12),
    CheckResult("ftp://a.test/", Outcome.SKIPPED_SCHEME, datetime(2026, 1, 2, tzinfo=UTC),
                error="scheme 'ftp' is not checked"),
    CheckResult("http://a.test/l", Outcome.RATE_LIMITED, datetime(2026, 1, 2, tzinfo=UTC), 429,
                "http://a.test/l", retry_after_s=30.0),
], ids=["ok", "redirected", "never-requested", "rate-limited"])
def test_results_cross_the_process_boundary_unchanged(result: CheckResult) -> None:
    assert unpack(result.url, pack(result)) == result


def test_when_no_worker_can_start_this_process_checks_everything(
    web: SimWeb, sharded: Settings, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    from linkwatch.check.shard import Shards

    def refuse(self: Shards) -> None:
        raise OSError("Resource temporarily unavailable")

    monkeypatch.setattr(Shards, "_start", refuse)
    urls = [web.url(h, f"/ok/alone{h}") for h in range(4)]
    assert check_links(sharded, None, clock=clock, urls=urls).by_outcome == {"ok": 4}


def test_a_message_in_pieces_arrives_whole_on_the_checkers_event_loop() -> None:
    import asyncio
    import pickle
    import socket as socketlib
    import struct
    import time
    from multiprocessing.connection import Connection

    from linkwatch.check.loop import run
    from linkwatch.check.shard import _watch

    mine, theirs = socketlib.socketpair()
    reader = Connection(mine.detach())
    message = ["x" * 100] * 2_000
    payload = pickle.dumps(message)
    frame = struct.pack("!i", len(payload)) + payload

    def send_in_pieces() -> None:  # as a large message leaves a busy process
        theirs.sendall(frame[:1000])
        time.sleep(0.1)
        theirs.sendall(frame[1000:])

    async def receive() -> Any:
        loop = asyncio.get_running_loop()
        got: asyncio.Future[Any] = loop.create_future()
        _watch(loop, reader, lambda: got.done() or got.set_result(reader.recv()))
        sender = threading.Thread(target=send_in_pieces)
        sender.start()
        try:
            return await asyncio.wait_for(got, 5)
        finally:
            loop.remove_reader(reader.fileno())
            sender.join(5)

    try:
        assert run(receive()) == message
    finally:
        reader.close()
        theirs.close()
