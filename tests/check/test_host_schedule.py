"""The host schedule's decisions (``check/hosts.py``) on virtual time: spacing per host,
hosts never waiting on each other, ``Retry-After`` windows waited out or deferred, the
503 asked once more, ``stop``. No sockets: the check is a coroutine that answers what a
server would, and every time below is exact (``tests/kit/virtualtime.py``). The same
rules against real servers are in ``test_scheduling.py`` and ``test_batch.py``."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from linkwatch.check.hosts import Host, HostPool, Job, run_hosts
from linkwatch.model import CheckResult, Outcome
from tests.kit.virtualtime import VirtualTimeLoop, run_virtual

T0 = datetime(2026, 12, 6, tzinfo=UTC)
Answer = Callable[[Job], CheckResult]


def ok(job: Job) -> CheckResult:
    return CheckResult(job.url, Outcome.OK, T0, status=200)


def limited(status: int, retry_after_s: float) -> Answer:
    def answer(job: Job) -> CheckResult:
        return CheckResult(
            job.url, Outcome.RATE_LIMITED, T0, status=status, retry_after_s=retry_after_s
        )

    return answer


@dataclass
class Web:
    """What the servers answer (by URL path), how long an answer takes, and a log of
    every request start (virtual seconds since the run began)."""

    answers: dict[str, list[Answer]] = field(default_factory=dict)
    latency_s: float = 0.1
    starts: list[tuple[str, float]] = field(default_factory=list)
    reported: dict[str, list[Outcome]] = field(default_factory=dict)
    deferred: list[str] = field(default_factory=list)

    def starts_of(self, host: str) -> list[float]:
        return [at for url, at in self.starts if url.split("/")[2] == host]


def run(
    web: Web,
    urls: list[str],
    *,
    interval_s: float = 1.0,
    per_host: int = 1,
    concurrency: int = 8,
    run_deadline_s: float = 600.0,
    stop: threading.Event | None = None,
    before: Callable[[HostPool], None] | None = None,
) -> float:
    """Check ``urls`` through the lanes; returns the virtual seconds the run took."""
    stop = stop or threading.Event()

    async def main() -> float:
        loop = asyncio.get_running_loop()
        began = loop.time()
        pool = HostPool(concurrency, interval_s)
        if before is not None:
            before(pool)
        hosts: dict[str, Host] = {}
        for key, url in enumerate(urls):
            host = hosts.setdefault(url.split("/")[2], pool.get(url.split("/")[2]))
            host.queue.append(Job(key, url, host.name))

        async def check(job: Job) -> CheckResult:
            await pool.get(job.host).take_turn()  # what check_url does for each request
            web.starts.append((job.url, round(loop.time() - began, 6)))  # float noise
            await asyncio.sleep(web.latency_s)
            script = web.answers.get(job.url.split("/", 3)[3], [ok])
            return (script.pop(0) if len(script) > 1 else script[0])(job)

        def report(job: Job, result: CheckResult) -> None:
            web.reported.setdefault(job.url, []).append(result.outcome)

        def defer(host: Host, jobs: list[Job]) -> None:
            web.deferred += [j.url for j in jobs]

        await run_hosts(
            pool,
            list(hosts.values()),
            per_host=per_host,
            check=check,
            report=report,
            defer=defer,
            retry_wait=lambda r: r.retry_after_s,
            stop=stop,
            run_deadline=began + run_deadline_s,
        )
        return loop.time() - began

    return run_virtual(main())


def test_requests_to_one_host_start_exactly_the_spacing_apart() -> None:
    web = Web()
    run(web, [f"http://a.test/p{i}" for i in range(5)], interval_s=2.0, per_host=2)
    starts = web.starts_of("a.test")
    assert starts == [0.0, 2.0, 4.0, 6.0, 8.0]


def test_a_slow_answer_does_not_shorten_the_next_wait_below_the_spacing() -> None:
    web = Web(latency_s=3.0)  # slower than the spacing: one lane, one at a time
    run(web, [f"http://a.test/p{i}" for i in range(3)], interval_s=1.0, per_host=1)
    assert web.starts_of("a.test") == [0.0, 3.0, 6.0]


def test_a_host_waiting_for_its_turn_does_not_hold_up_another() -> None:
    web = Web()
    busy = [f"http://busy.test/p{i}" for i in range(3)]
    run(web, [*busy, "http://quiet.test/q"], interval_s=5.0, per_host=2, concurrency=1)
    assert web.starts_of("busy.test") == [0.0, 5.0, 10.0]
    # the one global slot went to the quiet host while the busy one waited its turn
    assert web.starts_of("quiet.test") == [0.1]


def test_waiting_requests_for_one_host_get_successive_turns() -> None:
    async def three_at_once() -> list[float]:
        host = Host("a.test", interval_s=0.5)
        loop = asyncio.get_running_loop()
        starts: list[float] = []

        async def request() -> None:
            await host.take_turn()
            starts.append(loop.time())

        await host.take_turn()  # a request just went out
        began = loop.time()
        await asyncio.gather(request(), request(), request())
        return [at - began for at in sorted(starts)]

    assert run_virtual(three_at_once()) == [0.5, 1.0, 1.5]


def test_the_spacing_counts_from_when_a_request_really_went_out() -> None:
    """A slow DNS look-up or connect delays the send after the turn: ``sent`` moves the
    next turn to a full spacing after the real send."""

    async def main() -> list[float]:
        loop = asyncio.get_running_loop()
        host = Host("a.test", interval_s=1.0)
        began = loop.time()
        sends = []
        for _ in range(3):
            await host.take_turn()
            await asyncio.sleep(0.7)  # resolving, connecting
            host.sent(loop.time())
            sends.append(round(loop.time() - began, 6))
        return sends

    assert run_virtual(main()) == [0.7, 2.4, 4.1]


def test_a_retry_after_within_the_run_is_waited_out_and_the_host_goes_on() -> None:
    web = Web(answers={"p1": [limited(429, 30.0)]})
    urls = [f"http://a.test/p{i}" for i in range(3)] + ["http://b.test/x"]
    took = run(web, urls, interval_s=1.0, run_deadline_s=600.0)
    assert web.reported["http://a.test/p1"] == [Outcome.RATE_LIMITED]  # a 429 is final
    assert web.reported["http://a.test/p2"] == [Outcome.OK]  # asked after the window
    assert web.starts_of("a.test") == [0.0, 1.0, 1.1 + 30.0]
    assert web.starts_of("b.test") == [0.0]  # the other host never waited
    assert web.deferred == [] and took < 32


def test_a_503_is_asked_once_more_after_its_window_and_then_answers() -> None:
    web = Web(answers={"p0": [limited(503, 20.0), ok]})
    run(web, ["http://a.test/p0", "http://a.test/p1"], interval_s=1.0)
    assert web.reported["http://a.test/p0"] == [Outcome.OK]  # only the final answer
    assert [url for url, _ in web.starts] == [
        "http://a.test/p0",
        "http://a.test/p1",  # the others first, after the window
        "http://a.test/p0",
    ]


def test_a_503_that_stays_503_is_reported_once_not_retried_forever() -> None:
    web = Web(answers={"p0": [limited(503, 5.0)]})
    run(web, ["http://a.test/p0"], interval_s=1.0)
    assert web.reported["http://a.test/p0"] == [Outcome.RATE_LIMITED]
    assert len(web.starts) == 2


def test_a_window_past_the_run_deadline_defers_the_rest_of_the_host_only() -> None:
    web = Web(answers={"p0": [limited(429, 3600.0)]})
    urls = [f"http://a.test/p{i}" for i in range(4)] + ["http://b.test/x", "http://b.test/y"]
    took = run(web, urls, interval_s=1.0, run_deadline_s=600.0)
    assert web.deferred == [f"http://a.test/p{i}" for i in (1, 2, 3)]
    assert web.reported["http://b.test/y"] == [Outcome.OK]
    assert took < 10  # nobody slept on the hour


def test_a_window_ending_exactly_at_the_deadline_defers_too() -> None:
    web = Web(answers={"p0": [limited(429, 100.0)]})
    run(web, ["http://a.test/p0", "http://a.test/p1"], interval_s=1.0, run_deadline_s=100.1)
    assert web.deferred == ["http://a.test/p1"]


def test_a_window_known_before_the_run_holds_the_host_from_the_start() -> None:
    """What an earlier run (or another process) stored: ``_hosts`` sets ``not_before``."""

    def held(pool: HostPool) -> None:
        loop = asyncio.get_running_loop()
        pool.get("a.test").not_before = loop.time() + 45.0

    web = Web()
    run(web, ["http://a.test/p0", "http://b.test/p0"], before=held)
    assert web.starts_of("a.test") == [45.0] and web.starts_of("b.test") == [0.0]


def test_after_stop_no_lane_starts_another_url() -> None:
    stop = threading.Event()
    web = Web(answers={"p1": [lambda job: (stop.set(), ok(job))[1]]})
    run(web, [f"http://a.test/p{i}" for i in range(5)], interval_s=1.0, stop=stop)
    assert [url for url, _ in web.starts] == ["http://a.test/p0", "http://a.test/p1"]
    assert set(web.reported) == {"http://a.test/p0", "http://a.test/p1"}


def test_the_virtual_clock_is_the_one_the_schedule_reads() -> None:
    async def main() -> tuple[float, float]:
        loop = asyncio.get_running_loop()
        assert isinstance(loop, VirtualTimeLoop)
        host = Host("a.test", interval_s=1.0)
        host.hold(7200.0)
        return host.window_s, loop.slept

    assert run_virtual(main()) == (7200.0, 0.0)
