"""Checking in several worker processes, sharded by host: ``Shards``.

One Python process spends ~0.3-0.5 ms of CPU per request (HTTP, body, fingerprint), so a
large batch is CPU-bound on one core long before the politeness limits bind. The batch's
hosts are split over ``check.workers`` processes (a host never spans two, so per-host
concurrency and spacing stay exact; the global ``check.concurrency`` is divided evenly
between the workers). Each worker runs one event loop and one shared client over
``run_lanes`` and streams its results back in small batches; the parent judges them and
alone writes the store. The workers live for one ``check_links`` call and take its chunks
one after another.

Workers are fresh interpreters (``python -c "...serve(FD)"``, never a fork of this
process, which may hold an open SQLite connection and threads) that talk pickled messages
over a socket pair framed by ``multiprocessing.connection``; they get only plain data: the
settings, their jobs, a seed and the starting instant of the parent's clock (a worker's
clock runs on from it). multiprocessing's own ``spawn`` would also re-run the parent's
main script in every worker (for the ``linkwatch`` command: the whole CLI and store, a
third of a second of CPU each) and its fork server would hide the workers' CPU time from
the parent's resource usage.

Workers ignore SIGINT and SIGTERM: the parent tells them to stop (``stop`` Event), after
which they start no new URL and finish what is in flight within its deadline; a worker
whose parent vanished (end of file on its socket) stops the same way. Every exit path
waits for the workers, terminating any that outlive the grace period.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import dataclasses
import logging
import math
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from multiprocessing.connection import Connection
from types import TracebackType
from typing import Any

from linkwatch.check.lanes import Job, Lanes
from linkwatch.check.loop import run as run_loop
from linkwatch.config import Settings
from linkwatch.model import CheckResult, Outcome

log = logging.getLogger(__name__)

MAX_WORKERS = 4
SEND_EVERY = 64  # results per message at most
SEND_INTERVAL_S = 0.02
STOP_GRACE_S = 5.0
EXIT_TIMEOUT_S = 5.0
WAIT_S = 0.1
_ENTRY = "import sys; from linkwatch.check.shard import serve; serve(int(sys.argv[1]))"

Message = tuple[Any, ...]
JobData = list[tuple[str, list[tuple[int, str, bool, bool]]]]


def worker_count(configured: int) -> int:
    """``check.workers``: how many processes check (this one included); 1 means this one
    only; 0 (the default) means one per CPU but one, at most 4. The CPU left over is for
    this process's judging and writing and for everything else on the machine: on 2 CPUs
    a second checker cost 30 % more CPU for no gain in wall time (``bench/README.md``)."""
    if configured > 0:
        return configured
    return max(1, min((os.cpu_count() or 1) - 1, MAX_WORKERS))


def divided(settings: Settings, parts: int) -> Settings:
    """``settings`` for one of ``parts`` checkers: a share of the global concurrency."""
    cs = settings.check
    share = max(1, math.ceil(cs.concurrency / max(1, parts)))
    return dataclasses.replace(settings, check=dataclasses.replace(cs, concurrency=share))


def split_hosts(lanes: Lanes, shards: int) -> list[Lanes]:
    """Hosts over at most ``shards`` groups of similar size (most URLs first, each to the
    lightest group); a host never spans two groups."""
    groups: list[Lanes] = [{} for _ in range(max(1, min(shards, len(lanes))))]
    load = [0] * len(groups)
    for host, queue in sorted(lanes.items(), key=lambda item: -len(item[1])):
        lightest = load.index(min(load))
        groups[lightest][host] = queue
        load[lightest] += len(queue)
    return [g for g in groups if g]


@dataclasses.dataclass
class _Worker:
    proc: subprocess.Popen[bytes]
    conn: Connection


class Shards:
    """``count`` worker processes; ``run(groups, stop, deliver)`` checks one host group in
    each and delivers ``("result", key, packed)`` (``unpack`` makes it a ``CheckResult``) and
    ``("defer", host, [key, ...])``."""

    def __init__(self, settings: Settings, count: int, *, base: datetime,
                 rng: random.Random) -> None:
        self._settings = settings
        self._count = count
        self._base = base
        self._rng = rng
        self._workers: list[_Worker] = []
        self.lost = 0  # workers that ended without being asked to

    @property
    def live(self) -> int:
        return len(self._workers)

    def __enter__(self) -> Shards:
        try:
            for _ in range(self._count):
                self._workers.append(self._start())
        except BaseException:
            self._shutdown()
            raise
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._shutdown()

    def _start(self) -> _Worker:
        mine, theirs = socket.socketpair()
        try:
            proc = subprocess.Popen(  # noqa: S603 - this interpreter, our own module
                [sys.executable, "-c", _ENTRY, str(theirs.fileno())],
                pass_fds=(theirs.fileno(),), stdin=subprocess.DEVNULL, close_fds=True)
        except BaseException:
            mine.close()
            raise
        finally:
            theirs.close()
        conn = Connection(mine.detach())
        conn.send((self._settings, self._rng.getrandbits(64), self._base))
        return _Worker(proc, conn)

    async def run(self, groups: Sequence[Lanes], stop: threading.Event,
                  deliver: Callable[[Message], None]) -> None:
        """Send one group to each worker and ``deliver`` their messages, from this event
        loop, until all said done (or, after ``stop``, the grace period of one check
        deadline has passed)."""
        loop = asyncio.get_running_loop()
        busy: dict[Connection, _Worker] = {}
        changed = asyncio.Event()
        for worker, group in zip(self._workers, groups, strict=False):
            jobs: JobData = [(host, [(j.key, j.url, j.fetch_body, j.canonical) for j in queue])
                             for host, queue in group.items()]
            worker.conn.send(("jobs", jobs))
            busy[worker.conn] = worker

        def readable(conn: Connection) -> None:
            def unwatch() -> None:
                loop.remove_reader(conn.fileno())

            self._receive(conn, busy, deliver, unwatch)
            changed.set()

        for conn in busy:
            _watch(loop, conn, readable, conn)
        try:
            await self._until_done(busy, changed, stop)
        finally:
            for conn in busy:
                loop.remove_reader(conn.fileno())

    async def _until_done(self, busy: dict[Connection, _Worker], changed: asyncio.Event,
                          stop: threading.Event) -> None:
        give_up: float | None = None
        while busy:
            if stop.is_set() and give_up is None:
                give_up = time.monotonic() + self._settings.check.timeout_s + STOP_GRACE_S
                for conn in busy:
                    _tell_stop(conn)
            if give_up is not None and time.monotonic() > give_up:
                log.warning("check workers did not stop within the grace period")
                return
            changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), WAIT_S)

    def _receive(self, conn: Connection, busy: dict[Connection, _Worker],
                 deliver: Callable[[Message], None], unwatch: Callable[[], None]) -> None:
        try:
            batch: list[Message] = conn.recv()
        except (EOFError, OSError):
            unwatch()
            worker = busy.pop(conn)
            self._workers.remove(worker)
            self.lost += 1
            code = _end(worker)
            log.error("a check worker ended unexpectedly (exit code %s); "
                      "its unchecked links stay due", code)
            return
        for message in batch:
            if message[0] == "done":
                unwatch()
                busy.pop(conn, None)
            else:
                deliver(message)

    def _shutdown(self) -> None:
        for worker in self._workers:
            _tell_stop(worker.conn)
        for worker in self._workers:
            _end(worker)
        self._workers.clear()


def _watch(loop: asyncio.AbstractEventLoop, conn: Connection,
           callback: Callable[..., None], *args: Any) -> None:
    """Call ``callback(*args)`` when ``conn`` has a message. The callback reads the whole
    message with a blocking ``recv``: uvloop makes a watched descriptor non-blocking,
    which would cut a large message short, so it is set back to blocking."""
    loop.add_reader(conn.fileno(), callback, *args)
    os.set_blocking(conn.fileno(), True)


def _tell_stop(conn: Connection) -> None:
    try:
        conn.send("stop")
    except (OSError, ValueError):
        pass  # the worker is gone already


def _end(worker: _Worker) -> int | None:
    """Wait for a worker to exit (terminate, then kill, if it does not); its exit code."""
    try:
        for finish in (None, worker.proc.terminate, worker.proc.kill):
            if finish is not None:
                finish()
            try:
                return worker.proc.wait(EXIT_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                continue
        return worker.proc.wait()
    finally:
        worker.conn.close()


# -- the worker process -------------------------------------------------------------------
def serve(fd: int) -> None:
    """A worker process's entry point: take jobs from the socket ``fd`` until told to stop
    (or the parent is gone), send back results."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when to stop
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    conn = Connection(fd)
    try:
        settings, seed, base = conn.recv()
        run_loop(_work(conn, settings, seed, base))
    except (EOFError, OSError):
        pass  # the parent is gone
    finally:
        conn.close()


