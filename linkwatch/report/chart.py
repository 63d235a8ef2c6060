"""The trend chart's geometry: checks per day as stacked bars (OK, inconclusive, failed).

Pure numbers; the template draws them as inline SVG (no script, no external resources).
"""

from __future__ import annotations

from dataclasses import dataclass

from linkwatch.report.views import TrendDay

WIDTH = 720
HEIGHT = 180
PAD_LEFT = 44
PAD_BOTTOM = 22
PAD_TOP = 8
SERIES = (("ok", "OK"), ("warn", "inconclusive"), ("fail", "failed (conclusive)"))


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
    """Stacked bars per day, with a few date and count ticks."""
    plot_w = WIDTH - PAD_LEFT - 4
    plot_h = HEIGHT - PAD_TOP - PAD_BOTTOM
    baseline = float(HEIGHT - PAD_BOTTOM)
    top = _nice_max(max((d.total for d in days), default=0))
    slot = plot_w / max(len(days), 1)
    bars: list[Bar] = []
    for i, day in enumerate(days):
        y = baseline
        for kind, name in SERIES:
            count = getattr(day, kind)
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
                    kind,
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
    return Chart(
        WIDTH, HEIGHT, bars, x_ticks, y_ticks, baseline, empty=not any(d.total for d in days)
    )
