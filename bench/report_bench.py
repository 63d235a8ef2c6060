"""Report rendering: time and file sizes for 1,000, 10,000 and 100,000 links.

Builds a synthetic state database per size (documents of ~25 citations each; 80 % alive,
5 % dead, 5 % failing, 3 % unverifiable, 2 % invalid, 5 % new; 10 % redirected; 60 % with a
snapshot; two checks per link plus six per dead/failing link spread over 30 days), then runs
``generate_report`` once, each size in a fresh process (for peak RSS).

    .venv/bin/python bench/report_bench.py            # all three sizes, a Markdown table
    .venv/bin/python bench/report_bench.py --size 10000 --json
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlite_utils import Database

from linkwatch.clock import fixed_clock, iso
from linkwatch.config import ReportSettings, Settings
from linkwatch.jobs.report import generate_report
from linkwatch.store import Store, open_store

SIZES = (1_000, 10_000, 100_000)
NOW = datetime(2026, 3, 1, tzinfo=UTC)
STATES = (
    ["alive"] * 80
    + ["dead"] * 5
    + ["failing"] * 5
    + ["unverifiable"] * 3
    + ["invalid"] * 2
    + ["new"] * 5
)
WORDS = "archive source report study data policy court budget health climate press".split()


def _link(i: int, rng: random.Random) -> dict[str, Any]:
    state = rng.choice(STATES)
    host = f"site{rng.randrange(max(i // 40, 1) + 50)}.example"
    url = f"https://{host}/{rng.choice(WORDS)}/{i}"
    row: dict[str, Any] = {
        "id": i + 1,
        "url": url,
        "host": host,
        "state": state,
        "first_seen_at": iso(NOW - timedelta(days=90)),
        "state_since": iso(NOW - timedelta(days=rng.randrange(1, 60))),
        "last_checked_at": iso(NOW - timedelta(hours=rng.randrange(1, 48))),
        "last_outcome": "ok",
        "last_status": 200,
        "strikes": 0,
        "failing_since": None,
        "last_error": None,
        "invalid_reason": None,
        "redirect_permanent": None,
        "last_final_url": None,
        "snapshot_url": None,
        "snapshot_timestamp": None,
    }
    if state in ("dead", "failing"):
        row.update(
            last_outcome="broken",
            last_status=404,
            strikes=3 if state == "dead" else 1,
            failing_since=iso(NOW - timedelta(days=rng.randrange(3, 30))),
        )
    elif state == "unverifiable":
        row.update(last_outcome="blocked", last_status=403, last_error="403 Forbidden")
    elif state == "invalid":
        row.update(last_outcome=None, last_status=None, invalid_reason="bad host")
    elif rng.random() < 0.12:
        row.update(
            last_outcome="redirected",
            last_status=301,
            redirect_permanent=1,
            last_final_url=url.replace("https://", "https://www.") + "/",
        )
    if state != "invalid" and rng.random() < 0.6:
        ts = (NOW - timedelta(days=rng.randrange(30, 900))).strftime("%Y%m%d%H%M%S")
        row.update(snapshot_url=f"https://web.archive.org/web/{ts}/{url}", snapshot_timestamp=ts)
    return row


def _checks(link: dict[str, Any], rng: random.Random) -> list[dict[str, Any]]:
    n = 8 if link["state"] in ("dead", "failing") else 2
    days = rng.sample(range(30), n)
    out = []
    for k, day in enumerate(sorted(days)):
        outcome = "ok"
        if link["state"] in ("dead", "failing") and k >= 3:
            outcome = rng.choice(["broken", "broken", "timeout"])
        elif link["state"] == "unverifiable":
            outcome = "blocked"
        out.append(
            {
                "link_id": link["id"],
                "outcome": outcome,
                "status": 200,
                "checked_at": iso(NOW - timedelta(days=day, minutes=link["id"] % 1440)),
                "strike": int(outcome == "broken"),
            }
        )
    return out


def build_store(path: Path, links: int, seed: int = 5) -> Store:
    rng = random.Random(seed)
    store = open_store(path, clock=fixed_clock(NOW))
    rows = [_link(i, rng) for i in range(links)]
    docs = max(links // 20, 1)
    with store.write() as conn:
        db = Database(conn)  # a SQLite state: sqlite-utils' bulk inserts
        db["documents"].insert_all(
            (
                {
                    "id": d + 1,
                    "path": f"articles/{2020 + d % 6}/{rng.choice(WORDS)}-{d}.md",
                    "format": "markdown",
                    "last_scanned_at": iso(NOW),
                }
                for d in range(docs)
            ),
            batch_size=5000,
        )
        db["links"].insert_all(rows, batch_size=2000)
        db["citations"].insert_all(
            (
                {
                    "document_id": (i * 7 + k) % docs + 1,
                    "link_id": row["id"],
                    "line": 1 + i % 400,
                    "col": 1,
                    "text": f"the {rng.choice(WORDS)} {rng.choice(WORDS)}",
                    "source": "a@href",
                    "raw_url": row["url"],
                    "occurrence": k,
                    "first_seen_at": iso(NOW),
                    "last_seen_at": iso(NOW),
                }
                for i, row in enumerate(rows)
                for k in range(1 + (i % 3 == 0))
            ),
            batch_size=5000,
        )
        db["checks"].insert_all((c for row in rows for c in _checks(row, rng)), batch_size=5000)
        db["state_changes"].insert_all(
            (
                {
                    "link_id": row["id"],
                    "at": iso(NOW - timedelta(hours=12)),
                    "from_state": "failing",
                    "to_state": "dead",
                }
                for row in rows
                if row["state"] == "dead" and row["id"] % 4 == 0
            ),
            batch_size=5000,
        )
    store.set_meta("report.last_generated_at", iso(NOW - timedelta(days=1)))
    return store


def measure(links: int) -> dict[str, Any]:
    """Build the database here, then run the report in a fresh process (``--report``):
    its peak RSS is the report's, not the synthetic database's construction."""
    with tempfile.TemporaryDirectory(prefix="linkwatch-report-bench-") as tmp:
        built = time.perf_counter()
        build_store(Path(tmp) / "state.db", links).close()
        build_s = time.perf_counter() - built
        result = json.loads(
            subprocess.run(
                [sys.executable, __file__, "--report", tmp],
                check=True,
                capture_output=True,
                text=True,
                timeout=600,
            ).stdout
        )
        return {"links": links, "build_db_s": round(build_s, 2), **result}


def peak_rss_mb() -> float:
    """This process's peak RSS: ``VmHWM`` (reset by exec; ``ru_maxrss`` is not, so a child
    of the process that built the database would report the builder's peak)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def report_only(tmp: str) -> dict[str, Any]:
    """One ``generate_report`` on the database in ``tmp`` (this process does nothing else)."""
    rss_before = peak_rss_mb()
    store = open_store(Path(tmp) / "state.db", clock=fixed_clock(NOW))
    settings = Settings(report=ReportSettings(dir=str(Path(tmp) / "reports")), base_dir=tmp)
    try:
        started, cpu = time.perf_counter(), time.process_time()
        summary = generate_report(settings, store, clock=fixed_clock(NOW))
        total_s, cpu_s = time.perf_counter() - started, time.process_time() - cpu
    finally:
        store.close()
    out = Path(tmp) / "reports"
    largest = max((p for p in out.rglob("*.html")), key=lambda p: p.stat().st_size)
    return {
        "documents": summary.documents,
        "read_s": round(summary.read_s, 2),
        "render_s": round(summary.render_s, 2),
        "write_s": round(summary.write_s, 2),
        "total_s": round(total_s, 2),
        "cpu_s": round(cpu_s, 2),
        "load_avg": round(os.getloadavg()[0], 1),
        "files": summary.files,
        "total_mb": round(summary.bytes / 1e6, 1),
        "index_kb": round(summary.index_bytes / 1e3),
        "json_mb": round((out / "report.json").stat().st_size / 1e6, 2),
        "largest_page_kb": round(largest.stat().st_size / 1e3),
        "rss_at_start_mb": round(rss_before),
        "peak_rss_mb": round(peak_rss_mb()),
    }


