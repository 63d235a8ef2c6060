"""Checking benchmark: linkwatch vs lychee on the same 10,000 URLs of the simulated web.

Starts ``python -m tests.kit.simweb`` (40 hosts on 127.0.0.2.., 20 ms per response) in its
own process, writes one URL list (2 % gone, 2 % answering ``503 Retry-After: 2`` once, 6 %
redirects, 6 % refusing HEAD, the rest pages) and runs both checkers on it as child
processes with the same limits: 64 requests in flight, 2 per host, no per-host spacing
(``host_interval_s = 0`` / ``--host-request-interval 0ms``: raw speed at equal
concurrency). The simulated web is the referee: before each client it is reset, after it
it reports how many of the URLs were requested at all and every politeness rule broken.
Wall and CPU time (user + system of the child and its descendants) come from
``os.wait4``; peak memory is the resident size of the process tree, sampled every 20 ms.
Every round runs every tool once, lychee first; the table shows the median round. "False
broken" counts live pages reported broken (or soft 404); "missed broken" gone pages not
reported broken.

The floor: no client can be faster than the busiest host's requests at 2 per host plus
its ``Retry-After`` windows (each 503 pauses its host 2 s), nor than all requests at 64 in
flight. ``--politeness`` also runs linkwatch with its default politeness (2 per host,
1 s apart) against the politeness floor (URLs per host x spacing).

    .venv/bin/python bench/check_bench.py [--urls 10000] [--hosts 40] [--latency-ms 20]
                                          [--repeat 3] [--politeness]
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
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
PER_HOST = 2
IN_FLIGHT = 64
RETRY_AFTER_S = 2


def start_web(hosts: int, latency_ms: float) -> tuple[subprocess.Popen[str], int]:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.kit.simweb",
            "--hosts",
            str(hosts),
            "--latency-ms",
            str(latency_ms),
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    info = json.loads(proc.stdout.readline())
    return proc, int(info["port"])


def admin(port: int, what: str) -> dict[str, Any]:
    """The simulated web's referee door (``/__simweb/stats``, ``/__simweb/reset``)."""
    with urllib.request.urlopen(
        f"http://127.0.0.2:{port}/__simweb/{what}",
        timeout=10,
    ) as answer:
        return dict(json.loads(answer.read()))


