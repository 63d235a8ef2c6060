"""An asyncio event loop whose clock is virtual: whenever nothing is ready to run, time
jumps to the next timer, so ``asyncio.sleep(600)`` takes no real time and every time the
code reads (``loop.time()``) is exact. For the checker's scheduling decisions (spacing,
``Retry-After`` windows, deadlines) without sockets; anything that waits on real I/O
(a socket, a thread) does not belong on it: a wait with no timer left is a deadlock and
raises instead of hanging.

Built from public API only: ``asyncio.SelectorEventLoop`` takes its selector as an
argument, and ``loop.time()`` is the clock every timer is scheduled on.
"""

from __future__ import annotations

import asyncio
import selectors
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


class Deadlock(RuntimeError):
    """The loop had nothing to run and no timer to wait for."""


class _Skipping(selectors.DefaultSelector):
    """Polls without blocking and tells the loop how long it would have slept."""

    def __init__(self, loop: VirtualTimeLoop) -> None:
        super().__init__()
        self._loop = loop

    def select(self, timeout: float | None = None) -> list[tuple[Any, int]]:
        ready: list[tuple[Any, int]] = super().select(0)
        if ready or timeout == 0:
            return ready
        if timeout is None:
            raise Deadlock("nothing to run and no timer: the code waits for real I/O")
        self._loop.advance(timeout)
        return ready


class VirtualTimeLoop(asyncio.SelectorEventLoop):
    def __init__(self, start: float = 1000.0) -> None:
        self._virtual_now = start
        self.slept = 0.0  # virtual seconds the loop skipped
        super().__init__(_Skipping(self))

    def time(self) -> float:
        return self._virtual_now

    def advance(self, seconds: float) -> None:
        self._virtual_now += seconds
        self.slept += seconds


def run_virtual(coro: Coroutine[Any, Any, T], *, start: float = 1000.0) -> T:
    """``asyncio.run(coro)`` on a loop of virtual time."""
    with asyncio.Runner(loop_factory=lambda: VirtualTimeLoop(start)) as runner:
        return runner.run(coro)
