"""The event loop checks run on: ``run(coro)``.

uvloop (libuv) when it is installed: much of the checker's CPU goes to the event loop's
own bookkeeping (transports, timers, callbacks), which uvloop does in C (about 8 % less
CPU for a whole run). Without it (e.g. on Windows), asyncio's default loop, with the same
behaviour.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def _loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    try:
        import uvloop
    except ImportError:
        return None
    factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
    return factory


def run(coro: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run(coro)``, on uvloop when available."""
    with asyncio.Runner(loop_factory=_loop_factory()) as runner:
        return runner.run(coro)
