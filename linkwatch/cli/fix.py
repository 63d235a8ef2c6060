"""CLI commands: fix, ack, unack (what a curator does with the findings)."""

from __future__ import annotations

from pathlib import Path

import click

from linkwatch.cli.app import App, emit_json
from linkwatch.clock import iso, parse_instant
from linkwatch.errors import CorpusError
from linkwatch.jobs.fix import plan_fixes, write_fixes
from linkwatch.jobs.scan import document_label, scan_corpus
from linkwatch.urls import InvalidURL, canonicalize


@click.command()
@click.option("--write", is_flag=True, help="Apply the changes (default: print them only).")
@click.option(
    "--doc",
    "docs",
    multiple=True,
    metavar="PATH",
    help="Only this document (repeatable).",
)
@click.option(
    "--only",
    type=click.Choice(["dead", "drifted", "moved", "all"]),
    default="all",
    show_default=True,
    help="Dead or drifted citations (add the archived copy), moved ones (the new address).",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["diff", "json"]),
    default="diff",
    show_default=True,
    help="A unified diff, or one JSON object per proposed change.",
)
@click.option(
    "--patch",
    "patch",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    metavar="FILE",
    help="Write the diff to FILE (for review in a pull request) instead of editing.",
)
@click.option("--check", is_flag=True, help="Exit 1 when changes are proposed (for CI).")
@click.pass_obj
def fix(
    app: App,
    write: bool,
    docs: tuple[str, ...],
    only: str,
    fmt: str,
    patch: Path | None,
    check: bool,
) -> None:
    """Propose fixes to the documents: the archived copy beside each dead citation (Robust
    Links attributes in HTML, an "archived" link in Markdown, the snapshot in brackets in
    text) and the new address of each permanently moved one.

    Nothing is written without --write; every change touches only that citation's bytes,
    a document changed since the last scan is refused (rescan first), and running it
    twice changes nothing the second time. Reads the state database: run `linkwatch run`
    (or scan, check, archive) first.
    """
    settings = app.settings()
    store = app.store()
    labels = [document_label(Path(d), settings.base_dir) for d in docs]
    plan = plan_fixes(settings, store, only=only, documents=labels)
    if patch is not None:
        patch.write_text(plan.diff(), encoding="utf-8")
    if fmt == "json":
        emit_json(plan.records())
    else:
        click.echo(plan.diff(), nl=False)
    for doc in plan.documents:
        if doc.error:
            click.echo(f"{doc.document}: not fixed: {doc.error}", err=True)
        for skip in doc.skipped:
            click.echo(f"{doc.document}:{skip.target.line}: not fixed: {skip.why}", err=True)
    if write and patch is None and plan.changes:
        written = write_fixes(plan)
        scan_corpus(settings, store)  # the store learns the new citations
        click.echo(
            f"fixed {sum(len(d.changes) for d in plan.documents if d.document in written)} "
            f"citations in {len(written)} documents",
            err=True,
        )
    elif plan.changes:
        where = f"written to {patch}" if patch else "run with --write to apply"
        click.echo(
            f"{plan.changes} changes proposed in "
            f"{sum(bool(d.changes) for d in plan.documents)} documents ({where})",
            err=True,
        )
    else:
        click.echo("nothing to fix", err=True)
    if check and plan.changes:
        raise click.exceptions.Exit(1)


COMMANDS: list[click.Command] = [fix]


@click.command()
@click.argument("url")
@click.option("--note", required=True, metavar="TEXT", help="Why (shown in the report).")
@click.option(
    "--until",
    metavar="DATE",
    help="Acknowledged until this day (ISO-8601), then a finding again (default: for good).",
)
@click.pass_obj
def ack(app: App, url: str, note: str, until: str | None) -> None:
    """Acknowledge a finding: a known-dead or intentionally gone link is kept out of the
    dead list (and every alert) and shown under "Acknowledged findings" with NOTE."""
    store = app.store()
    until_iso = None
    if until:
        try:
            until_iso = iso(parse_instant(until))
        except ValueError:
            raise click.BadParameter(
                f"not an ISO-8601 date: {until!r}", param_hint="--until"
            ) from None
    if not store.acknowledge(_key(url), note.strip(), iso(app.clock()), until_iso):
        raise CorpusError(f"{url} is not a link of the corpus: run `linkwatch scan` first?")
    click.echo(f"acknowledged {_key(url)}" + (f" until {until_iso[:10]}" if until_iso else ""))


@click.command()
@click.argument("url")
@click.pass_obj
def unack(app: App, url: str) -> None:
    """Take an acknowledgement back: the link is a finding again."""
    if not app.store().unacknowledge(_key(url)):
        raise CorpusError(f"{url} is not acknowledged")
    click.echo(f"no longer acknowledged: {_key(url)}")


def _key(url: str) -> str:
    try:
        return canonicalize(url)
    except InvalidURL as exc:
        raise click.BadParameter(f"{url!r}: {exc}", param_hint="URL") from None


COMMANDS += [ack, unack]
