"""The process-wide limiter: per-minute windows, concurrency, global back-off."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from linkwatch.archive.limits import ArchiveLimiter, Limits, shared_limiter
from tests.archive.conftest import fast_settings


class FakeTime:
    """Injected time for one thread: it passes only when the limiter waits, and what
    another thread would do meanwhile (``after``) happens when its moment has passed."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.waits: list[float] = []
        self._due: list[tuple[float, Callable[[], object]]] = []

    def monotonic(self) -> float:
        return self.now

    def after(self, seconds: float, action: Callable[[], object]) -> None:
        self._due = sorted([*self._due, (self.now + seconds, action)], key=lambda d: d[0])

    def wait(self, stop: threading.Event, seconds: float) -> bool:
        self.waits.append(seconds)
        self.now += seconds
        while self._due and self._due[0][0] <= self.now:
            self._due.pop(0)[1]()
        return stop.is_set()


def _limiter(limits: Limits) -> tuple[ArchiveLimiter, FakeTime]:
    clock = FakeTime()
    return ArchiveLimiter(limits, monotonic=clock.monotonic, wait=clock.wait), clock


def test_captures_never_exceed_the_per_window_budget() -> None:
    limiter, clock = _limiter(Limits(3, 10, 100, window_s=60.0, patience_s=300.0))
    stop = threading.Event()
    times = []
    for _ in range(7):
        ticket = limiter.acquire_capture(stop)
        assert ticket is not None
        times.append(clock.now)
        ticket.answered()
        limiter.release_slot()
    for i in range(len(times) - 3):
        assert times[i + 3] - times[i] >= 60.0  # never 4 inside one window
    assert times[-1] - times[0] <= 2 * 60.0 + 1  # and no longer than the windows need


def test_a_request_still_in_flight_keeps_its_place_in_the_window() -> None:
    """The archive counts arrivals: the window runs from our answer, not our send."""
    limiter, clock = _limiter(Limits(100, 5, 1, window_s=10.0, patience_s=500.0))
    stop = threading.Event()
    first = limiter.acquire_lookup(stop)
    assert first is not None
    clock.after(30.0, first.answered)  # a slow answer
    started = clock.now
    assert limiter.acquire_lookup(stop) is not None
    assert clock.now - started >= 30.0 + 10.0


def test_concurrent_captures_wait_for_a_free_slot() -> None:
    limiter, clock = _limiter(Limits(100, 2, 100, window_s=1.0, patience_s=5.0))
    stop = threading.Event()
    for _ in range(2):
        ticket = limiter.acquire_capture(stop)
        assert ticket is not None
        ticket.answered()  # submitted and answered; the job still holds its slot
    clock.after(2.0, limiter.release_slot)  # one job is final
    started = clock.now
    assert limiter.acquire_capture(stop)
    assert clock.now - started >= 2.0


def test_a_backoff_holds_every_kind_of_request() -> None:
    limiter, clock = _limiter(Limits(100, 5, 100, window_s=60.0, patience_s=600.0))
    stop = threading.Event()
    limiter.back_off(120)
    started = clock.now
    assert limiter.acquire_lookup(stop) and limiter.acquire_request(stop)
    assert clock.now - started >= 120


def test_a_wait_beyond_patience_is_refused_at_once() -> None:
    limiter, clock = _limiter(Limits(100, 5, 100, window_s=60.0, patience_s=60.0))
    limiter.back_off(3600)
    assert not limiter.acquire_capture(threading.Event())
    assert clock.waits == [] and limiter.figures()["in_flight"] == 0


def test_stop_ends_a_wait() -> None:
    limiter = ArchiveLimiter(Limits(100, 5, 100, window_s=1.0, patience_s=30.0))
    limiter.back_off(20)
    stop = threading.Event()
    threading.Timer(0.1, stop.set).start()  # real time and a real Event: nothing faked
    started = time.monotonic()
    assert not limiter.acquire_lookup(stop)
    assert time.monotonic() - started < 15.0  # long before the back-off's 20 s


def test_one_limiter_per_archive_in_the_process(wayback) -> None:
    a = shared_limiter(fast_settings(wayback))
    b = shared_limiter(fast_settings(wayback, captures_per_minute=2))
    assert a is b and b.limits.captures_per_minute == 2


def test_no_capture_leaves_while_the_previous_submission_is_unanswered() -> None:
    """So a 429 to the first is seen before the second is on the wire."""
    limiter, clock = _limiter(Limits(100, 5, 100, window_s=1.0, patience_s=50.0))
    stop = threading.Event()
    first = limiter.acquire_capture(stop)
    assert first is not None
    clock.after(20.0, first.answered)
    started = clock.now
    assert limiter.acquire_capture(stop) is not None
    assert clock.now - started >= 20.0


def test_captures_are_spread_over_the_minute_not_burst() -> None:
    limiter, clock = _limiter(Limits(5, 5, 100, window_s=60.0, patience_s=300.0))
    stop = threading.Event()
    starts = []
    for _ in range(3):
        ticket = limiter.acquire_capture(stop)
        assert ticket is not None
        starts.append(clock.now)
        ticket.answered()
    gaps = [b - a for a, b in zip(starts, starts[1:], strict=False)]
    assert min(gaps) >= 12.0  # 5 a minute: one every 12 s


def test_a_submission_without_a_reply_keeps_its_slot_until_the_user_status() -> None:
    limiter = ArchiveLimiter(Limits(100, 1, 100, window_s=1.0, patience_s=0.3))
    stop = threading.Event()
    ticket = limiter.acquire_capture(stop)
    assert ticket is not None
    ticket.answered()
    limiter.hold_lost()  # the reply was lost: the job may be running
    give_up = threading.Event()
    threading.Timer(0.3, give_up.set).start()
    assert limiter.acquire_capture(give_up) is None  # the one slot is still taken
    limiter.settle_lost(available=1)  # /save/status/user: one free
    assert limiter.acquire_capture(stop) is not None
