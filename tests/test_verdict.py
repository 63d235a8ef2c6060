"""The verdict machine: strikes days apart, resets, inconclusive outcomes, outages, intervals."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from linkwatch.model import LinkState, Outcome
from linkwatch.verdict import LinkStatus, Rules, Verdict, judge
from tests.conftest import FakeClock

RULES = Rules()  # IABot defaults: 3 strikes, at least 3 days apart
INCONCLUSIVE = [
    Outcome.BLOCKED,
    Outcome.RATE_LIMITED,
    Outcome.SERVER_ERROR,
    Outcome.TIMEOUT,
    Outcome.NETWORK_ERROR,
    Outcome.TOO_MANY_REDIRECTS,
    Outcome.SKIPPED_POLICY,
    Outcome.TOO_LARGE,
]


class Link:
    """A link's status carried through successive checks on a fake clock."""

    def __init__(self, clock: FakeClock, status: LinkStatus | None = None) -> None:
        self.clock = clock
        self.status = status or LinkStatus()
        self.last: Verdict | None = None

    def check(self, outcome: Outcome, **kw: object) -> Verdict:
        self.last = judge(
            self.status,
            outcome,
            self.clock(),
            RULES,  # type: ignore[arg-type]
            rng=random.Random(1),
            **kw,
        )
        self.status = self.last.status
        return self.last


def test_first_success_makes_a_new_link_alive(clock: FakeClock) -> None:
    verdict = Link(clock).check(Outcome.OK)
    assert verdict.status.state is LinkState.ALIVE
    assert verdict.reason == "first check: ok"
    assert verdict.status.last_ok_at == clock()


@pytest.mark.parametrize("outcome", [Outcome.BROKEN, Outcome.SOFT404])
def test_a_conclusive_failure_is_a_strike(clock: FakeClock, outcome: Outcome) -> None:
    verdict = Link(clock).check(outcome)
    assert verdict.strike
    assert verdict.status.state is LinkState.FAILING
    assert verdict.status.strikes == 1


def test_three_strikes_three_days_apart_make_a_link_dead(clock: FakeClock) -> None:
    link = Link(clock)
    link.check(Outcome.OK)
    for _ in range(2):
        clock.advance(days=1)
        link.check(Outcome.BROKEN)
        clock.advance(days=2)
    assert link.status.state is LinkState.FAILING
    clock.advance(days=1)
    verdict = link.check(Outcome.BROKEN)
    assert verdict.status.state is LinkState.DEAD
    assert verdict.status.strikes == 3
    assert verdict.reason and "3 strikes" in verdict.reason


def test_failures_closer_than_the_spacing_do_not_add_strikes(clock: FakeClock) -> None:
    link = Link(clock)
    for _ in range(10):
        link.check(Outcome.BROKEN)
        clock.advance(hours=6)
    assert link.status.strikes == 1
    assert link.status.state is LinkState.FAILING


def test_one_success_resets_the_strikes(clock: FakeClock) -> None:
    link = Link(clock)
    link.check(Outcome.BROKEN)
    clock.advance(days=3)
    link.check(Outcome.BROKEN)
    clock.advance(days=3)
    verdict = link.check(Outcome.REDIRECTED)
    assert verdict.status.state is LinkState.ALIVE and verdict.status.strikes == 0
    assert verdict.reason == "recovered: redirected"
    clock.advance(days=3)
    assert link.check(Outcome.BROKEN).status.strikes == 1


def test_a_dead_link_that_answers_again_recovers(clock: FakeClock) -> None:
    link = Link(clock, LinkStatus(LinkState.DEAD, strikes=3, last_strike_at=clock()))
    clock.advance(days=10)
    verdict = link.check(Outcome.OK)
    assert verdict.status.state is LinkState.ALIVE
    assert verdict.reason and verdict.reason.startswith("recovered")


