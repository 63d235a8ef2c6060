"""Checking in several worker processes, sharded by host: ``Shards``.

One Python process spends ~0.5 ms of CPU per request (HTTP, body, fingerprint), so a large
batch is CPU-bound on one core long before the politeness limits bind. The batch's hosts
are split over ``check.workers`` processes (a host never spans two, so per-host
concurrency and spacing stay exact; the global ``check.concurrency`` is divided in
proportion to each shard's lanes). Each worker runs its own event loop and one shared
client over ``run_lanes`` and streams its results back in small batches; the parent
judges them and alone writes the store.

Processes are started with the ``spawn`` method, not forked (a forked copy of a process
that may hold an open SQLite connection and threads is unsafe; the fork server would leave
the workers' CPU time uncounted in the parent's usage), and get only plain data: the
settings, their jobs, a seed and the starting instant of the parent's clock (a worker's
clock runs on from it). Workers ignore SIGINT and SIGTERM: the parent tells them to stop
(``stop`` Event), after which they start no new URL and finish what is in flight within
its deadline; a worker whose parent vanished (closed pipe) stops the same way. Every exit
path joins the workers, terminating any that outlive the grace period.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import logging
import math
import multiprocessing
import multiprocessing.connection
import os
import random
import signal
import threading
import time
from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta
from types import TracebackType
from typing import Any

from linkwatch.check.lanes import Job, Lanes
from linkwatch.config import Settings

log = logging.getLogger(__name__)

MAX_WORKERS = 4
SEND_EVERY = 64  # results per message at most
SEND_INTERVAL_S = 0.02
STOP_GRACE_S = 5.0
JOIN_TIMEOUT_S = 5.0
WAIT_S = 0.1

Message = tuple[Any, ...]


def worker_count(configured: int) -> int:
    """``check.workers``: 0 means min(CPUs, 4); 1 means in-process."""
    if configured > 0:
        return configured
    return max(1, min(os.cpu_count() or 1, MAX_WORKERS))


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


def _shard_settings(settings: Settings, group: Lanes, total_lanes: int) -> Settings:
    cs = settings.check
    per_host = max(1, cs.per_host)
    mine = sum(min(per_host, len(q)) for q in group.values())
    share = max(1, math.ceil(cs.concurrency * mine / max(1, total_lanes)))
    return dataclasses.replace(settings, check=dataclasses.replace(cs, concurrency=share))


class Shards:
    """Worker processes over host groups; iterate ``messages(stop)`` for their results.

    Messages: ``("result", key, CheckResult)`` and ``("defer", host, [key, ...])``.
    """

    def __init__(self, settings: Settings, groups: Sequence[Lanes], *, base: datetime,
                 rng: random.Random) -> None:
        self._settings = settings
        self._groups = groups
        self._base = base
        self._seeds = [rng.getrandbits(64) for _ in groups]
        self._procs: dict[multiprocessing.connection.Connection, Any] = {}
        self.lost = 0  # workers that ended without saying they were done

    def __enter__(self) -> Shards:
        context = multiprocessing.get_context("spawn")
        per_host = max(1, self._settings.check.per_host)
        total = sum(min(per_host, len(q)) for g in self._groups for q in g.values())
        try:
            for group, seed in zip(self._groups, self._seeds, strict=True):
                mine, theirs = context.Pipe(duplex=True)
                jobs = [(host, [(j.key, j.url, j.fetch_body) for j in queue])
                        for host, queue in group.items()]
                proc = context.Process(
                    target=work, name="linkwatch-check", daemon=True,
                    args=(theirs, _shard_settings(self._settings, group, total), jobs, seed,
                          self._base))
                proc.start()
                theirs.close()
                self._procs[mine] = proc
        except BaseException:
            self._shutdown()
            raise
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._shutdown()

    def messages(self, stop: threading.Event) -> Iterator[Message]:
        """Every worker's messages until all are done (or, after ``stop``, the grace
        period of one check deadline has passed)."""
        live = dict(self._procs)
        give_up: float | None = None
        while live:
            if stop.is_set() and give_up is None:
                give_up = time.monotonic() + self._settings.check.timeout_s + STOP_GRACE_S
                for conn in live:
                    _tell_stop(conn)
            if give_up is not None and time.monotonic() > give_up:
                log.warning("check workers did not stop within the grace period")
                return
            for ready in multiprocessing.connection.wait(list(live), timeout=WAIT_S):
                assert isinstance(ready, multiprocessing.connection.Connection)
                conn = ready
                try:
                    batch: list[Message] = conn.recv()
                except (EOFError, OSError):
                    self.lost += 1
                    proc = live.pop(conn)
                    proc.join(JOIN_TIMEOUT_S)
                    log.error("a check worker ended unexpectedly (exit code %s); "
                              "its unchecked links stay due", proc.exitcode)
                    continue
                for message in batch:
                    if message[0] == "done":
                        live.pop(conn, None)
                    else:
                        yield message

    def _shutdown(self) -> None:
        for conn in self._procs:
            _tell_stop(conn)
        for proc in self._procs.values():
            proc.join(JOIN_TIMEOUT_S)
            if proc.is_alive():
                proc.terminate()
                proc.join(JOIN_TIMEOUT_S)
            if proc.is_alive():
                proc.kill()
                proc.join()
            proc.close()
        for conn in self._procs:
            conn.close()
        self._procs.clear()


def _tell_stop(conn: multiprocessing.connection.Connection) -> None:
    try:
        conn.send("stop")
    except (OSError, ValueError):
        pass  # the worker is gone already


# -- the worker process -------------------------------------------------------------------
def work(conn: multiprocessing.connection.Connection, settings: Settings,
         jobs: list[tuple[str, list[tuple[int, str, bool]]]], seed: int,
         base: datetime) -> None:
    """A worker process's entry point: check ``jobs``, send results to ``conn``."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when to stop
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    lanes: Lanes = {host: collections.deque(Job(key, url, host, body) for key, url, body in items)
                    for host, items in jobs}
    try:
        asyncio.run(_work(conn, settings, lanes, seed, base))
    finally:
        conn.close()


class _Outbox:
    def __init__(self, conn: multiprocessing.connection.Connection,
                 stop: threading.Event) -> None:
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


async def _work(conn: multiprocessing.connection.Connection, settings: Settings,
                lanes: Lanes, seed: int, base: datetime) -> None:
    from linkwatch.check import open_context
    from linkwatch.check.lanes import run_lanes

    loop = asyncio.get_running_loop()
    stop = threading.Event()

    def on_message() -> None:  # "stop", or end of file when the parent is gone
        loop.remove_reader(conn.fileno())
        stop.set()

    loop.add_reader(conn.fileno(), on_message)
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
            await run_lanes(
                ctx, lanes, stop,
                lambda job, result: outbox.add(("result", job.key, result)),
                lambda host, jobs: outbox.add(("defer", host, [j.key for j in jobs])))
        finally:
            ticker.cancel()
    outbox.items.append(("done",))
    outbox.send()
