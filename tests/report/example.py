"""Report test data, written straight into the schema (store.write() + sqlite-utils inserts),
as the scan, check and archive stages would leave it; and an example-like corpus."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from linkwatch.clock import iso
from linkwatch.store import Store
from linkwatch.urls import host_of
from tests.kit.rows import insert, insert_all


@dataclass
class ReportDB:
    """Builds documents, links, citations, checks and state changes in a real store."""

    store: Store
    clock: Any

    def now(self) -> str:
        return iso(self.clock())

    def document(
        self,
        path: str,
        *,
        warnings: list[str] | None = None,
        fmt: str = "markdown",
        removed: bool = False,
    ) -> int:
        with self.store.write() as db:
            return insert(
                db,
                "documents",
                {
                    "path": path,
                    "format": fmt,
                    "warnings": json.dumps(warnings or []),
                    "first_scanned_at": self.now(),
                    "last_scanned_at": self.now(),
                    "removed_at": self.now() if removed else None,
                },
            )

    def link(self, url: str, state: str = "alive", **columns: Any) -> int:
        row = {
            "url": url,
            "host": columns.pop("host", host_of(url)),
            "state": state,
            # first seen before any history a test writes for it (as a scan would have)
            "first_seen_at": "2000-01-01T00:00:00+00:00",
            "state_since": self.now(),
        }
        row.update(columns)
        with self.store.write() as db:
            return insert(db, "links", row)

    def cite(
        self,
        document_id: int,
        link_id: int,
        line: int,
        text: str = "",
        *,
        raw_url: str = "",
        source: str = "a@href",
        occurrence: int = 0,
        ended: bool = False,
    ) -> None:
        with self.store.write() as db:
            insert(
                db,
                "citations",
                {
                    "document_id": document_id,
                    "link_id": link_id,
                    "line": line,
                    "col": 1,
                    "text": text,
                    "source": source,
                    "raw_url": raw_url or "x",
                    "occurrence": occurrence,
                    "first_seen_at": self.now(),
                    "last_seen_at": self.now(),
                    "ended_at": self.now() if ended else None,
                },
            )

    def check(
        self,
        link_id: int,
        at: datetime,
        outcome: str,
        status: int | None = None,
        error: str | None = None,
        strike: bool = False,
        network_down: bool = False,
    ) -> None:
        with self.store.write() as db:
            insert(
                db,
                "checks",
                {
                    "link_id": link_id,
                    "checked_at": iso(at),
                    "outcome": outcome,
                    "status": status,
                    "error": error,
                    "strike": int(strike),
                    "network_down": int(network_down),
                },
            )

    def change(self, link_id: int, at: datetime, from_state: str | None, to_state: str) -> None:
        with self.store.write() as db:
            insert(
                db,
                "state_changes",
                {"link_id": link_id, "at": iso(at), "from_state": from_state, "to_state": to_state},
            )

    def queue(
        self, link_id: int, status: str, *, error: str | None = None, attempts: int = 0
    ) -> None:
        with self.store.write() as db:
            insert(
                db,
                "archive_queue",
                {
                    "link_id": link_id,
                    "reason": "new",
                    "status": status,
                    "attempts": attempts,
                    "last_error": error,
                    "enqueued_at": self.now(),
                    "updated_at": self.now(),
                },
            )


def days_ago(clock: Any, days: float) -> datetime:
    return clock() - timedelta(days=days)  # type: ignore[no-any-return]


def populate_example(rdb: ReportDB) -> None:
    """An example-like corpus: three articles, a few dead, failing and redirected links."""
    c = rdb.clock
    wb = "https://web.archive.org/web/"
    explainer = rdb.document("corpus/link-rot-explainer.md")
    roundup = rdb.document("corpus/press-release-roundup.html", fmt="html")
    notes = rdb.document(
        "corpus/field-notes.txt", fmt="text", warnings=["line 9: URL with an invalid host skipped"]
    )
    dead = rdb.link(
        "http://www.census.gov/old/tables-2019.html",
        "dead",
        failing_since=iso(days_ago(c, 9)),
        state_since=iso(days_ago(c, 2)),
        strikes=3,
        last_outcome="broken",
        last_status=404,
        last_checked_at=iso(days_ago(c, 0.2)),
        snapshot_url=wb + "20190611083010/http://www.census.gov/old/tables-2019.html",
        snapshot_timestamp="20190611083010",
    )
    for i, (outcome, status) in enumerate(
        [("ok", 200), ("broken", 404), ("timeout", None), ("broken", 404), ("broken", 404)]
    ):
        rdb.check(
            dead,
            days_ago(c, 12 - i * 3),
            outcome,
            status,
            error="read timed out after 20 s" if outcome == "timeout" else None,
            strike=outcome == "broken",
        )
    rdb.change(dead, days_ago(c, 2), "failing", "dead")
    gone = rdb.link(
        "https://this-host-does-not-exist.invalid/page",
        "dead",
        failing_since=iso(days_ago(c, 20)),
        strikes=3,
        last_outcome="network_error",
        last_error="name does not resolve (NXDOMAIN)",
        last_checked_at=iso(days_ago(c, 1)),
    )
    for d in (20, 14, 8, 1):
        rdb.check(gone, days_ago(c, d), "broken", None, error="NXDOMAIN", strike=True)
    moved = rdb.link(
        "https://www.whitehouse.gov/briefing-room/statements-releases/",
        "failing",
        failing_since=iso(days_ago(c, 3)),
        strikes=1,
        last_outcome="broken",
        last_status=410,
        last_checked_at=iso(days_ago(c, 0.5)),
        snapshot_url=wb + "20250120000000/https://www.whitehouse.gov/"
        "briefing-room/statements-releases/",
        snapshot_timestamp="20250120000000",
    )
    rdb.check(moved, days_ago(c, 6), "ok", 200)
    rdb.check(moved, days_ago(c, 3), "broken", 410, strike=True)
    rdb.check(moved, days_ago(c, 0.5), "server_error", 503)
    tables = rdb.link(
        "https://www.census.gov/data/tables.html",
        "alive",
        last_outcome="redirected",
        last_status=301,
        last_final_url="https://www.census.gov/data/tables/time-series.html",
        redirect_permanent=1,
        last_checked_at=iso(days_ago(c, 0.3)),
    )
    treasury = rdb.link(
        "https://www.treasury.gov/news/press-releases",
        "alive",
        last_outcome="redirected",
        last_status=302,
        redirect_permanent=0,
        last_final_url="https://home.treasury.gov/news/press-releases",
        last_checked_at=iso(days_ago(c, 0.3)),
        snapshot_url=wb + "20250301120000/https://www.treasury.gov/news/press-releases",
        snapshot_timestamp="20250301120000",
    )
    pew = rdb.link(
        "https://www.pewresearch.org/data-labs/2024/05/17/when-online-content-disappears/",
        "alive",
        last_outcome="ok",
        last_status=200,
        last_checked_at=iso(days_ago(c, 0.3)),
        snapshot_url=wb + "20240517130000/https://www.pewresearch.org/data-labs/"
        "2024/05/17/when-online-content-disappears/",
        snapshot_timestamp="20240517130000",
    )
    sec = rdb.link(
        "https://www.sec.gov/newsroom/press-releases",
        "unverifiable",
        last_outcome="blocked",
        last_status=403,
        last_checked_at=iso(days_ago(c, 1)),
        last_error="403 Forbidden (bot challenge)",
    )
    idn = rdb.link("https://xn--bcher-kva.example/katalog", "new")
    wiki = rdb.link(
        "https://en.wikipedia.org/wiki/Link_rot",
        "alive",
        last_outcome="ok",
        last_status=200,
        last_checked_at=iso(days_ago(c, 0.3)),
    )
    back = rdb.link(
        "https://data.europa.eu/en",
        "alive",
        last_outcome="ok",
        last_status=200,
        last_checked_at=iso(days_ago(c, 0.3)),
        snapshot_url=wb + "20250402101010/https://data.europa.eu/en",
        snapshot_timestamp="20250402101010",
    )
    rdb.change(back, days_ago(c, 1), "failing", "alive")
    rdb.cite(explainer, pew, 17, "Pew Research Center")
    rdb.cite(explainer, wiki, 8, "", source="frontmatter:sources")
    rdb.cite(explainer, dead, 24, "the 2019 tables")
    rdb.cite(roundup, treasury, 13, "announced")
    rdb.cite(roundup, sec, 14, "SEC")
    rdb.cite(roundup, moved, 26, "A statement that has since moved.", source="blockquote@cite")
    rdb.cite(notes, tables, 5, 'see "https://www.census.gov/data/tables.html"', source="text")
    rdb.cite(notes, dead, 6, "the old address", source="text")
    rdb.cite(notes, idn, 8, "", source="text")
    rdb.cite(notes, gone, 9, "one that never existed", source="text")
    rdb.cite(notes, back, 4, "the EU open data portal", source="text")
    history = [
        {
            "link_id": wiki if i % 2 else pew,
            "outcome": "ok" if i % 9 else ("broken" if i % 2 else "timeout"),
            "checked_at": iso(days_ago(c, d) - timedelta(minutes=i + 1)),
        }
        for d in range(30)
        for i in range(40 + d)
    ]
    with rdb.store.write() as db:
        insert_all(db, "checks", history)
    # a state history that ends where each link is now (the states chart reads it)
    states = {r["id"]: r["state"] for r in rdb.store.query("SELECT id, state FROM links")}
    for link in (dead, moved, tables, treasury, pew, sec, wiki, back):  # gone: never seen up
        first = {dead: "alive", back: "failing"}.get(link, states[link])
        rdb.change(link, days_ago(c, 30), "new", first)
    rdb.change(dead, days_ago(c, 10), "alive", "failing")
    rdb.queue(idn, "pending")
    rdb.queue(gone, "failed", error="job failed: error:invalid-host-resolution", attempts=5)
    rdb.store.set_meta(
        "archive.user_status",
        json.dumps(
            {
                "available": 4,
                "processing": 1,
                "daily_captures": 37,
                "daily_captures_limit": 100000,
                "at": iso(days_ago(c, 0.1)),
            }
        ),
    )
