"""Runs of each job, and the figures ``status`` shows (issue 6).

A ``runs`` row is written when a job starts and finished when it ends, so a crash mid-run
stays visible (status ``running`` with a dead pid becomes ``aborted`` at the next start)
and the next run simply redoes what is still due.
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Sequence
from typing import Any

from linkwatch.model import Run
from linkwatch.store.core import StoreCore

JOBS = ("scan", "check", "archive", "report")

RUN_COLUMNS = "id, job, started_at, status, finished_at, error, summary, pid, machine"


def run_of(row: Sequence[Any]) -> Run:
    """A ``runs`` row (``RUN_COLUMNS``) as a record, its summary decoded."""
    id_, job, started, status, finished, error, summary, pid, machine = row
    try:
        figures = json.loads(summary or "{}")
    except ValueError:
        figures = {"unreadable": str(summary)}
    if not isinstance(figures, dict):
        figures = {"value": figures}
    return Run(
        int(id_), str(job), str(started), str(status), finished, error, figures, pid, machine
    )


class RunStore(StoreCore):
    def start_run(self, job: str) -> int:
        with self.write() as db:
            row = db.execute(
                "INSERT INTO runs (job, started_at, status, summary, pid, machine) "
                "VALUES (?, ?, 'running', '{}', ?, ?) RETURNING id",
                [job, self.now(), os.getpid(), socket.gethostname()],
            ).fetchone()
            return int(row[0])

    def finish_run(
        self,
        run_id: int,
        *,
        status: str,
        summary: dict[str, Any] | None = None,
        error: str | None = None,
    ) -> None:
        with self.write() as db:
            db.execute(
                "UPDATE runs SET finished_at = ?, status = ?, summary = ?, error = ? WHERE id = ?",
                [self.now(), status, json.dumps(summary or {}, default=str), error, run_id],
            )

    def abort_stale_runs(self, live_pids: set[int] | None = None) -> int:
        """Mark runs left ``running`` by a process that is gone as ``aborted``.

        Only this machine's runs can be judged by their pid; on a shared PostgreSQL
        state a run of another machine is left to its own worker."""
        rows = self.query(
            "SELECT id, pid FROM runs WHERE status = 'running' "
            "AND (machine IS NULL OR machine = ?)",
            [socket.gethostname()],
        )
        stale = [r["id"] for r in rows if not _pid_alive(r["pid"], live_pids)]
        if stale:
            with self.write() as db:
                db.executemany(
                    "UPDATE runs SET status = 'aborted', finished_at = ?, "
                    "error = 'process ended before the run finished' WHERE id = ?",
                    [(self.now(), run_id) for run_id in stale],
                )
        return len(stale)

    def last_runs(self) -> dict[str, Run]:
        """The latest run of each job (any status), by job."""
        rows = self.conn.execute(
            f"SELECT {RUN_COLUMNS} FROM runs WHERE id IN "  # noqa: S608 - fixed columns
            "(SELECT MAX(id) FROM runs GROUP BY job)"
        )
        runs = (run_of(row) for row in rows)
        return {run.job: run for run in runs}

    def last_finished_at(self, job: str) -> str | None:
        """When ``job`` last finished successfully (what the daemon's due-ness uses)."""
        value = self.scalar(
            "SELECT MAX(finished_at) FROM runs WHERE job = ? AND status = 'ok'", [job]
        )
        return None if value is None else str(value)

    def links_by_state(self) -> dict[str, int]:
        """Links by the state a curator reads (as the report shows it): a ``new`` link
        that was checked is ``not checked`` (its scheme, the address policy or robots.txt
        kept it from being requested) or ``inconclusive``, not "new"."""
        return self.counts(
            "SELECT CASE WHEN state != 'new' OR last_outcome IS NULL THEN state "
            "WHEN last_outcome LIKE 'skipped_%' THEN 'not checked' ELSE 'inconclusive' END "
            "AS shown, COUNT(*) FROM links GROUP BY shown"
        )

    def table_counts(self) -> dict[str, int]:
        tables = ("documents", "links", "citations", "checks", "snapshots", "archive_queue")
        return {t: int(self.scalar(f"SELECT COUNT(*) FROM {t}")) for t in tables}  # noqa: S608


def _pid_alive(pid: int | None, live_pids: set[int] | None) -> bool:
    if pid is None:
        return False
    if live_pids is not None:
        return pid in live_pids
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