class _Outbox:
    def __init__(self, conn: Connection, stop: threading.Event) -> None:
        self.conn, self.stop = conn, stop
        self.items: list[Message] = []

    def add(self, message: Message) -> None:
        self.items.append(message)
        if len(self.items) >= SEND_EVERY:
            self.send()

    def send(self) -> None:
        if self.items:
            items, self.items = self.items, []
            try:
                self.conn.send(items)
            except (OSError, ValueError):
                self.stop.set()  # the parent is gone: stop taking URLs


async def _work(conn: Connection, settings: Settings, seed: int, base: datetime) -> None:
    from linkwatch.check import open_context
    from linkwatch.check.lanes import run_lanes

    loop = asyncio.get_running_loop()
    stop = threading.Event()
    inbox: asyncio.Queue[Any] = asyncio.Queue()

    def on_message() -> None:
        try:
            message = conn.recv()
        except (EOFError, OSError):
            message = "stop"  # the parent is gone
        if message == "stop":
            loop.remove_reader(conn.fileno())
            stop.set()
        inbox.put_nowait(message)

    _watch(loop, conn, on_message)
    outbox = _Outbox(conn, stop)
    started = time.monotonic()

    def clock() -> datetime:
        return base + timedelta(seconds=time.monotonic() - started)

    async def tick() -> None:
        while True:
            await asyncio.sleep(SEND_INTERVAL_S)
            outbox.send()

    async with open_context(settings, clock, rng=random.Random(seed)) as ctx:  # noqa: S311
        ticker = asyncio.create_task(tick())
        try:
            while not stop.is_set():
                message = await inbox.get()
                if message == "stop":
                    break
                await run_lanes(
                    ctx, _lanes(message[1]), stop,
                    lambda job, result: outbox.add(("result", job.key, pack(result))),
                    lambda host, jobs: outbox.add(("defer", host, [j.key for j in jobs])))
                outbox.add(("done",))
                outbox.send()
        finally:
            ticker.cancel()
            loop.remove_reader(conn.fileno())


def pack(result: CheckResult) -> tuple[Any, ...]:
    """A result as a plain tuple without its URL (the parent knows it): a third of the
    pickling cost of the dataclass."""
    final_url = True if result.final_url == result.url else result.final_url
    return (result.outcome.value, result.checked_at, result.status, final_url, result.redirects,
            result.permanent_redirect, result.elapsed_ms, result.error, result.retry_after_s,
            result.title, result.content_hash)


def unpack(url: str, packed: tuple[Any, ...]) -> CheckResult:
    """``pack``'s inverse, given the URL the result is for."""
    (outcome, at, status, final_url, redirects, permanent, elapsed_ms, error, retry_after_s,
     title, content_hash) = packed
    return CheckResult(url, Outcome(outcome), at, status, url if final_url is True else final_url,
                       redirects, permanent, elapsed_ms, error, retry_after_s, title,
                       content_hash)


def _lanes(jobs: JobData) -> Lanes:
    return {host: collections.deque(Job(key, url, host, body, canonical)
                                    for key, url, body, canonical in items)
            for host, items in jobs}
