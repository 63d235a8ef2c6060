"""CLI commands: run (one whole cycle), daemon, status, db."""

from __future__ import annotations

import json
import sqlite3
from typing import Any

import click

from linkwatch import __version__
from linkwatch.cli.app import App, emit_json
from linkwatch.cli.progress import stage_progress
from linkwatch.cycle import JOB_ORDER, JobContext, run_job
from linkwatch.errors import LinkwatchError


@click.command()
@click.option(
    "--skip",
    type=click.Choice(JOB_ORDER),
    multiple=True,
    help="Leave out a stage (repeatable), e.g. --skip archive.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="Summary format.",
)
@click.option(
    "--fail-on",
    type=click.Choice(["dead", "failing", "drifted"]),
    multiple=True,
    help="Exit 1 if any cited link is in this state after the run (repeatable; for CI).",
)
@click.pass_obj
def run(app: App, skip: tuple[str, ...], fmt: str, fail_on: tuple[str, ...]) -> None:
    """Run one whole cycle now: scan -> check due -> archive queue -> report.

    A stage that fails is reported and the later stages still run; the exit code is then
    that stage's error code (2-9). Findings are not failures: with --fail-on they exit 1.
    """
    settings, store = app.settings(), app.store()
    summaries: dict[str, Any] = {}
    first_error: LinkwatchError | None = None
    for job in JOB_ORDER:
        if job in skip:
            continue
        with stage_progress(app.interactive, job) as progress:
            ctx = JobContext(settings, store, app.clock, progress=progress)
            try:
                summaries[job] = run_job(job, ctx)
            except LinkwatchError as exc:
                summaries[job] = {"error": str(exc)}
                click.echo(f"linkwatch: {job} failed: {exc}", err=True)
                first_error = first_error or exc
    if fmt == "json":
        emit_json(summaries)
    elif app.verbosity >= 0:  # --quiet: errors only
        for job, summary in summaries.items():
            click.echo(f"{job:8} {_one_line(summary)}")
            if summary.get("network_down"):
                click.echo(
                    "         ! the network looks down: nothing in this run was counted"
                    " against the links"
                )
            errors = summary.get("errors") or []
            for error in errors[:3]:
                click.echo(f"         ! {error}")
            if len(errors) > 3:
                click.echo(f"         ! ... and {len(errors) - 3} more (linkwatch status)")
        report = summaries.get("report", {})
        if isinstance(report, dict) and report.get("index"):
            click.echo(f"report: {report['index']}")
    if first_error is not None:
        raise click.exceptions.Exit(first_error.exit_code)
    if fail_on and store.links_in_states(fail_on, settings.check.drift_below):
        raise click.exceptions.Exit(1)


def _one_line(summary: dict[str, Any]) -> str:
    parts = []
    for key, value in summary.items():
        if isinstance(value, list):
            if value and not key.endswith("_urls"):
                parts.append(f"{key} {len(value)}")
        elif isinstance(value, dict):
            inner = ", ".join(f"{k} {v}" for k, v in value.items() if v)
            if inner:
                parts.append(f"{key}: {inner}")
        elif value not in (None, "", [], 0, False) or key in ("checked", "documents"):
            parts.append(f"{key} {value}")
    return "; ".join(parts)


@click.command()
@click.pass_obj
def daemon(app: App) -> None:
    """Run the service loop: scan, check, archive and report on schedule.

    Intervals come from [schedule]; what is due comes from the database. On a shared
    PostgreSQL state (state.url) the daemon is a worker (see 'linkwatch worker'). SIGTERM/SIGINT
    finish in-flight work and exit 0; SIGHUP reloads the config. Under systemd it sends
    READY/STATUS/WATCHDOG notifications (Type=notify).
    """
    import logging

    from linkwatch.daemon import make_daemon

    if app.verbosity == 0:
        logging.getLogger("linkwatch").setLevel(logging.INFO)  # a service says what it does
    if app.settings().shared_state:
        # a shared PostgreSQL state: this daemon is one worker among several (leases
        # decide which hosts it checks and whether it scans, archives and reports)
        from linkwatch.cli.worker import worker

        click.get_current_context().invoke(
            worker, once=False, max_time=None, checks_only=False, fmt="text"
        )
        return
    d = make_daemon(app.config_path, app.overrides, clock=app.clock)
    d.install_signals()
    raise click.exceptions.Exit(d.run())


