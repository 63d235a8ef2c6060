"""Checking benchmark: linkwatch vs lychee on the same 10,000 URLs of the simulated web.

Starts ``python -m tests.kit.simweb`` (40 hosts on 127.0.0.2.., 20 ms per response) in its
own process, writes one URL list, and runs both checkers on it as child processes with
the same limits: 2 requests in flight per host, 80 in total (hosts x per-host), no
per-host spacing (``host_interval_s = 0`` / ``--host-request-interval 0ms``: this compares
raw speed at equal concurrency; linkwatch's default spacing is 1 s). Wall time, CPU time
(user + system of the child) and peak RSS come from ``os.wait4``. "False broken" counts
live pages (everything but ``/gone/``) reported as broken (or soft 404, for linkwatch).

    .venv/bin/python bench/check_bench.py [--urls 10000] [--hosts 40] [--latency-ms 20]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
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


def measure(cmd: list[str], out: Path, cwd: Path) -> dict[str, Any]:
    started = time.monotonic()
    with out.open("w") as sink:
        proc = subprocess.Popen(cmd, cwd=cwd, stdout=sink,  # noqa: S603 - fixed tools
                                stderr=subprocess.DEVNULL)
        _, status, usage = os.wait4(proc.pid, 0)
    wall = time.monotonic() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    return {"wall_s": wall, "cpu_s": usage.ru_utime + usage.ru_stime,
            "peak_rss_mib": usage.ru_maxrss / 1024, "exit": proc.returncode}


def run_linkwatch(
    urls_file: Path, work: Path, hosts: int
) -> tuple[dict[str, Any], dict[str, str]]:
    config = work / "linkwatch.toml"
    config.write_text(
        "[state]\npath = \"bench.db\"\n[check]\n"
        f"allow_networks = [\"127.0.0.0/8\"]\nper_host = {PER_HOST}\n"
        f"concurrency = {hosts * PER_HOST}\nhost_interval_s = 0.0\ntimeout_s = 20.0\n",
        encoding="utf-8",
    )
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
    work: Path, hosts: int, urls: list[str]
) -> list[tuple[dict[str, Any], dict[str, str]]]:
    """``check --all`` twice on a database: first sight (GET, fingerprint, soft-404 probe),
    then the steady state of a daemon (alive, fingerprinted links: a HEAD each)."""
    config = work / "linkwatch.toml"
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--urls", type=int, default=10_000)
    parser.add_argument("--hosts", type=int, default=40)
    parser.add_argument("--latency-ms", type=float, default=20.0)
    args = parser.parse_args()
    web, port = start_web(args.hosts, args.latency_ms)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            work = Path(tmp)
            urls, gone = make_urls(args.urls, args.hosts, port)
            urls_file = work / "urls.txt"
            urls_file.write_text("\n".join(urls) + "\n")
            lw, outcomes = run_linkwatch(urls_file, work, args.hosts)
            ly, failed = run_lychee(urls_file, work, args.hosts)
            first, steady = run_linkwatch_db(work, args.hosts, urls)
    finally:
        web.terminate()
        web.wait(10)
    limit = args.hosts * PER_HOST / (args.latency_ms / 1000)
    live = [u for u in urls if u not in gone]
    for figures, found in ((lw, outcomes), first, steady):
        figures["false_broken"] = sum(found.get(u) in ("broken", "soft404") for u in live)
        figures["missed_gone"] = sum(found.get(u) != "broken" for u in gone)
    ly["false_broken"] = sum(u in failed for u in live)
    ly["missed_gone"] = sum(u not in failed for u in gone)
    rows: dict[str, Any] = {"linkwatch (ad-hoc URLs)": lw, "lychee": ly,
                            "linkwatch (database, first check)": first[0],
                            "linkwatch (database, recheck: HEAD)": steady[0]}
    print(f"{args.urls} URLs, {args.hosts} hosts, {args.latency_ms:g} ms latency, "
          f"{PER_HOST} per host; theoretical limit {limit:.0f} URLs/s")
    print("| tool | wall s | CPU s | peak RSS MiB | URLs/s | % of limit | false broken |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for name, f in rows.items():
        rate = args.urls / f["wall_s"]
        print(f"| {name} | {f['wall_s']:.2f} | {f['cpu_s']:.2f} | {f['peak_rss_mib']:.0f} | "
              f"{rate:.0f} | {100 * rate / limit:.0f} % | {f['false_broken']} |")
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