COLUMNS = (
    "links",
    "documents",
    "read_s",
    "render_s",
    "write_s",
    "total_s",
    "cpu_s",
    "files",
    "total_mb",
    "index_kb",
    "json_mb",
    "largest_page_kb",
    "peak_rss_mb",
    "load_avg",
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, help="one size, in this process")
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.add_argument("--report", metavar="DIR", help=argparse.SUPPRESS)  # the child
    args = parser.parse_args()
    if args.report:
        print(json.dumps(report_only(args.report)))
        return
    if args.size:
        result = [measure(args.size)]
    else:
        result = [
            json.loads(
                subprocess.run(
                    [sys.executable, __file__, "--size", str(n), "--json"],
                    check=True,
                    capture_output=True,
                    text=True,
                    timeout=600,
                ).stdout
            )
            for n in SIZES
        ]
        if args.json:
            print(json.dumps(result, indent=1))
            return
    if args.json:
        print(json.dumps(result[0]))
        return
    print("| " + " | ".join(COLUMNS) + " |")
    print("|" + " --- |" * len(COLUMNS))
    for row in result:
        print(
            "| "
            + " | ".join(f"{row[c]:,}" if isinstance(row[c], int) else str(row[c]) for c in COLUMNS)
            + " |"
        )


if __name__ == "__main__":
    main()
