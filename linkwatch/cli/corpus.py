"""CLI commands for the corpus: ``extract`` (print citations, no state) and ``scan``."""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Iterator
from json.encoder import encode_basestring
from pathlib import Path
from typing import Any

import click

from linkwatch.cli.app import App, emit_records
from linkwatch.cli.progress import stage_progress
from linkwatch.cycle import recorded_run
from linkwatch.errors import CorpusError
from linkwatch.extract import Extraction, walk_files
from linkwatch.jobs.scan import ScanSummary, extract_paths, scan_corpus
from linkwatch.model import Citation
from linkwatch.urls import archived_original


def _inputs(paths: tuple[str, ...]) -> list[tuple[Path, str]]:
    """(file, label) for each file named or found (recursively) in a folder named."""
    items: list[tuple[Path, str]] = []
    for given in paths:
        path = Path(given)
        if path.is_file():
            items.append((path, given))
        elif path.is_dir():
            items.extend(
                (f, os.path.join(given, os.path.relpath(f, path))) for f in walk_files(path)
            )
        else:
            raise CorpusError(f"no such file or folder: {given}")
    return items


def _with_extras(extraction: Extraction) -> Iterator[tuple[Citation, dict[str, str]]]:
    """Each citation with its optional fields: ``invalid`` (the reason) and
    ``archived_original`` (for a citation of an archived copy)."""
    extras: dict[str, dict[str, str]] = {}
    for c in extraction.citations:
        if c.url not in extras:
            key, reason = extraction.keys.get(c.url, (None, None))
            archived = archived_original(c.url) if key else None
            extras[c.url] = (
                {"invalid": reason}
                if reason
                else ({"archived_original": archived[0]} if archived else {})
            )
        yield c, extras[c.url]


def citation_dicts(extraction: Extraction) -> Iterator[dict[str, Any]]:
    """The ``extract`` output records of one document."""
    for c, extra in _with_extras(extraction):
        yield {
            "url": c.url,
            "document": c.document,
            "line": c.line,
            "column": c.column,
            "text": c.text,
            "source": c.source,
            "raw": c.raw,
            **extra,
        }


_JSON_LINE = (
    '{"url": %s, "document": %s, "line": %d, "column": %d, "text": %s, "source": %s, "raw": %s%s}\n'
)


def _json_lines(extraction: Extraction) -> str:
    """One JSON object a citation, the same as ``citation_dicts`` gives, formatted directly
    (four times faster than a JSON encoder on a dict; strings still go through its escaper)."""
    q = encode_basestring
    return "".join(
        _JSON_LINE
        % (
            q(c.url),
            q(c.document),
            c.line,
            c.column,
            q(c.text),
            q(c.source),
            q(c.raw),
            "".join(f", {q(k)}: {q(v)}" for k, v in extra.items()),
        )
        for c, extra in _with_extras(extraction)
    )


_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")


def printable(text: str) -> str:
    """``text`` with control characters written as ``\\xNN``: a hostile document must not
    send escape sequences to the reader's terminal."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def _text_line(r: dict[str, Any]) -> str:
    extra = f"  (archived copy of {r['archived_original']})" if "archived_original" in r else ""
    if "invalid" in r:
        extra = f"  (invalid: {r['invalid']})"
    text = f'  "{r["text"]}"' if r["text"] else ""
    return printable(
        f"{r['document']}:{r['line']}:{r['column']}: {r['url']}  [{r['source']}]{text}{extra}"
    )


@click.command()
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json", "jsonl"]),
    default="text",
    show_default=True,
    help="Output: readable lines, one JSON list, or one JSON object a line.",
)
@click.option(
    "--jobs",
    type=click.IntRange(min=1),
    metavar="N",
    help="Worker processes for large inputs (corpus.jobs; default 1).",
)
@click.argument("paths", nargs=-1, required=True, metavar="PATH...")
@click.pass_obj
def extract(app: App, fmt: str, jobs: int | None, paths: tuple[str, ...]) -> None:
    """Print the URLs cited in files or folders (recursively), with where they are cited.

    Touches no database. Each record has url (absolute, resolved), document (the path as
    given), line, column, text (anchor text or context), source (a@href, img@srcset,
    frontmatter:link, markdown:reference, text, ...) and raw (as written). Problems with a
    file are warnings on stderr; the exit code stays 0.
    """
    settings = app.settings(corpus={"jobs": jobs})
    items = _inputs(paths)
    records: list[dict[str, Any]] = []
    out = sys.stdout
    for _, extraction in extract_paths(items, settings):
        for w in extraction.warnings:
            if app.verbosity >= 0:
                where = f"{w.document}:{w.line}" if w.line else w.document
                click.echo(printable(f"linkwatch: warning: {where}: {w.message}"), err=True)
        if fmt == "json":
            records.extend(citation_dicts(extraction))
        elif fmt == "jsonl":
            out.write(_json_lines(extraction))
        else:
            out.write("".join(_text_line(r) + "\n" for r in citation_dicts(extraction)))
    if fmt == "json":
        emit_records(records, "json")


def _summary_text(s: ScanSummary) -> str:
    lines = [
        f"documents: {s.documents_seen} seen, {s.documents_changed} changed, "
        f"{s.documents_unchanged} unchanged, {s.documents_removed} removed",
        f"citations: {s.citations_added} added, {s.citations_ended} ended",
        f"links: {s.links_new} new ({s.links_invalid} invalid)",
        f"warnings: {s.warnings}" + (" (first ones below; -v logs all)" if s.warnings else ""),
    ]
    lines += [f"  {printable(w)}" for w in s.warning_samples]
    if s.stopped:
        lines.append("stopped early; run scan again to finish")
    lines.append(f"took {s.elapsed_s:.2f} s")
    return "\n".join(lines)


@click.command()
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="Summary as readable text or one JSON object.",
)
@click.option(
    "--jobs",
    type=click.IntRange(min=1),
    metavar="N",
    help="Worker processes for extraction (corpus.jobs; default 1).",
)
@click.pass_obj
def scan(app: App, fmt: str, jobs: int | None) -> None:
    """Extract the configured corpus (corpus.paths minus corpus.exclude) into the state
    database. Only documents whose content changed are re-read; citations a document no
    longer makes, and documents that disappeared, are ended (history is kept)."""
    settings = app.settings(corpus={"jobs": jobs})
    store = app.store()
    with stage_progress(app.interactive, "scan") as progress:
        with recorded_run(store, "scan") as record:
            summary = scan_corpus(settings, store, progress=progress)
            record.update(summary.to_dict())
    if fmt == "json":
        emit_records([summary.to_dict()], "jsonl")
    else:
        click.echo(_summary_text(summary))


COMMANDS: list[click.Command] = [extract, scan]
