"""Checking benchmark: linkwatch vs lychee on the same 10,000 URLs of the simulated web.

Starts ``python -m tests.kit.simweb`` (40 hosts on 127.0.0.2.., 20 ms per response) in its
own process, writes one URL list, and runs both checkers on it as child processes with
the same limits: 2 requests in flight per host, 80 in total (hosts x per-host), no
per-host spacing (``host_interval_s = 0`` / ``--host-request-interval 0ms``: this compares
raw speed at equal concurrency; linkwatch's default spacing is 1 s). linkwatch runs with
each ``check.workers`` value given (default: 1 and 2). Wall and CPU time (user +
system of the child and every descendant it waited for, so linkwatch's check workers are
counted) come from ``os.wait4``; peak memory is the resident size of the whole process
tree, sampled every 20 ms. Every round runs every tool once, lychee first; the table shows
the median round. "False broken" counts live pages (everything but ``/gone/``) reported as
broken (or soft 404, for linkwatch).

    .venv/bin/python bench/check_bench.py [--urls 10000] [--hosts 40] [--latency-ms 20]
                                          [--repeat 3] [--workers 1 2]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
PER_HOST = 2


def start_web(hosts: int, latency_ms: float) -> tuple[subprocess.Popen[str], int]:
    proc = subprocess.Popen(  # noqa: S603 - our own interpreter and module
        [sys.executable, "-m", "tests.kit.simweb", "--hosts", str(hosts),
         "--latency-ms", str(latency_ms)],
        cwd=ROOT, stdout=subprocess.PIPE, text=True,
    )
    assert proc.stdout is not None
    info = json.loads(proc.stdout.readline())
    return proc, int(info["port"])


def make_urls(count: int, hosts: int, port: int) -> tuple[list[str], set[str]]:
    """Mostly live pages, some redirects and HEAD-refusing pages, 2 % really gone."""
    urls, gone = [], set()
    for n in range(count):
        host = f"127.0.0.{2 + n % hosts}"
        kind = n % 50
        if kind == 0:
            path = f"/gone/g{n}"
        elif kind < 4:
            path = f"/redirect/301/ok/r{n}"
        elif kind < 7:
            path = f"/head405/h{n}"
        else:
            path = f"/ok/p{n}"
        url = f"http://{host}:{port}{path}"
        urls.append(url)
        if kind == 0:
            gone.add(url)
    return urls, gone


def _tree_rss_kib(pid: int) -> int:
    """Resident memory of ``pid`` and all its descendants (Linux /proc)."""
    total, todo, seen = 0, [pid], set[int]()
    while todo and len(seen) < 64:
        current = todo.pop()
        seen.add(current)
        try:
            status = Path(f"/proc/{current}/status").read_text()
            for task in Path(f"/proc/{current}/task").iterdir():
                todo.extend(int(c) for c in (task / "children").read_text().split())
        except OSError:
            continue
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1])
    return total


def measure(cmd: list[str], out: Path, cwd: Path) -> dict[str, Any]:
    """Wall, CPU (the process and every descendant it waited for: linkwatch's check
    workers included) and peak resident memory of the whole process tree (sampled every
    20 ms: the parent and its workers together)."""
    peak = [0]
    started = time.monotonic()
    with out.open("w") as sink:
        proc = subprocess.Popen(cmd, cwd=cwd, stdout=sink,  # noqa: S603 - fixed tools
                                stderr=subprocess.DEVNULL)
        done = threading.Event()

        def sample() -> None:
            while not done.wait(0.02):
                peak[0] = max(peak[0], _tree_rss_kib(proc.pid))

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        _, status, usage = os.wait4(proc.pid, 0)
        done.set()
        sampler.join()
    wall = time.monotonic() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    return {"wall_s": wall, "cpu_s": usage.ru_utime + usage.ru_stime,
            "peak_rss_mib": max(peak[0], usage.ru_maxrss) / 1024, "exit": proc.returncode}


def write_config(work: Path, hosts: int, workers: int) -> Path:
    config = work / f"linkwatch-w{workers}.toml"
    config.write_text(
        "[state]\npath = \"bench.db\"\n[check]\n"
        f"allow_networks = [\"127.0.0.0/8\"]\nper_host = {PER_HOST}\n"
        f"concurrency = {hosts * PER_HOST}\nhost_interval_s = 0.0\ntimeout_s = 20.0\n"
        f"workers = {workers}\n",
        encoding="utf-8",
    )
    return config


def run_linkwatch(
    urls_file: Path, work: Path, config: Path
) -> tuple[dict[str, Any], dict[str, str]]:
    """Ad-hoc URLs (no database: the state file does not exist yet)."""
    out = work / "linkwatch.jsonl"
    figures = measure([str(BIN / "linkwatch"), "--config", str(config), "-q", "check",
                       "--urls", str(urls_file), "--format", "jsonl"], out, work)
    return figures, _outcomes(out)


def seed_links(db: Path, urls: list[str]) -> None:
    """The URLs as known links (what a scan records), for the daemon-style runs."""
    sys.path.insert(0, str(ROOT))
    from linkwatch.clock import iso, system_clock
    from linkwatch.store import open_store
    from linkwatch.urls import canonicalize, host_of

    store = open_store(db)
    try:
        now = iso(system_clock())
        with store.write() as tables:
            tables.table("links").insert_all(
                {"url": canonicalize(u), "host": host_of(u), "first_seen_at": now} for u in urls)
    finally:
        store.close()


def run_linkwatch_db(
    work: Path, config: Path, urls: list[str]
) -> list[tuple[dict[str, Any], dict[str, str]]]:
    """``check --all`` twice on a fresh database: first sight (GET, fingerprint, soft-404
    probe), then the steady state of a daemon (alive, fingerprinted links: a HEAD each)."""
    for stale in work.glob("bench.db*"):
        stale.unlink()
    seed_links(work / "bench.db", urls)
    runs = []
    for n in (1, 2):
        out = work / f"db{n}.jsonl"
        figures = measure([str(BIN / "linkwatch"), "--config", str(config), "-q", "check",
                           "--all", "--format", "jsonl"], out, work)
        runs.append((figures, _outcomes(out)))
    return runs


def _outcomes(jsonl: Path) -> dict[str, str]:
    outcomes = {}
    for line in jsonl.read_text().splitlines():
        record = json.loads(line)
        outcomes[record["url"]] = record["outcome"]
    return outcomes


def run_lychee(urls_file: Path, work: Path, hosts: int) -> tuple[dict[str, Any], set[str]]:
    out = work / "lychee.json"
    figures = measure([
        str(BIN / "lychee"), "--no-progress", "--format", "json", "--output", str(out),
        "--host-concurrency", str(PER_HOST), "--max-concurrency", str(hosts * PER_HOST),
        "--host-request-interval", "0ms", "--max-retries", "0", "--timeout", "20",
        str(urls_file)], work / "lychee.stdout", work)
    report = json.loads(out.read_text())
    failed = {e["url"] for entries in report.get("error_map", {}).values() for e in entries}
    failed |= {e["url"] for entries in report.get("timeout_map", {}).values() for e in entries}
    return figures, failed


def _median(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The median run by wall time, with the range of wall times."""
    ordered = sorted(runs, key=lambda f: f["wall_s"])
    row = dict(ordered[len(ordered) // 2])
    row["wall_range"] = (ordered[0]["wall_s"], ordered[-1]["wall_s"])
    row["cpu_median_s"] = statistics.median(f["cpu_s"] for f in runs)
    return row


def one_round(
    work: Path, urls_file: Path, urls: list[str], hosts: int, workers: list[int]
) -> dict[str, tuple[dict[str, Any], dict[str, str]]]:
    """Every tool once, lychee first (the same simulated web, one after another)."""
    found: dict[str, Any] = {}
    ly, failed = run_lychee(urls_file, work, hosts)
    found["lychee"] = (ly, failed)
    for n in workers:
        config = write_config(work, hosts, n)
        label = "auto" if n == 0 else str(n)
        for stale in work.glob("bench.db*"):
            stale.unlink()
        found[f"linkwatch, ad-hoc URLs (workers {label})"] = run_linkwatch(
            urls_file, work, config)
        first, steady = run_linkwatch_db(work, config, urls)
        found[f"linkwatch, database first check (workers {label})"] = first
        found[f"linkwatch, database recheck: HEAD (workers {label})"] = steady
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--urls", type=int, default=10_000)
    parser.add_argument("--hosts", type=int, default=40)
    parser.add_argument("--latency-ms", type=float, default=20.0)
    parser.add_argument("--repeat", type=int, default=3, help="rounds; the median is shown")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2],
                        help="check.workers values to run (0: automatic)")
    args = parser.parse_args()
    web, port = start_web(args.hosts, args.latency_ms)
    rounds: list[dict[str, Any]] = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            work = Path(tmp)
            urls, gone = make_urls(args.urls, args.hosts, port)
            urls_file = work / "urls.txt"
            urls_file.write_text("\n".join(urls) + "\n")
            for _ in range(max(1, args.repeat)):
                rounds.append(one_round(work, urls_file, urls, args.hosts, args.workers))
    finally:
        web.terminate()
        web.wait(10)
    limit = args.hosts * PER_HOST / (args.latency_ms / 1000)
    live = [u for u in urls if u not in gone]
    rows: dict[str, Any] = {}
    for name in rounds[0]:
        runs = []
        for found in rounds:
            figures, seen = found[name]
            figures = dict(figures)
            if name == "lychee":
                figures["false_broken"] = sum(u in seen for u in live)
                figures["missed_gone"] = sum(u not in seen for u in gone)
            else:
                figures["false_broken"] = sum(seen.get(u) in ("broken", "soft404") for u in live)
                figures["missed_gone"] = sum(seen.get(u) != "broken" for u in gone)
            if name != "lychee":
                figures["results"] = len(seen)
                if len(seen) != len(urls):
                    print(f"warning: {name}: {len(seen)} results for {len(urls)} URLs "
                          f"(wall {figures['wall_s']:.2f} s, exit {figures['exit']})")
            runs.append(figures)
        rows[name] = _median(runs)
    print(f"{args.urls} URLs, {args.hosts} hosts, {args.latency_ms:g} ms latency, "
          f"{PER_HOST} per host; theoretical limit {limit:.0f} URLs/s; "
          f"median of {len(rounds)} rounds; {os.cpu_count()} CPUs; "
          f"load average {os.getloadavg()[0]:.2f}")
    print("| run | wall s (range) | CPU s | peak RSS MiB | URLs/s | % of limit | false broken |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for name, f in rows.items():
        rate = args.urls / f["wall_s"]
        low, high = f["wall_range"]
        print(f"| {name} | {f['wall_s']:.2f} ({low:.2f}-{high:.2f}) | {f['cpu_median_s']:.2f} "
              f"| {f['peak_rss_mib']:.0f} | {rate:.0f} | {100 * rate / limit:.0f} % "
              f"| {f['false_broken']} |")
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
