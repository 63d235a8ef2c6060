"""Events for the notification channels: recorded by the jobs, delivered once each."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from linkwatch.store.core import Row, StoreCore


@dataclass(frozen=True, slots=True)
class Event:
    kind: str  # dead, recovered, drifted, moved, capture_failed
    url: str
    at: str
    detail: str = ""
    id: int = 0
    attempts: int = 0
    last_error: str | None = None

    def to_json(self) -> dict[str, object]:
        return {
            "id": f"tag:linkwatch,2026:event/{self.id}",
            "kind": self.kind,
            "url": self.url,
            "at": self.at,
            "detail": self.detail,
        }


def _event(row: Row) -> Event:
    return Event(
        row["kind"], row["url"], row["at"], row["detail"], row["id"], row["attempts"],
        row["last_error"],
    )  # fmt: skip


class EventStore(StoreCore):
    def add_events(self, events: Iterable[Event]) -> int:
        rows = [(e.kind, e.url, e.at, e.detail) for e in events]
        if rows:
            with self.write():
                self.conn.executemany(
                    "INSERT INTO events (kind, url, at, detail) VALUES (?, ?, ?, ?)", rows
                )
        return len(rows)

    def recent_events(self, limit: int) -> list[Event]:
        rows = self.query("SELECT * FROM events ORDER BY id DESC LIMIT ?", [limit])
        return [_event(r) for r in rows]

    def undelivered(self, channel: str, now: str, limit: int = 500) -> list[Event]:
        """Events not yet delivered to ``channel`` whose retry time has come."""
        rows = self.query(
            "SELECT * FROM events WHERE NOT EXISTS (SELECT 1 FROM event_deliveries d "
            "WHERE d.event_id = events.id AND d.channel = ?) "
            "AND (next_attempt_at IS NULL OR next_attempt_at <= ?) ORDER BY id LIMIT ?",
            [channel, now, limit],
        )
        return [_event(r) for r in rows]

    def mark_delivered(self, channel: str, ids: Iterable[int], at: str) -> None:
        with self.write():
            ids = list(ids)
            self.conn.executemany(
                "INSERT INTO event_deliveries (event_id, channel, at) VALUES (?, ?, ?) "
                "ON CONFLICT(event_id, channel) DO NOTHING",
                [(i, channel, at) for i in ids],
            )
            self.conn.executemany(
                "UPDATE events SET last_error = NULL, next_attempt_at = NULL WHERE id = ?",
                [(i,) for i in ids],
            )

    def mark_failed(self, ids: Iterable[int], error: str, retry_at: str) -> None:
        with self.write():
            self.conn.executemany(
                "UPDATE events SET attempts = attempts + 1, last_error = ?, "
                "next_attempt_at = ? WHERE id = ?",
                [(error[:500], retry_at, i) for i in ids],
            )

    def event_figures(self, channels: Iterable[str]) -> dict[str, object]:
        pending = {
            ch: int(
                self.scalar(
                    "SELECT count(*) FROM events WHERE NOT EXISTS (SELECT 1 FROM "
                    "event_deliveries d WHERE d.event_id = events.id AND d.channel = ?)",
                    [ch],
                )
                or 0
            )
            for ch in channels
        }
        error = self.scalar(
            "SELECT last_error FROM events WHERE last_error IS NOT NULL ORDER BY id DESC LIMIT 1"
        )
        total = int(self.scalar("SELECT count(*) FROM events") or 0)
        return {"events": total, "undelivered": pending, "last_error": error}


__all__ = ["Event", "EventStore"]