@click.command()
@click.option(
    "--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True
)
@click.pass_obj
def status(app: App, fmt: str) -> None:
    """Show settings (secrets masked), last runs, links by state, the archive queue and
    budget, next scheduled runs, and whether a daemon is running."""
    info = collect_status(app)
    if fmt == "json":
        click.echo(json.dumps(info, indent=2, default=str))
        return
    d = info["daemon"]
    click.echo(f"linkwatch {__version__} (SQLite {info['sqlite_version']})")
    click.echo(f"config:   {info['settings']['source']}")
    click.echo(f"state:    {info['state_path']}")
    click.echo(f"daemon:   {'running, pid ' + str(d['pid']) if d['running'] else 'not running'}")
    click.echo(
        "links:    "
        + (
            ", ".join(f"{k} {v}" for k, v in sorted(info["links"].items()))
            or "none yet (run `linkwatch scan`)"
        )
    )
    for job in JOB_ORDER:
        last = info["last_runs"].get(job)
        when = (
            f"{last['status']} at {last['finished_at'] or last['started_at']}" if last else "never"
        )
        click.echo(f"{job:8}  last: {when}; next: {info['next_runs'][job]}")
    archive = info.get("archive", {})
    if archive:
        click.echo("archive:  " + _one_line(archive))
    if info.get("notify"):
        click.echo("notify:   " + _one_line(info["notify"]))
    leases = info.get("leases") or []
    if leases:
        holders = sorted({lease["holder"] for lease in leases})
        hosts = sum(1 for lease in leases if lease["name"].startswith("host:"))
        roles = ", ".join(
            f"{lease['name']} {lease['holder']}"
            for lease in leases
            if not lease["name"].startswith("host:")
        )
        click.echo(
            f"workers:  {len(holders)} holding {hosts} host(s)" + (f"; {roles}" if roles else "")
        )


def collect_status(app: App) -> dict[str, Any]:
    from linkwatch.daemon import daemon_pid, next_runs

    settings, store = app.settings(), app.store()
    pid = daemon_pid(settings)
    info: dict[str, Any] = {
        "version": __version__,
        "sqlite_version": sqlite3.sqlite_version,
        "state_path": settings.state_where,
        "settings": settings.masked(),
        "daemon": {"running": pid is not None, "pid": pid},
        "links": store.links_by_state(),
        "counts": store.table_counts(),
        "last_runs": {job: run.to_json() for job, run in store.last_runs().items()},
        "next_runs": next_runs(settings, store, app.clock()),
        "backend": store.dialect,
        "leases": [lease.to_json() for lease in store.leases(app.clock())],
    }
    try:
        from linkwatch.jobs.archive import archive_status
    except ImportError:
        info["archive"] = {}
    else:
        info["archive"] = archive_status(settings, store)
    from linkwatch.jobs.notify import channels

    info["notify"] = store.event_figures(channels(settings))
    return info


@click.group()
def db() -> None:
    """Maintain the state database (backup, integrity check, migrations, copy)."""


@db.command()
@click.argument("target", type=click.Path(dir_okay=False))
@click.pass_obj
def backup(app: App, target: str) -> None:
    """Write a consistent copy of the live database to TARGET (VACUUM INTO).

    Safe while the daemon runs; never copy the live file (or delete its -wal file) by hand.
    A PostgreSQL state is backed up with pg_dump (the error says how).
    """
    app.store().backup(target)
    click.echo(f"backup written to {target}")


@db.command()
@click.pass_obj
def check(app: App) -> None:
    """Check the database; exit 3 if it is damaged.

    SQLite: its integrity check. PostgreSQL: the schema version and that every
    constraint and index is valid.
    """
    result = app.store().integrity_check()
    click.echo(result)
    if result != "ok":
        raise click.exceptions.Exit(3)


@db.command()
@click.pass_obj
def migrate(app: App) -> None:
    """Apply pending schema migrations (opening the database does this too)."""
    applied = app.store().applied_steps()
    click.echo(f"schema up to date: {', '.join(applied)}")


@db.command()
@click.option(
    "--to",
    "target",
    required=True,
    metavar="URL|PATH",
    help="postgresql://... or sqlite:///PATH (or a path): a new, empty state.",
)
@click.option(
    "--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True
)
@click.pass_obj
def copy(app: App, target: str, fmt: str) -> None:
    """Copy the whole state into another database (SQLite to PostgreSQL, or back).

    Every table is copied in one transaction and compared afterwards (rows and a
    checksum of each table); on any difference nothing is kept in the target and the
    exit code is 3. Stop the daemon and workers first, or the copy misses what they
    write after it started.
    """
    from linkwatch.store import open_store
    from linkwatch.store.copy import copy_state

    source = app.store()
    if str(target) == str(app.settings().state_target):
        raise click.UsageError("--to names the state being copied; give a new database")
    s = app.settings()
    with open_store(target, busy_timeout_s=s.state.busy_timeout_s, clock=app.clock) as dest:

        def progress(table: str, n: int) -> None:
            if app.verbosity >= 0 and fmt == "text" and app.interactive:
                click.echo(f"\r{table}: {n} rows", nl=False, err=True)

        tables = copy_state(source, dest, progress)
        if app.verbosity >= 0 and fmt == "text" and app.interactive:
            click.echo("", err=True)
        where = dest.where
    if fmt == "json":
        emit_json(
            {
                "target": where,
                "tables": [
                    {"table": t.table, "rows": t.rows, "sha256": t.checksum} for t in tables
                ],
            }  # fmt: skip
        )
        return
    total = sum(t.rows for t in tables)
    click.echo(
        f"copied {total} rows in {len(tables)} tables to {where}; counts and checksums match"
    )
    for t in tables:
        click.echo(f"  {t.table:<17} {t.rows:>9}  sha256 {t.checksum[:16]}")


COMMANDS: list[click.Command] = [run, daemon, status, db]