@pytest.mark.parametrize("outcome", INCONCLUSIVE)
def test_inconclusive_outcomes_never_strike(clock: FakeClock, outcome: Outcome) -> None:
    link = Link(clock)
    link.check(Outcome.OK)
    for _ in range(5):
        clock.advance(days=4)
        verdict = link.check(outcome)
        assert not verdict.strike
    assert link.status.strikes == 0
    assert link.status.state is LinkState.ALIVE


def test_inconclusive_outcomes_keep_earlier_strikes(clock: FakeClock) -> None:
    link = Link(clock)
    link.check(Outcome.BROKEN)
    clock.advance(days=3)
    link.check(Outcome.TIMEOUT)
    assert link.status.strikes == 1 and link.status.state is LinkState.FAILING


def test_inconclusive_for_longer_than_the_limit_is_unverifiable(clock: FakeClock) -> None:
    link = Link(clock)
    link.check(Outcome.BLOCKED)
    clock.advance(days=29)
    assert link.check(Outcome.BLOCKED).status.state is LinkState.NEW
    clock.advance(days=1)
    verdict = link.check(Outcome.BLOCKED)
    assert verdict.status.state is LinkState.UNVERIFIABLE
    assert verdict.reason and "30 days" in verdict.reason


def test_a_dead_link_does_not_become_unverifiable(clock: FakeClock) -> None:
    link = Link(clock, LinkStatus(LinkState.DEAD, strikes=3, last_strike_at=clock()))
    clock.advance(days=60)
    assert link.check(Outcome.BLOCKED).status.state is LinkState.DEAD


def test_failures_during_a_network_outage_are_not_strikes(clock: FakeClock) -> None:
    link = Link(clock)
    link.check(Outcome.OK)
    clock.advance(days=1)
    verdict = link.check(Outcome.BROKEN, network_down=True)
    assert not verdict.strike
    assert verdict.status.state is LinkState.ALIVE
    assert verdict.next_check_at - clock() <= timedelta(hours=1.1)


def test_healthy_links_are_rechecked_less_and_less_often_up_to_the_cap(clock: FakeClock) -> None:
    link = Link(clock)
    gaps = []
    for _ in range(8):
        verdict = link.check(Outcome.OK)
        gaps.append(verdict.interval_s)
        clock.advance(days=1)
    assert gaps[:3] == [86400, 2 * 86400, 4 * 86400]
    assert max(gaps) == RULES.recheck_max_s


def test_failing_links_are_rechecked_sooner(clock: FakeClock) -> None:
    link = Link(clock)
    for _ in range(5):
        link.check(Outcome.OK)
    verdict = link.check(Outcome.BROKEN)
    assert verdict.interval_s == RULES.recheck_failing_s
    assert verdict.next_check_at - clock() <= timedelta(seconds=RULES.recheck_failing_s * 1.1)


def test_next_checks_are_spread_by_jitter() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    rng = random.Random(7)
    alive = LinkStatus(LinkState.ALIVE, check_interval_s=86400, last_ok_at=now)
    times = {judge(alive, Outcome.OK, now, RULES, rng=rng).next_check_at for _ in range(50)}
    spread = max(times) - min(times)
    assert len(times) > 40
    assert timedelta(hours=4) < spread <= timedelta(seconds=0.2 * 2 * 86400)


def test_first_checks_of_an_imported_corpus_spread_over_the_interval() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    rng = random.Random(3)
    times = [judge(LinkStatus(), Outcome.OK, now, RULES, rng=rng).next_check_at for _ in range(200)]
    assert min(times) < now + timedelta(hours=15)
    assert max(times) > now + timedelta(hours=33)
    assert all(now + timedelta(hours=12) <= t <= now + timedelta(hours=36) for t in times)


def test_retry_after_pushes_the_next_check(clock: FakeClock) -> None:
    verdict = Link(clock).check(Outcome.RATE_LIMITED, retry_after_s=3 * 86400)
    assert verdict.next_check_at >= clock() + timedelta(days=3)