def make_urls(count: int, hosts: int, port: int) -> tuple[list[str], set[str]]:
    """Mostly live pages, some redirects and HEAD-refusing pages, 2 % transient 503s with
    ``Retry-After``, 2 % really gone."""
    urls, gone = [], set()
    for n in range(count):
        host = f"127.0.0.{2 + n % hosts}"
        kind = (n // hosts) % 50  # every host gets every kind
        if kind == 0:
            path = f"/gone/g{n}"
        elif kind == 1:
            path = f"/unavailable-once/{RETRY_AFTER_S}/u{n}"
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
        proc = subprocess.Popen(
            cmd,
            cwd=cwd,
            stdout=sink,
            stderr=subprocess.DEVNULL,
        )
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
    return {
        "wall_s": wall,
        "cpu_s": usage.ru_utime + usage.ru_stime,
        "peak_rss_mib": max(peak[0], usage.ru_maxrss) / 1024,
        "exit": proc.returncode,
    }


def write_config(work: Path, polite: bool = False) -> Path:
    config = work / ("linkwatch-polite.toml" if polite else "linkwatch.toml")
    limits = "" if polite else f"concurrency = {IN_FLIGHT}\nhost_interval_s = 0.0\n"
    config.write_text(
        '[state]\npath = "bench.db"\n[check]\n'
        f'allow_networks = ["127.0.0.0/8"]\nper_host = {PER_HOST}\n{limits}'
        "timeout_s = 20.0\n",
        encoding="utf-8",
    )
    return config


def run_linkwatch(
    urls_file: Path, work: Path, config: Path
) -> tuple[dict[str, Any], dict[str, str]]:
    """Ad-hoc URLs (no database: the state file does not exist yet)."""
    out = work / "linkwatch.jsonl"
    figures = measure(
        [
            str(BIN / "linkwatch"),
            "--config",
            str(config),
            "-q",
            "check",
            "--urls",
            str(urls_file),
            "--format",
            "jsonl",
        ],
        out,
        work,
    )
    return figures, _outcomes(out)


def seed_links(db: Path, urls: list[str]) -> None:
    """The URLs as known links (what a scan records), for the daemon-style runs."""
    sys.path.insert(0, str(ROOT))
    from sqlite_utils import Database

    from linkwatch.clock import iso, system_clock
    from linkwatch.store import open_store
    from linkwatch.urls import canonicalize, host_of

    store = open_store(db)
    try:
        now = iso(system_clock())
        with store.write() as conn:  # a SQLite state: sqlite-utils' bulk inserts
            Database(conn)["links"].insert_all(
                {"url": canonicalize(u), "host": host_of(u), "first_seen_at": now} for u in urls
            )
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
        figures = measure(
            [
                str(BIN / "linkwatch"),
                "--config",
                str(config),
                "-q",
                "check",
                "--all",
                "--format",
                "jsonl",
            ],
            out,
            work,
        )
        runs.append((figures, _outcomes(out)))
    return runs


def _outcomes(jsonl: Path) -> dict[str, str]:
    outcomes = {}
    for line in jsonl.read_text().splitlines():
        record = json.loads(line)
        outcomes[record["url"]] = record["outcome"]
    return outcomes


def run_lychee(urls_file: Path, work: Path) -> tuple[dict[str, Any], set[str]]:
    out = work / "lychee.json"
    figures = measure(
        [
            str(BIN / "lychee"),
            "--no-progress",
            "--format",
            "json",
            "--output",
            str(out),
            "--host-concurrency",
            str(PER_HOST),
            "--max-concurrency",
            str(IN_FLIGHT),
            "--host-request-interval",
            "0ms",
            "--timeout",
            "20",
            str(urls_file),
        ],
        work / "lychee.stdout",
        work,
    )
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
    work: Path, urls_file: Path, urls: list[str], port: int
) -> dict[str, tuple[dict[str, Any], Any]]:
    """Every tool once, lychee first (the same simulated web, reset before each)."""
    found: dict[str, Any] = {}
    config = write_config(work)

    def refereed(name: str, go: Any) -> None:
        admin(port, "reset")
        runs = go()
        for n, (figures, seen) in enumerate(runs if isinstance(runs, list) else [runs]):
            if n == 0:
                figures.update(admin(port, f"stats?per_host={PER_HOST}"))
            found[name if n == 0 else f"{name} (recheck: HEAD)"] = (figures, seen)

    refereed("lychee", lambda: run_lychee(urls_file, work))
    for stale in work.glob("bench.db*"):
        stale.unlink()
    refereed("linkwatch, ad-hoc URLs", lambda: run_linkwatch(urls_file, work, config))
    refereed("linkwatch, database first check", lambda: run_linkwatch_db(work, config, urls))
    return found


def floor_s(urls: list[str], latency_ms: float) -> float:
    """The theoretical floor of one full check of ``urls`` at the bench's limits."""
    per_host: dict[str, float] = {}
    windows: dict[str, int] = {}
    requests = 0
    for url in urls:
        host = url.split("/")[2]
        cost = 2 if ("/redirect/" in url or "/unavailable-once/" in url) else 1
        requests += cost
        per_host[host] = per_host.get(host, 0) + cost
        windows[host] = windows.get(host, 0) + ("/unavailable-once/" in url)
    latency = latency_ms / 1000
    busiest = max(per_host[h] * latency / PER_HOST + windows[h] * RETRY_AFTER_S for h in per_host)
    return max(busiest, requests * latency / IN_FLIGHT)


