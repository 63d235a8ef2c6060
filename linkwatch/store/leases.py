"""Leases: who does what on a state shared by several workers (issue 16).

A lease row names a piece of work (``host:<host>``, ``archive``, ``leader``), its holder
(one worker) and when the claim runs out. Only the holder of ``host:example.org`` checks
that host, so its spacing, ``check.per_host`` and any ``Retry-After`` hold across all
workers; a worker that dies stops renewing and its hosts go to the others once the lease
has expired. Claims run inside the store's one write transaction (on PostgreSQL, an
advisory lock taken right after ``BEGIN``), so two workers can never claim the same row:
the second sees the first's committed lease.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from linkwatch.clock import iso, parse_instant
from linkwatch.model import Lease
from linkwatch.store.checks import HOLD_HOST, due_selection
from linkwatch.store.core import StoreCore

HOST_PREFIX = "host:"
WORKER_PREFIX = "worker:"
#: take or renew a lease; ``acquired_at`` stays while the same holder renews
_UPSERT = (
    "INSERT INTO leases (name, holder, expires_at, acquired_at) VALUES (?, ?, ?, ?) "
    "ON CONFLICT(name) DO UPDATE SET holder = excluded.holder, "
    "expires_at = excluded.expires_at, acquired_at = CASE WHEN "
    "leases.holder = excluded.holder THEN leases.acquired_at ELSE excluded.acquired_at END"
)


def _after(at: datetime) -> datetime:
    """``at`` rounded up to the second times are stored in, so a stored "not before"
    is never earlier than the instant it stands for."""
    whole = at.replace(microsecond=0)
    return whole if whole == at else whole + timedelta(seconds=1)


def _until(now: datetime, ttl_s: float) -> str:
    """When a lease taken at ``now`` runs out, rounded up: stored in whole seconds, a
    lease rounded down would be up to a second shorter than its holder renews for."""
    return iso(_after(now + timedelta(seconds=ttl_s)))


class LeaseStore(StoreCore):
    def claim_hosts(self, holder: str, now: datetime, ttl_s: float, limit: int) -> list[str]:
        """Up to ``limit`` hosts with due links that no other holder has (or whose lease
        ran out), leased to ``holder`` for ``ttl_s``; the hosts that waited longest first
        (a host ``holder`` already has is renewed)."""
        at, until = iso(now), _until(now, ttl_s)
        where, params = due_selection(now, "due", None)
        with self.write() as db:
            rows = db.execute(
                f"SELECT l.host FROM links l WHERE {where} AND l.host != '' "  # noqa: S608
                "AND NOT EXISTS (SELECT 1 FROM leases x WHERE x.name = ? || l.host "
                "AND x.expires_at > ? AND x.holder != ?) "
                "GROUP BY l.host ORDER BY min(coalesce(l.last_checked_at, '')), l.host LIMIT ?",
                [*params, HOST_PREFIX, at, holder, int(limit)],
            ).fetchall()
            hosts = [str(r[0]) for r in rows]
            db.executemany(_UPSERT, [(HOST_PREFIX + h, holder, until, at) for h in hosts])
        return hosts

    def fair_share(self, holder: str, now: datetime) -> int:
        """How many hosts the worker ``holder`` should hold now: the hosts with due links
        that no other worker holds (its own slots' hosts count), divided among the live
        workers (each renews a ``worker:<id>`` lease while it runs), at least 1."""
        at = iso(now)
        where, params = due_selection(now, "due", None)
        hosts = int(
            self.scalar(
                f"SELECT count(DISTINCT l.host) FROM links l WHERE {where} "  # noqa: S608
                "AND l.host != '' AND NOT EXISTS (SELECT 1 FROM leases x WHERE "
                "x.name = ? || l.host AND x.expires_at > ? "
                "AND substr(x.holder, 1, length(?)) != ?)",
                [*params, HOST_PREFIX, at, holder + "#", holder + "#"],
            )
            or 0
        )
        workers = int(
            self.scalar(
                "SELECT count(*) FROM leases WHERE name LIKE ? AND expires_at > ?",
                [WORKER_PREFIX + "%", at],
            )
            or 0
        )
        return max(1, -(-hosts // max(1, workers)))

    def renew_leases(self, holder: str, now: datetime, ttl_s: float) -> int:
        """Push out every lease ``holder`` still holds, and those of its slots
        (``<holder>#<n>``); how many they hold."""
        with self.write() as db:
            cur = db.execute(
                "UPDATE leases SET expires_at = ? WHERE expires_at > ? "
                "AND (holder = ? OR substr(holder, 1, length(?)) = ?)",
                [_until(now, ttl_s), iso(now), holder, holder + "#", holder + "#"],
            )
            return int(cur.rowcount)

    def release_hosts(self, holder: str, hosts: Sequence[str], next_request: datetime) -> None:
        """Give hosts back; the next holder sends nothing to them before ``next_request``
        (this worker's last request plus the host spacing), whoever it is."""
        if not hosts:
            return
        with self.write() as db:
            db.executemany(
                "DELETE FROM leases WHERE name = ? AND holder = ?",
                [(HOST_PREFIX + h, holder) for h in hosts],
            )
            db.executemany(HOLD_HOST, [(h, iso(_after(next_request))) for h in hosts])

    def acquire_lease(self, name: str, holder: str, now: datetime, ttl_s: float) -> bool:
        """Take (or renew) the lease ``name`` unless another holder's is still running."""
        at, until = iso(now), _until(now, ttl_s)
        with self.write() as db:
            row = db.execute(
                "SELECT holder, expires_at FROM leases WHERE name = ?", [name]
            ).fetchone()
            if row is not None and row[0] != holder and str(row[1]) > at:
                return False
            db.execute(_UPSERT, [name, holder, until, at])
            return True

    def lease_since(self, name: str, holder: str) -> datetime | None:
        """When ``holder`` took the lease ``name`` (kept while it renews), or None."""
        value = self.scalar(
            "SELECT acquired_at FROM leases WHERE name = ? AND holder = ?", [name, holder]
        )
        return None if value is None else parse_instant(str(value))

    def release_all(self, holder: str) -> None:
        """A worker that stops cleanly gives back everything it holds."""
        with self.write() as db:
            db.execute("DELETE FROM leases WHERE holder = ?", [holder])

    def leases(self, now: datetime) -> list[Lease]:
        """Running leases, for ``status``."""
        rows = self.conn.execute(
            "SELECT name, holder, expires_at, acquired_at FROM leases "
            "WHERE expires_at > ? ORDER BY name",
            [iso(now)],
        )
        return [Lease(str(n), str(h), str(e), str(a)) for n, h, e, a in rows]
