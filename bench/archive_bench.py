"""Archiving benchmark: keep the capture budget busy on a backlog, never exceed a limit.

A backlog of N new links (default 1,000) is archived against the fake Wayback Machine
(tests/kit/fakewayback.py) on loopback. The archive's "minute" is shortened (``--minute-s``,
default 1.2 s) for both the fake and linkwatch's limiter, so a run that would take hours
against the real archive takes about a minute; the rate limiting logic is the same, only
the unit of time differs. The fake enforces captures/minute and CDX requests/minute
server-side and counts every request beyond them.

Reported: captures per minute achieved / allowed (the budget kept busy; achieved = captures
/ (span of the run in minutes + 1), since a sliding window admits one extra burst at the
start), requests beyond
the limits (must be 0), and what the same run means at real speed.

    .venv/bin/python bench/archive_bench.py [--links 1000] [--minute-s 1.2]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlite_utils import Database

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from linkwatch.config import ArchiveSettings, Credentials, Secret, Settings
from linkwatch.jobs.archive import work_archive_queue
from linkwatch.store import Store, open_store
from tests.kit.fakewayback import FakeWayback

NOW = datetime(2026, 1, 1, tzinfo=UTC)
KEYS = ("bench-access", "bench-secret")


def backlog(store: Store, n: int) -> None:
    """``n`` newly cited, alive links (bench data written with sqlite-utils)."""
    at = NOW.isoformat()
    with store.write() as conn:
        db = Database(conn)  # a SQLite state: sqlite-utils' bulk inserts
        doc = db["documents"].insert({"path": "bench.md", "first_scanned_at": at}).last_pk
        db["links"].insert_all(
            {
                "id": i + 1,
                "url": f"http://site{i % 97}.test/article/{i}",
                "host": f"site{i % 97}.test",
                "first_seen_at": at,
                "state": "alive",
                "last_outcome": "ok",
            }
            for i in range(n)
        )
        db["citations"].insert_all(
            {
                "document_id": doc,
                "link_id": i + 1,
                "line": i + 1,
                "source": "a@href",
                "raw_url": f"http://site{i % 97}.test/article/{i}",
                "first_seen_at": at,
                "last_seen_at": at,
            }
            for i in range(n)
        )


def run(
    links: int,
    minute_s: float,
    per_minute: int,
    cdx_per_minute: int,
    concurrent: int,
    capture_s: float,
) -> dict[str, Any]:
    with (
        tempfile.TemporaryDirectory() as tmp,
        FakeWayback(
            clock=lambda: NOW,
            keys=KEYS,
            minute_s=minute_s,
            captures_per_minute=per_minute,
            cdx_per_minute=cdx_per_minute,
            concurrent_sessions=concurrent,
            capture_s=capture_s,
        ) as wb,
    ):
        wb.faults.status_retry_after = None
        settings = Settings(
            archive=replace(
                ArchiveSettings(),
                wayback_url=wb.base_url,
                memento_sources=(),
                availability_url=wb.base_url,
                captures_per_minute=per_minute,
                cdx_per_minute=cdx_per_minute,
                concurrent_captures=concurrent,
                rate_window_s=minute_s,
                poll_interval_s=0.05,
                poll_timeout_s=30.0,
                request_timeout_s=10.0,
                backoff_429_s=minute_s,
            ),
            credentials=Credentials(Secret(KEYS[0]), Secret(KEYS[1])),
        )
        store = open_store(Path(tmp) / "bench.db", clock=lambda: NOW)
        backlog(store, links)
        started = time.monotonic()
        summary = work_archive_queue(settings, store, clock=lambda: NOW)
        elapsed = time.monotonic() - started
        store.close()
        saves = wb.requests_of("save")
        span = saves[-1]["t"] - saves[0]["t"] if len(saves) > 1 else elapsed
        # a sliding window allows at most N sends in any span of k minutes plus one burst:
        # N * (span/minute + 1); normalising by that makes 1.0 "the budget always busy"
        achieved = len(saves) / (span / minute_s + 1)
        return {
            "links": links,
            "minute_s": minute_s,
            "captures_per_minute_allowed": per_minute,
            "concurrent_captures": concurrent,
            "capture_s": capture_s,
            "captured": summary.captured,
            "save_requests": len(saves),
            "duplicates": sum(1 for n in wb.state.new_captures.values() if n > 1),
            "elapsed_s": round(elapsed, 1),
            "captures_per_minute_achieved": round(achieved, 2),
            "budget_used": round(achieved / per_minute, 3),
            "requests_beyond_limits": len(wb.violations),
            "cdx_and_availability_requests": summary.lookups,
            "real_time_equivalent_h": round(elapsed / minute_s / 60, 1),
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--links", type=int, default=1000)
    parser.add_argument("--minute-s", type=float, default=1.2)
    parser.add_argument("--captures-per-minute", type=int, default=20)
    parser.add_argument("--cdx-per-minute", type=int, default=60)
    parser.add_argument("--concurrent", type=int, default=4)
    parser.add_argument(
        "--capture-s", type=float, default=0.1, help="how long the fake takes per capture"
    )
    args = parser.parse_args()
    result = run(
        args.links,
        args.minute_s,
        args.captures_per_minute,
        args.cdx_per_minute,
        args.concurrent,
        args.capture_s,
    )
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
