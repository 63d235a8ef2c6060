"""``Spans``: a set of source ranges (code spans, links already read) with logarithmic
look-ups, so a pathological paragraph with many of them stays linear-ish."""

from __future__ import annotations

from bisect import bisect_left, bisect_right


class Spans:
    """Disjoint half-open ranges ``[a, b)``, kept sorted and merged."""

    __slots__ = ("_ends", "_starts")

    def __init__(self, ranges: list[tuple[int, int]] | None = None) -> None:
        self._starts: list[int] = []
        self._ends: list[int] = []
        for a, b in ranges or ():
            self.add(a, b)

    def __bool__(self) -> bool:
        return bool(self._starts)

    def add(self, a: int, b: int) -> None:
        if b <= a:
            return
        i = bisect_left(self._ends, a)
        j = bisect_right(self._starts, b)
        if i < j:
            a, b = min(a, self._starts[i]), max(b, self._ends[j - 1])
        self._starts[i:j] = [a]
        self._ends[i:j] = [b]

    def covers(self, pos: int) -> bool:
        i = bisect_right(self._starts, pos) - 1
        return i >= 0 and pos < self._ends[i]

    def next_start(self, pos: int, limit: int) -> int:
        """The first range start after ``pos`` and before ``limit``, else ``limit``."""
        i = bisect_right(self._starts, pos)
        return self._starts[i] if i < len(self._starts) and self._starts[i] < limit else limit
