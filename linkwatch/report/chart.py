"""The trend charts' geometry: checks per day by outcome (OK, inconclusive, failed) and
links per day by state (alive, failing, unverifiable, dead, not checked yet), as stacked
bars.

Pure numbers; the template draws them as inline SVG (no script, no external resources).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from linkwatch.model import LinkState
from linkwatch.report.views import TrendDay

WIDTH = 720
HEIGHT = 180
PAD_LEFT = 44
PAD_BOTTOM = 22
PAD_TOP = 8
SERIES = (("ok", "OK"), ("warn", "inconclusive"), ("fail", "failed (conclusive)"))
#: link states, bottom to top: (state, CSS class, label)
STATE_SERIES = (
    (LinkState.ALIVE, "ok", "alive"),
    (LinkState.FAILING, "warn", "failing"),
    (LinkState.UNVERIFIABLE, "unv", "unverifiable"),
    (LinkState.DEAD, "fail", "dead"),
    (LinkState.NEW, "none", "not checked yet"),
)


@dataclass(frozen=True, slots=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    kind: str
    label: str


@dataclass(frozen=True, slots=True)
class Tick:
    x: float
    y: float
    text: str


@dataclass(frozen=True, slots=True)
class Chart:
    width: int
    height: int
    bars: list[Bar]
    x_ticks: list[Tick]
    y_ticks: list[Tick]
    baseline: float
    empty: bool


def _nice_max(value: int) -> int:
    """The smallest 1/2/5 x 10^n at or above ``value`` (at least 1)."""
    step = 1
    while True:
        for factor in (1, 2, 5):
            if step * factor >= value:
                return step * factor
        step *= 10


def trend_chart(days: list[TrendDay]) -> Chart:
    """Checks per day, stacked by outcome."""
    stacks = [[(kind, kind, name, getattr(d, kind)) for kind, name in SERIES] for d in days]
    return _stacked(days, stacks)


def state_chart(days: list[TrendDay]) -> Chart:
    """Links per day (at the day's end), stacked by state."""
    stacks = [
        [(state, css, name, d.states.get(state, 0)) for state, css, name in STATE_SERIES]
        for d in days
    ]
    return _stacked(days, stacks)


def _stacked(days: list[TrendDay], stacks: Sequence[Sequence[tuple[str, str, str, int]]]) -> Chart:
    """Stacked bars per day, with a few date and count ticks."""
    plot_w = WIDTH - PAD_LEFT - 4
    plot_h = HEIGHT - PAD_TOP - PAD_BOTTOM
    baseline = float(HEIGHT - PAD_BOTTOM)
    totals = [sum(n for *_, n in stack) for stack in stacks]
    top = _nice_max(max(totals, default=0))
    slot = plot_w / max(len(days), 1)
    bars: list[Bar] = []
    for i, (day, stack) in enumerate(zip(days, stacks, strict=True)):
        y = baseline
        for _key, css, name, count in stack:
            if not count:
                continue
            h = plot_h * count / top
            y -= h
            bars.append(
                Bar(
                    round(PAD_LEFT + i * slot + slot * 0.1, 2),
                    round(y, 2),
                    round(max(slot * 0.8, 1.0), 2),
                    round(h, 2),
                    css,
                    f"{day.day}: {count} {name}",
                )
            )
    every = max(len(days) // 6, 1)
    x_ticks = [
        Tick(round(PAD_LEFT + i * slot + slot / 2, 2), HEIGHT - 6, d.day[5:])
        for i, d in enumerate(days)
        if i % every == 0
    ]
    y_ticks = [
        Tick(PAD_LEFT - 6, round(baseline - plot_h * f, 2), str(int(top * f))) for f in (0, 0.5, 1)
    ]
    return Chart(WIDTH, HEIGHT, bars, x_ticks, y_ticks, baseline, empty=not any(totals))
