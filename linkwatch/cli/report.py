"""CLI commands: report."""

from __future__ import annotations

from pathlib import Path

import click

from linkwatch.cli.app import App, emit_json
from linkwatch.cycle import JobContext, run_job

FAIL_ON = ("dead", "failing")


@click.command()
@click.option(
    "-o",
    "--out",
    "out_dir",
    metavar="DIR",
    help="Write the report here (report.dir, default reports/).",
)
@click.option("--title", metavar="TEXT", help="Page title (report.title).")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json", "markdown"]),
    default="text",
    show_default=True,
    help="Summary format (markdown: the findings, ready for an issue; also summary.md).",
)
@click.option(
    "--fail-on",
    type=click.Choice(FAIL_ON),
    multiple=True,
    help="Exit 1 if any cited link is in this state (repeatable; for CI).",
)
@click.pass_obj
def report(
    app: App, out_dir: str | None, title: str | None, fmt: str, fail_on: tuple[str, ...]
) -> None:
    """Write the link-health report: index.html, report.json and per-document pages.

    Reads the state database only (no network). Files are replaced atomically, so a web
    server never serves half a report and a failed render keeps the previous one.
    """
    settings = app.settings(report={"dir": out_dir, "title": title})
    summary = run_job("report", JobContext(settings, app.store(), app.clock))
    if fmt == "json":
        emit_json(summary)
    elif fmt == "markdown":
        click.echo((Path(summary["index"]).parent / "summary.md").read_text(encoding="utf-8"))
    else:
        states = ", ".join(f"{n} {state}" for state, n in summary["states"].items()) or "none"
        click.echo(
            f"{summary['links']} links in {summary['documents']} documents ({states}); "
            f"{summary['newly_dead']} newly dead, {summary['newly_recovered']} recovered"
        )
        click.echo(
            f"wrote {summary['files']} files, {summary['bytes'] / 1e6:.1f} MB in "
            f"{summary['read_s'] + summary['render_s'] + summary['write_s']:.2f} s"
        )
        click.echo(f"report: {summary['index']}")
    if any(summary["states"].get(state) for state in fail_on):
        raise click.exceptions.Exit(1)


COMMANDS: list[click.Command] = [report]