def run_polite(urls_file: Path, work: Path, urls: list[str], port: int) -> None:
    """linkwatch with its default politeness against the politeness floor."""
    admin(port, "reset")
    config = write_config(work, polite=True)
    figures, seen = run_linkwatch(urls_file, work, config)
    # the server stamps arrivals on its own busy event loop: ~10 ms of measurement noise
    figures.update(admin(port, f"stats?per_host={PER_HOST}&interval_s=1&slack_s=0.01"))
    requested = set(figures.pop("paths"))
    figures["paths"] = sum(
        f"{u.split('/')[2].split(':')[0].rsplit('.', 1)[1]}|/{u.split('/', 3)[3]}" in requested
        for u in urls
    )
    hosts = {u.split("/")[2] for u in urls}
    floor = len(urls) / len(hosts) * 1.0
    per_host = figures["requests"] / len(hosts)
    print(
        f"default politeness (2 per host, 1 s apart): wall {figures['wall_s']:.1f} s, "
        f"politeness floor {floor:.0f} s ({figures['wall_s'] / floor:.2f}x); requests per "
        f"host {per_host:.0f} (redirect hops, 503 rechecks and soft-404 probes are spaced "
        f"too: {figures['wall_s'] / per_host:.2f} s a request); CPU "
        f"{figures['cpu_s']:.2f} s, peak RSS {figures['peak_rss_mib']:.0f} MiB, requested "
        f"{figures['paths']}/{len(urls)} URLs, {figures['violations']} violations "
        f"{figures['examples']}, {len(seen)} results"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--urls", type=int, default=10_000)
    parser.add_argument("--hosts", type=int, default=40)
    parser.add_argument("--latency-ms", type=float, default=20.0)
    parser.add_argument("--repeat", type=int, default=3, help="rounds; the median is shown")
    parser.add_argument(
        "--politeness",
        action="store_true",
        help="also run linkwatch with its default politeness (minutes)",
    )
    parser.add_argument(
        "--politeness-only", action="store_true", help="run only the default-politeness measurement"
    )
    args = parser.parse_args()
    web, port = start_web(args.hosts, args.latency_ms)
    rounds: list[dict[str, Any]] = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            work = Path(tmp)
            urls, gone = make_urls(args.urls, args.hosts, port)
            urls_file = work / "urls.txt"
            urls_file.write_text("\n".join(urls) + "\n")
            if args.politeness_only:
                run_polite(urls_file, work, urls, port)
                return
            for _ in range(max(1, args.repeat)):
                rounds.append(one_round(work, urls_file, urls, port))
            if args.politeness:
                run_polite(urls_file, work, urls, port)
    finally:
        web.terminate()
        web.wait(10)
    floor = floor_s(urls, args.latency_ms)
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
                figures["not_checked"] = sum(seen.get(u) == "not_checked" for u in urls)
            if "paths" in figures:
                requested = set(figures.pop("paths"))
                figures["requested"] = sum(
                    f"{u.split('/')[2].split(':')[0].rsplit('.', 1)[1]}|/{u.split('/', 3)[3]}"
                    in requested
                    for u in urls
                )
            runs.append(figures)
        rows[name] = _median(runs)
    print(
        f"{args.urls} URLs, {args.hosts} hosts, {args.latency_ms:g} ms latency, "
        f"{IN_FLIGHT} in flight, {PER_HOST} per host; theoretical floor {floor:.2f} s "
        f"(Retry-After waits included); median of {len(rounds)} rounds; "
        f"{os.cpu_count()} CPUs; load average {os.getloadavg()[0]:.2f}"
    )
    print(
        "| run | wall s (range) | x floor | CPU s | peak RSS MiB | URLs requested "
        "| violations | false broken | missed broken |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for name, f in rows.items():
        low, high = f["wall_range"]
        requested = f"{f['requested']}/{args.urls}" if "requested" in f else "-"
        print(
            f"| {name} | {f['wall_s']:.2f} ({low:.2f}-{high:.2f}) | {f['wall_s'] / floor:.2f} "
            f"| {f['cpu_median_s']:.2f} | {f['peak_rss_mib']:.0f} | {requested} "
            f"| {f.get('violations', '-')} | {f['false_broken']} | {f['missed_gone']} |"
        )
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
