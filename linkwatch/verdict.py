"""The verdict machine (pure): one check's outcome + the link's history -> its new state.

::

    new ──ok/redirected──▶ alive ◀──────────── any success resets ───────────┐
     │                       │                                               │
     └──broken/soft404──▶ failing ──N strikes, each ≥ T after the last──▶ dead
                     (inconclusive for longer than U, from any state but dead)
                                     └──────────▶ unverifiable

* Only ``broken`` and ``soft404`` are strikes (``Outcome.is_strike``). A conclusive failure
  counts as a new strike only when at least ``strike_spacing`` has passed since the last
  counted one (InternetArchiveBot: 3 strikes, at least 3 days apart); earlier ones are kept
  in the history but not counted.
* Inconclusive outcomes (blocked, rate limited, timeouts, server and network errors,
  skips) never strike; a link with no conclusive answer for ``unverifiable_after`` becomes
  ``unverifiable``. A dead link stays dead until it answers again.
* When the run judged the local network down, failures are neither strikes nor evidence.
* A rate-limited link comes back when its host said (``Retry-After``, capped by the
  caller), not after the usual interval.
* Healthy links are rechecked less often (interval x2 per success up to ``recheck_max``),
  failing ones after ``recheck_failing``; every interval gets +-10 % jitter so links checked
  together drift apart, and a link's first interval +-50 %, so a corpus imported at once is
  not rechecked at once.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from linkwatch.config import CheckSettings
from linkwatch.model import LinkState, LinkStatus, Outcome

__all__ = ["LinkStatus", "Rules", "Verdict", "judge"]

GROWTH = 2.0
JITTER = 0.1
FIRST_SPREAD = 0.5
NETWORK_DOWN_RECHECK_S = 3600.0


@dataclass(frozen=True)
class Rules:
    strikes: int = 3
    strike_spacing_s: float = 3 * 86400
    recheck_alive_s: float = 86400
    recheck_max_s: float = 30 * 86400
    recheck_failing_s: float = 86400
    unverifiable_after_s: float = 30 * 86400
    network_down_recheck_s: float = NETWORK_DOWN_RECHECK_S
    jitter: float = JITTER

    @classmethod
    def from_settings(cls, cs: CheckSettings) -> Rules:
        return cls(
            strikes=max(1, cs.strikes),
            strike_spacing_s=cs.strike_spacing_s,
            recheck_alive_s=cs.recheck_alive_s,
            recheck_max_s=cs.recheck_max_s,
            recheck_failing_s=cs.recheck_failing_s,
            unverifiable_after_s=cs.unverifiable_after_s,
        )


@dataclass(frozen=True)
class Verdict:
    status: LinkStatus
    strike: bool
    next_check_at: datetime
    reason: str | None  # set when the state changed

    @property
    def interval_s(self) -> float:
        return self.status.check_interval_s or 0.0


def _later(a: datetime | None, b: datetime | None) -> datetime | None:
    if a is None or b is None:
        return a or b
    return max(a, b)


def _alive(prev: LinkStatus, outcome: Outcome, now: datetime, rules: Rules) -> LinkStatus:
    if prev.state is LinkState.ALIVE and prev.check_interval_s and prev.failing_since is None:
        interval = min(prev.check_interval_s * GROWTH, rules.recheck_max_s)
    else:
        interval = rules.recheck_alive_s
    return LinkStatus(LinkState.ALIVE, prev.state_since, 0, None, None, None, now, interval)


def _strike(prev: LinkStatus, now: datetime, rules: Rules) -> tuple[LinkStatus, bool]:
    last = prev.last_strike_at
    counts = last is None or (now - last).total_seconds() >= rules.strike_spacing_s
    strikes = prev.strikes + (1 if counts else 0)
    dead = prev.state is LinkState.DEAD or strikes >= rules.strikes
    interval = rules.recheck_failing_s
    if prev.state is LinkState.DEAD and prev.check_interval_s:
        interval = min(prev.check_interval_s * GROWTH, rules.recheck_max_s)
    return LinkStatus(
        LinkState.DEAD if dead else LinkState.FAILING,
        prev.state_since,
        strikes,
        prev.first_strike_at or now,
        now if counts else last,
        prev.failing_since or now,
        prev.last_ok_at,
        interval,
    ), counts


def _inconclusive(prev: LinkStatus, now: datetime, rules: Rules, network_down: bool) -> LinkStatus:
    failing_since = prev.failing_since or now
    last_conclusive = _later(prev.last_ok_at, prev.last_strike_at) or failing_since
    state = prev.state
    if (
        not network_down
        and state is not LinkState.DEAD
        and (now - last_conclusive).total_seconds() >= rules.unverifiable_after_s
    ):
        state = LinkState.UNVERIFIABLE
    interval = rules.network_down_recheck_s if network_down else rules.recheck_failing_s
    return LinkStatus(
        state,
        prev.state_since,
        prev.strikes,
        prev.first_strike_at,
        prev.last_strike_at,
        failing_since,
        prev.last_ok_at,
        interval,
    )


def _reason(prev: LinkStatus, new: LinkStatus, outcome: Outcome, rules: Rules) -> str:
    if new.state is LinkState.ALIVE:
        return f"first check: {outcome}" if prev.state is LinkState.NEW else f"recovered: {outcome}"
    if new.state is LinkState.DEAD:
        days = rules.strike_spacing_s / 86400
        return f"{new.strikes} strikes at least {days:g} days apart ({outcome})"
    if new.state is LinkState.FAILING:
        return f"conclusive failure: {outcome}"
    days = rules.unverifiable_after_s / 86400
    return f"no conclusive answer for {days:g} days (last: {outcome})"


def judge(
    prev: LinkStatus,
    outcome: Outcome,
    now: datetime,
    rules: Rules,
    *,
    network_down: bool = False,
    retry_after_s: float | None = None,
    rng: random.Random | None = None,
) -> Verdict:
    """The link's new status after one check with ``outcome`` at ``now``."""
    strike = False
    if outcome.is_alive:
        new = _alive(prev, outcome, now, rules)
    elif outcome.is_strike and not network_down:
        new, strike = _strike(prev, now, rules)
    else:
        new = _inconclusive(prev, now, rules, network_down)
    changed = new.state is not prev.state
    if changed:
        new = LinkStatus(
            new.state,
            now,
            new.strikes,
            new.first_strike_at,
            new.last_strike_at,
            new.failing_since,
            new.last_ok_at,
            new.check_interval_s,
        )
    interval = new.check_interval_s or rules.recheck_failing_s
    # a first check spreads a freshly imported corpus over the whole interval
    width = FIRST_SPREAD if prev.state is LinkState.NEW else rules.jitter
    spread = 1 + (rng or random).uniform(-width, width)
    next_at = now + timedelta(seconds=interval * spread)
    if retry_after_s is not None:  # the host said when to come back: then, a little later
        late = (rng or random).uniform(0, rules.jitter)
        next_at = now + timedelta(seconds=retry_after_s * (1 + late))
    return Verdict(new, strike, next_at, _reason(prev, new, outcome, rules) if changed else None)
