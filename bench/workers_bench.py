"""Scaling-out benchmark: 1, 2 and 4 ``linkwatch worker`` processes on one PostgreSQL
database, against the same simulated web, with lychee on the same URLs in the same run.

Starts a throwaway PostgreSQL cluster (``tests.kit.pgcluster``: the distribution's
binaries, a Unix socket in a temp dir) and ``python -m tests.kit.simweb`` (``--hosts``
hosts on 127.0.0.2.., ``--latency-ms`` per response). For each worker count it creates a
fresh database, records the same ``--urls`` links, and starts N ``linkwatch worker --once
--checks-only`` processes at once; wall time runs until the last one exits. Every check
keeps the per-host limit (2) and spacing (``--interval-ms``), and the simulated web
referees it: requests,
and every politeness rule broken across all workers together. CPU is user + system of
the workers (``os.wait4``); the PostgreSQL server's CPU (postmaster and every backend,
which come and go with the workers' connections) is sampled from ``/proc/<pid>/stat``
every 50 ms (a backend's last 50 ms before it exits can be missed).

lychee runs once per round on the same URL list with the same per-host limit and spacing
and the same concurrency (``--host-concurrency``, ``--host-request-interval``,
``--max-concurrency``): the single-process reference.

    .venv/bin/python bench/workers_bench.py [--urls 2000] [--hosts 40] [--latency-ms 20]
                                            [--workers 1,2,4] [--interval-ms 100]
                                            [--concurrency 16]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.check_bench import BIN, admin, start_web  # noqa: E402
from tests.kit.pgcluster import PgCluster  # noqa: E402

PER_HOST = 2


def _cpu_ticks(pids: list[int]) -> int:
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime + stime
    return total


def _server_pids(cluster: PgCluster) -> list[int]:
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if int(entry.name) == cluster.pid or ppid == cluster.pid:
            out.append(int(entry.name))
    return out


CONCURRENCY = [16]


def write_config(work: Path, url: str, interval_ms: int) -> Path:
    path = work / "linkwatch.toml"
    path.write_text(
        f'[state]\nurl = "{url}"\n'
        '[check]\nallow_networks = ["127.0.0.0/8"]\n'
        f"host_interval_s = {interval_ms / 1000}\nper_host = {PER_HOST}\ntimeout_s = 20.0\n"
        f"concurrency = {CONCURRENCY[0]}\n"
        '[worker]\nlease = "30s"\nidle = "0.2s"\n',
        encoding="utf-8",
    )
    return path


def seed(url: str, urls: list[str]) -> None:
    from linkwatch.store import open_store
    from linkwatch.urls import canonicalize, host_of

    with open_store(url) as store, store.write() as db:
        db.executemany(
            "INSERT INTO links (url, host, first_seen_at) VALUES (?, ?, ?)",
            [(canonicalize(u), host_of(canonicalize(u)), "2026-01-01T00:00:00Z") for u in urls],
        )


def run_workers(cluster: PgCluster, n: int, urls: list[str], work: Path, interval_ms: int,
                port: int) -> dict[str, Any]:  # fmt: skip
    url = cluster.database("bench")
    seed(url, urls)
    config = write_config(work, url, interval_ms)
    admin(port, "reset")
    seen: dict[int, int] = {}  # the server's processes (backends come and go): ticks
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.05):
            for pid in _server_pids(cluster):
                seen[pid] = max(seen.get(pid, 0), _cpu_ticks([pid]))

    before = {pid: _cpu_ticks([pid]) for pid in _server_pids(cluster)}
    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    started = time.monotonic()
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "linkwatch",
                "--config",
                str(config),
                "worker",
                "--once",
                "--checks-only",
                "--format",
                "json",
            ],
            cwd=work,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )  # fmt: skip
        for _ in range(n)
    ]
    cpu = 0.0
    checked = []
    for p in procs:
        _, _status, usage = os.wait4(p.pid, 0)
        cpu += usage.ru_utime + usage.ru_stime
        assert p.stdout is not None
        checked.append(json.loads(p.stdout.read() or "{}").get("checked", 0))
    wall = time.monotonic() - started
    done.set()
    sampler.join()
    ticks = sum(t - before.get(pid, 0) for pid, t in seen.items())
    server_cpu = ticks / os.sysconf("SC_CLK_TCK")
    stats = admin(port, f"stats?per_host={PER_HOST}&interval_s={interval_ms / 1000}")
    return {
        "tool": f"linkwatch, {n} worker{'s' if n > 1 else ''}",
        "wall_s": round(wall, 2),
        "cpu_s": round(cpu, 2),
        "db_cpu_s": round(server_cpu, 2),
        "checked": sum(checked),
        "per_worker": checked,
        "requests": stats["requests"],
        "violations": stats["violations"],
    }


def run_lychee(urls: list[str], work: Path, interval_ms: int, port: int) -> dict[str, Any]:
    listing = work / "urls.txt"
    listing.write_text("\n".join(urls) + "\n")
    admin(port, "reset")
    started = time.monotonic()
    proc = subprocess.Popen(
        [str(BIN / "lychee"), "--no-progress", "--format", "json", "--output",
         str(work / "lychee.json"), "--host-concurrency", str(PER_HOST),
         "--host-request-interval", f"{interval_ms}ms", "--max-concurrency",
         str(CONCURRENCY[0]), "--timeout", "20", str(listing)],
        cwd=work, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    _, _status, usage = os.wait4(proc.pid, 0)
    wall = time.monotonic() - started
    stats = admin(port, f"stats?per_host={PER_HOST}&interval_s={interval_ms / 1000}")
    return {
        "tool": "lychee (one process)",
        "wall_s": round(wall, 2),
        "cpu_s": round(usage.ru_utime + usage.ru_stime, 2),
        "db_cpu_s": None,
        "checked": len(urls),
        "per_worker": [],
        "requests": stats["requests"],
        "violations": stats["violations"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--urls", type=int, default=2000)
    parser.add_argument("--hosts", type=int, default=40)
    parser.add_argument("--latency-ms", type=float, default=20)
    parser.add_argument("--interval-ms", type=int, default=100)
    parser.add_argument("--workers", default="1,2,4")
    parser.add_argument("--concurrency", type=int, default=16, help="check.concurrency")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    CONCURRENCY[0] = args.concurrency
    web, port = start_web(args.hosts, args.latency_ms)
    cluster = PgCluster().start()
    rows = []
    try:
        urls = [f"http://127.0.0.{2 + n % args.hosts}:{port}/ok/w{n}" for n in range(args.urls)]
        with tempfile.TemporaryDirectory(prefix="lw-workers-") as tmp:
            work = Path(tmp)
            if (BIN / "lychee").exists():
                rows.append(run_lychee(urls, work, args.interval_ms, port))
            for n in (int(x) for x in args.workers.split(",")):
                rows.append(run_workers(cluster, n, urls, work, args.interval_ms, port))
    finally:
        cluster.stop()
        web.terminate()
        web.wait(10)
    floor = args.urls / args.hosts * args.interval_ms / 1000
    if args.json:
        print(json.dumps({"floor_s": floor, "rows": rows}, indent=2))
        return
    print(f"{args.urls} URLs on {args.hosts} hosts, {PER_HOST} per host, "
          f"{args.interval_ms} ms apart; politeness floor {floor:.1f} s")  # fmt: skip
    print(f"{'tool':<24} {'wall s':>7} {'CPU s':>6} {'DB CPU s':>8} {'checked':>8} "
          f"{'requests':>8} {'broken rules':>12}  per worker")  # fmt: skip
    for r in rows:
        db_cpu = "" if r["db_cpu_s"] is None else f"{r['db_cpu_s']:.2f}"
        print(f"{r['tool']:<24} {r['wall_s']:>7.2f} {r['cpu_s']:>6.2f} {db_cpu:>8} "
              f"{r['checked']:>8} {r['requests']:>8} {r['violations']:>12}  "
              f"{r['per_worker']}")  # fmt: skip


if __name__ == "__main__":
    main()
