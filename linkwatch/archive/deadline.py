"""A hard wall-clock deadline around a blocking call that cannot be given one itself.

httpx's timeouts are per read (a trickling server can hold a request for days;
RELIABILITY.md §3). ``call_with_deadline`` runs the call in a
*daemon* thread and waits for its result at most ``deadline_s``:

- the caller (a queue worker, the daemon) is free again at the deadline, always;
- a call still stuck after its deadline is abandoned; being a daemon thread it can never
  block interpreter shutdown (``concurrent.futures`` pools join their threads at exit, so
  they are not used here), and it holds only its own socket;
- at most ``MAX_ABANDONED`` calls may be stuck at once; beyond that new calls fail fast
  with ``ArchiveUnavailable`` instead of piling up threads.

A process pool would let us kill the stuck call, but costs a process start (or a pool
whose workers must be recycled) per look-up and cannot share the process-wide rate
limiter; a stuck look-up is rare and cheap to abandon, so a daemon thread is the better
trade here.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TypeVar

from linkwatch.errors import ArchiveUnavailable

T = TypeVar("T")
MAX_ABANDONED = 8

_abandoned = 0
_abandoned_lock = threading.Lock()


def abandoned_calls() -> int:
    with _abandoned_lock:
        return _abandoned


def call_with_deadline(fn: Callable[[], T], deadline_s: float, what: str) -> T:
    """``fn()`` or ``ArchiveUnavailable`` if it has not returned within ``deadline_s``.

    Exceptions raised by ``fn`` are re-raised in the caller.
    """
    global _abandoned
    with _abandoned_lock:
        if _abandoned >= MAX_ABANDONED:
            raise ArchiveUnavailable(f"{what}: {_abandoned} earlier calls are still stuck")
    box: dict[str, object] = {}
    done = threading.Event()
    finished_late = {"abandoned": False}

    def run() -> None:
        global _abandoned
        try:
            box["value"] = fn()
        except BaseException as exc:  # noqa: BLE001 - handed to the caller
            box["error"] = exc
        finally:
            with _abandoned_lock:
                done.set()
                if finished_late["abandoned"]:
                    _abandoned -= 1

    thread = threading.Thread(target=run, name=f"linkwatch-archive-{what}", daemon=True)
    thread.start()
    if not done.wait(deadline_s):
        with _abandoned_lock:
            if not done.is_set():
                finished_late["abandoned"] = True
                _abandoned += 1
                raise ArchiveUnavailable(f"{what}: no answer within {deadline_s:g} s")
    if "error" in box:
        raise box["error"]  # type: ignore[misc]
    return box["value"]  # type: ignore[return-value]
