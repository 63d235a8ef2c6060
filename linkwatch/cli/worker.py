"""``linkwatch worker``: one of several processes sharing a (PostgreSQL) state."""

from __future__ import annotations

import click

from linkwatch.cli.app import App, emit_json
from linkwatch.cli.check import INTERRUPTED_EXIT, _stop_on_signal
from linkwatch.config import parse_duration


@click.command()
@click.option("--once", is_flag=True, help="Stop once no link is due any more.")
@click.option(
    "--max-time", metavar="DURATION", help="Stop after this long (e.g. 30m), finishing in-flight."
)
@click.option(
    "--checks-only", is_flag=True, help="Only check: leave scan, report and archive to others."
)
@click.option(
    "--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True
)
@click.pass_obj
def worker(app: App, once: bool, max_time: str | None, checks_only: bool, fmt: str) -> None:
    """Share the checks of one state with other workers, on this or other machines.

    Each worker claims a few hosts with due links (a lease in the database that runs out
    after [worker] lease if the worker dies), checks them with the host's spacing and
    per-host limit, and gives them back. One worker at a time is the leader (scan,
    report, notifications) and one holds the archive lane (Save Page Now). Meant for a
    PostgreSQL state (state.url); on a SQLite file it works for processes of one machine.
    SIGTERM/Ctrl-C finish the checks in flight and give every lease back.
    """
    import logging

    from linkwatch.jobs.worker import work

    settings = app.settings()
    if app.verbosity == 0:
        logging.getLogger("linkwatch").setLevel(logging.INFO)
    store = app.store()
    limit = parse_duration(max_time) if max_time else None
    with _stop_on_signal(settings.check.timeout_s) as stop:
        summary = work(
            settings,
            store,
            clock=app.clock,
            stop=stop,
            once=once,
            max_time_s=limit,
            roles=not checks_only,
        )
    if fmt == "json":
        emit_json(summary.to_dict())
    elif app.verbosity >= 0:
        outcomes = ", ".join(f"{k} {v}" for k, v in sorted(summary.by_outcome.items()))
        click.echo(
            f"worker {summary.holder}: {summary.checked} checked on {summary.hosts} host "
            f"claims ({outcomes or 'nothing due'}) in {summary.elapsed_s:.1f} s"
        )
    if getattr(stop, "interrupted", False):
        raise click.exceptions.Exit(INTERRUPTED_EXIT)


COMMANDS: list[click.Command] = [worker]
