"""CLI commands: ``archive`` (work the Wayback archive queue now, or archive one URL)."""

from __future__ import annotations

import json
from typing import Any

import click

from linkwatch.cli.app import App, emit_json
from linkwatch.cli.progress import stage_progress
from linkwatch.cycle import recorded_run
from linkwatch.errors import ArchiveError
from linkwatch.jobs.archive import ArchiveSummary, work_archive_queue
from linkwatch.store import Store
from linkwatch.urls import try_canonicalize


def _summary_text(s: ArchiveSummary) -> str:
    lines = [
        f"archive queue: {s.planned} newly queued, {s.due} due, {s.handled} handled",
        f"  {s.captured} captured, {s.already_archived} already archived, {s.queued} queued "
        f"for later, {s.failed} failed, {s.skipped} skipped",
        f"  {s.lookups} look-ups; {s.backoffs} back-offs after 429"
        + (f" (backing off until {s.backoff_until})" if s.backoff_until else ""),
    ]
    if s.captures_note:
        lines.append(f"note: {s.captures_note}")
    lines += [f"  {e}" for e in s.errors[:5]]
    if s.stopped:
        lines.append("stopped early; submitted jobs are resumed by the next run")
    lines.append(f"took {s.elapsed_s:.2f} s")
    return "\n".join(lines)


def _text_line(r: dict[str, Any]) -> str:
    tail = r["snapshot_url"] or ""
    if r["error"]:
        tail = (tail + "  " if tail else "") + f"({r['error']})"
    return f"{r['action']:<16} {r['url']}  {tail}".rstrip()


@click.command()
@click.option(
    "--url",
    "urls",
    multiple=True,
    metavar="URL",
    help="Archive this URL now (repeatable); only these are worked.",
)
@click.option(
    "--max",
    "max_items",
    type=click.IntRange(min=1),
    metavar="N",
    help="Work at most N due queue items.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json", "jsonl"]),
    default="text",
    show_default=True,
    help="text: a line per link and a summary; json: the summary and results; "
    "jsonl: one object per link handled.",
)
@click.pass_obj
def archive(app: App, urls: tuple[str, ...], max_items: int | None, fmt: str) -> None:
    """Work the Wayback archive queue now: look up snapshots, capture what needs it.

    Newly cited and failing links are queued by every run; failing and dead links get the
    best existing snapshot (the last good capture at or before the citation's date, else
    the first after). Captures use Save Page Now 2 and need archive.org keys
    (LINKWATCH_IA_ACCESS_KEY / LINKWATCH_IA_SECRET_KEY or archive.credentials_file);
    without keys look-ups still run and captures are reported as skipped.

    A --url is checked first (under the address policy): only a URL whose check reached it
    at public addresses is ever submitted (archive.submit_networks opens other ranges).

    Each jsonl object has url, action (captured, already_archived, queued, failed,
    skipped), snapshot_url, snapshot_timestamp, error and reason.
    """
    settings = app.settings()
    store = app.store()
    if urls:
        _check_first(app, store, list(urls))
    results: list[dict[str, Any]] = []

    def on_result(record: dict[str, Any]) -> None:
        if fmt == "jsonl":
            emit_json(record)
        elif fmt == "json":
            results.append(record)
        elif app.verbosity >= 0:
            click.echo(_text_line(record))

    with stage_progress(app.interactive and fmt == "text", "archive") as progress:
        with recorded_run(store, "archive") as record:
            summary = work_archive_queue(
                settings,
                store,
                clock=app.clock,
                progress=progress,
                on_result=on_result,
                max_items=max_items,
                urls=list(urls) or None,
            )
            record.update(summary.to_dict())
    if fmt == "json":
        click.echo(json.dumps({"summary": summary.to_dict(), "results": results}, indent=2))
    elif fmt == "text" or app.verbosity >= 0:
        click.echo(_summary_text(summary), err=fmt == "jsonl")


def _check_first(app: App, store: Store, urls: list[str]) -> None:
    """Check manual URLs before they are archived: a capture goes out only for a URL the
    checker reached at a public address (the check is recorded like any other)."""
    from linkwatch.jobs.check import check_links

    keys = []
    for url in urls:
        key, reason = try_canonicalize(url)
        if key is None:
            raise ArchiveError(f"cannot archive {url!r}: {reason}")
        keys.append(key)
    store.enqueue_archive_urls(keys, app.clock())
    check_links(app.settings(), store, clock=app.clock, urls=keys)


COMMANDS: list[click.Command] = [archive]
