"""One process-wide rate limiter for the Wayback Machine's published limits.

The archive's limits are per account and per IP, not per object (wayback-api.md §1.8,
§3.4), so every capture and look-up in the process goes through the one
``ArchiveLimiter`` of its archive (``shared_limiter``):

- captures per minute: a sliding window over ``POST /save`` submissions, and the
  submissions spread over the minute (7 a minute: one about every 8.6 s, never a burst),
  one at a time: the next capture leaves only once the previous submission was answered,
  so a 429 is seen before another capture is on the wire;
- concurrent captures: a slot held from submission until the job is final (or given up);
  a submission that got no reply at all may be running at the archive, so its slot stays
  taken (``hold_lost``) until ``/save/status/user`` says what is free (``settle_lost``)
  or a job's lifetime has passed;
- look-ups per minute (CDX and availability): a sliding window, spread over the minute;
- status polls: one at a time, so a 429 pauses every poll, not only the job that got it;
- a global back-off after a 429 (``Retry-After`` when sent, else ``backoff_429_s``):
  nothing at all is sent to the archive until it has passed.

The window is ``window_s`` (60 s; tests and the benchmark shorten "a minute"). The archive
counts a request when it *arrives*, which is some time after we send it, so a request
counts in our window from the moment it is sent until ``window_s`` after its answer came
back (``Ticket.answered``): then no two requests can arrive closer together than the
archive allows, however slow the network. Waits are real time (``time.monotonic`` and
``Event.wait``; tests inject both) and end early when the caller's stop event is set.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from linkwatch.config import Settings

Monotonic = Callable[[], float]
#: waits up to a number of seconds unless the event is set first; True if it was set
Wait = Callable[[threading.Event, float], bool]


def _wait(stop: threading.Event, seconds: float) -> bool:
    return stop.wait(seconds)


_SLOT_POLL_S = 0.01
_IN_FLIGHT = float("inf")


class Ticket:
    """One request in a per-minute window; call ``answered()`` once its reply is in."""

    __slots__ = ("_at", "_limiter")

    def __init__(self, limiter: ArchiveLimiter) -> None:
        self._limiter = limiter
        self._at = _IN_FLIGHT

    def answered(self) -> None:
        with self._limiter._lock:
            if self._at == _IN_FLIGHT:
                self._at = self._limiter._now()

    @property
    def at(self) -> float:
        return self._at


@dataclass(frozen=True)
class Limits:
    captures_per_minute: int
    concurrent_captures: int
    lookups_per_minute: int
    window_s: float = 60.0

    @classmethod
    def from_settings(cls, settings: Settings) -> Limits:
        a = settings.archive
        return cls(
            max(1, a.captures_per_minute),
            max(1, a.concurrent_captures),
            max(1, a.cdx_per_minute),
            max(0.001, a.rate_window_s),
            cls._patience(settings),
            max(1.0, a.poll_timeout_s),
        )

    patience_s: float = 300.0  # a longer wait ends the run; the queue resumes later
    lost_for_s: float = 300.0  # a lost submission's slot is free again after a job's life

    @classmethod
    def _patience(cls, settings: Settings) -> float:
        a = settings.archive
        return max(5 * a.rate_window_s, 2 * a.backoff_429_s)

    @property
    def margin_s(self) -> float:
        return self.window_s * 0.001  # float safety only; see Ticket


class ArchiveLimiter:
    """Thread-safe budget keeper. ``acquire_*`` block until allowed and return True, or
    return False when ``stop`` is set or the wait would exceed ``patience_s``."""

    def __init__(
        self, limits: Limits, *, monotonic: Monotonic = time.monotonic, wait: Wait = _wait
    ) -> None:
        self.limits = limits
        self._now = monotonic
        self._wait = wait  # both injected together: a test's time passes only when waited
        self._lock = threading.Condition()
        self._captures: deque[Ticket] = deque()
        self._lookups: deque[Ticket] = deque()
        self._in_flight = 0
        self._not_before = 0.0
        self._captures_not_before = 0.0
        self._slot_cap: int | None = None  # from /save/status/user "available"
        self._last_capture = -float("inf")  # when the last submission left
        self._last_lookup = -float("inf")
        self._lost: list[float] = []  # slots of submissions that got no reply, since when
        self._polling = False  # a status poll is on the wire
        self.waited_s = 0.0
        self.backoffs = 0

    # -- budget ----------------------------------------------------------------------
    def acquire_capture(self, stop: threading.Event) -> Ticket | None:
        """A concurrency slot plus one capture from the per-minute budget (or ``None``)."""
        if not self.acquire_slot(stop):
            return None
        while True:
            with self._lock:
                wait = max(
                    self._global_wait(),
                    self._capture_pause(),
                    self._window_wait(self._captures, self.limits.captures_per_minute),
                    self._spread_wait(self._last_capture, self.limits.captures_per_minute),
                    self._unanswered_wait(self._captures),
                )
                if wait <= 0:
                    ticket = Ticket(self)
                    self._captures.append(ticket)
                    self._last_capture = self._now()
                    return ticket
            if wait > self.limits.patience_s or not self._sleep(wait, stop):
                self.release_slot()
                return None

    def acquire_slot(self, stop: threading.Event) -> bool:
        """Only a concurrency slot (resuming a job that was submitted before)."""
        while True:
            with self._lock:
                if self._in_flight < self._slots():
                    self._in_flight += 1
                    return True
            if not self._sleep(_SLOT_POLL_S, stop):
                return False

    def release_slot(self) -> None:
        with self._lock:
            self._in_flight = max(0, self._in_flight - 1)

    def hold_lost(self) -> None:
        """The submission holding a slot got no reply: it may be running at the archive,
        so the slot stays taken (until ``settle_lost`` or ``lost_for_s``)."""
        with self._lock:
            self._in_flight = max(0, self._in_flight - 1)
            self._lost.append(self._now())

    def settle_lost(self, available: int | None) -> None:
        """``/save/status/user`` answered: its ``available`` already counts any capture
        running for us, so the slots held for lost replies are given back."""
        with self._lock:
            if available is not None:
                self._lost.clear()

    def acquire_lookup(self, stop: threading.Event) -> Ticket | None:
        while True:
            with self._lock:
                wait = max(
                    self._global_wait(),
                    self._window_wait(self._lookups, self.limits.lookups_per_minute),
                    self._spread_wait(self._last_lookup, self.limits.lookups_per_minute),
                )
                if wait <= 0:
                    ticket = Ticket(self)
                    self._lookups.append(ticket)
                    self._last_lookup = self._now()
                    return ticket
            if wait > self.limits.patience_s or not self._sleep(wait, stop):
                return None

    def acquire_request(self, stop: threading.Event) -> bool:
        """Any other request: the global back-off applies (then ``request_done``)."""
        while True:
            with self._lock:
                wait = self._global_wait()
            if wait <= 0:
                return True
            if wait > self.limits.patience_s or not self._sleep(wait, stop):
                return False

    def acquire_poll(self, stop: threading.Event) -> bool:
        """A job status poll: after the global back-off, and only while no other poll is
        on the wire (so a 429 to one poll is seen before the next leaves); call
        ``poll_done`` once it is answered."""
        while True:
            with self._lock:
                wait = self._global_wait()
                if wait <= 0 and not self._polling:
                    self._polling = True
                    return True
            wait = wait if wait > 0 else _SLOT_POLL_S
            if wait > self.limits.patience_s or not self._sleep(wait, stop):
                return False

    def poll_done(self) -> None:
        with self._lock:
            self._polling = False

    # -- signals from the archive --------------------------------------------------------
    def back_off(self, seconds: float) -> None:
        """A 429: nothing goes to the archive for ``seconds``."""
        with self._lock:
            self._not_before = max(self._not_before, self._now() + seconds)
            self.backoffs += 1

    def pause_captures(self, seconds: float) -> None:
        """No new captures for ``seconds`` (session limit, daily budget); look-ups go on."""
        with self._lock:
            self._captures_not_before = max(self._captures_not_before, self._now() + seconds)

    def cap_slots(self, available: int | None) -> None:
        """What ``/save/status/user`` says is available right now (``None`` = no cap)."""
        with self._lock:
            self._slot_cap = None if available is None else max(1, available + self._in_flight)

    def backoff_remaining(self) -> float:
        with self._lock:
            return max(0.0, self._not_before - self._now())

    def capture_pause_remaining(self) -> float:
        with self._lock:
            return max(0.0, self._captures_not_before - self._now())

    def configure(self, limits: Limits) -> None:
        with self._lock:
            self.limits = limits

    def figures(self) -> dict[str, float | int]:
        with self._lock:
            return {
                "in_flight": self._in_flight,
                "slots": self._slots(),
                "backoff_remaining_s": round(max(0.0, self._not_before - self._now()), 3),
            }

    # -- internals ----------------------------------------------------------------------
    def _slots(self) -> int:
        cap = self.limits.concurrent_captures
        if self._slot_cap is not None:
            cap = min(cap, self._slot_cap)
        expired = self._now() - self.limits.lost_for_s
        self._lost = [t for t in self._lost if t > expired]
        return max(0, cap - len(self._lost))

    def _spread_wait(self, last: float, per_window: int) -> float:
        """Requests of a kind spread evenly over the window, never a burst."""
        return last + self.limits.window_s / max(1, per_window) - self._now()

    def _unanswered_wait(self, tickets: deque[Ticket]) -> float:
        """A bit, while the previous request of this kind still awaits its answer."""
        return _SLOT_POLL_S if tickets and tickets[-1].at == _IN_FLIGHT else 0.0

    def _global_wait(self) -> float:
        return self._not_before - self._now()

    def _capture_pause(self) -> float:
        return self._captures_not_before - self._now()

    def _window_wait(self, tickets: deque[Ticket], limit: int) -> float:
        """0 if one more request fits the window, else how long to wait (in flight: a bit)."""
        now = self._now()
        window = self.limits.window_s + self.limits.margin_s
        for t in [t for t in tickets if t.at <= now - window]:
            tickets.remove(t)
        if len(tickets) < limit:
            return 0.0
        answered = [t.at for t in tickets if t.at != _IN_FLIGHT]
        return min(answered) + window - now if answered else _SLOT_POLL_S

    def _sleep(self, seconds: float, stop: threading.Event) -> bool:
        started = self._now()
        stopped = self._wait(stop, max(0.001, seconds))
        self.waited_s += self._now() - started
        return not stopped


_SHARED: dict[str, ArchiveLimiter] = {}
_SHARED_LOCK = threading.Lock()


def shared_limiter(settings: Settings) -> ArchiveLimiter:
    """The process's limiter for this archive (one per ``archive.wayback_url``)."""
    return limiter_for(settings.archive.wayback_url.rstrip("/"), Limits.from_settings(settings))


def limiter_for(key: str, limits: Limits) -> ArchiveLimiter:
    """The process's limiter for ``key`` (an archive's address or host), kept across runs
    and brought up to ``limits``."""
    with _SHARED_LOCK:
        limiter = _SHARED.get(key)
        if limiter is None:
            limiter = _SHARED[key] = ArchiveLimiter(limits)
        elif limiter.limits != limits:
            limiter.configure(limits)
        return limiter
