"""CLI command: ``check`` (due links, ``--all``, ``--doc PATH``, or ad-hoc URLs)."""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path
from typing import Any

import click

from linkwatch.cli.app import App, emit_json
from linkwatch.cli.progress import stage_progress
from linkwatch.cycle import recorded_run
from linkwatch.errors import ConfigError
from linkwatch.jobs.check import CheckSummary, check_links
from linkwatch.model import Outcome
from linkwatch.store import Store

FAIL_ON = ("dead", "broken", "any-failure")
LINES_EVERY = 200
LINES_INTERVAL_S = 0.25
_FAILURES = {o.value for o in Outcome if not o.is_alive}


def _read_urls(path: str) -> list[str]:
    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read --urls {path}: {exc}") from None
    return [
        line.strip()
        for line in text.splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]


@contextmanager
def _stop_on_signal(grace_s: float = 0.0) -> Iterator[threading.Event]:
    """SIGTERM (and a first Ctrl-C) stop taking new URLs, saying so at once; a second one
    exits at once. The event's ``interrupted`` attribute tells a Ctrl-C (exit 130)."""
    stop = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return

    def handler(signum: int, frame: object) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()
        if signum == signal.SIGINT:
            stop.interrupted = True  # type: ignore[attr-defined]
            message = (
                f"\nstopping: finishing the checks in flight (at most {grace_s:g} s), every "
                "finished result is kept; Ctrl-C again to stop at once\n"
            )
            os.write(2, message.encode())

    previous = {s: signal.signal(s, handler) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield stop
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


#: ad-hoc URLs were left unchecked (their host's window outlasted the run, or it stopped)
NOT_CHECKED_EXIT = 9
INTERRUPTED_EXIT = 130  # Ctrl-C, as shells report it


def _text_line(r: dict[str, Any]) -> str:
    status = str(r["status"]) if r["status"] is not None else "-"
    line = f"{r['outcome']:<18} {status:>3}  {r['url']}"
    if r["final_url"] and r["final_url"] != r["url"]:
        line += f"  -> {r['final_url']}"
    if r.get("state"):
        line += f"  [{r['state']}]"
    if r.get("network_down"):
        line += "  [network down: not counted]"
    if r["error"]:
        line += f"  ({r['error']})"
    return line


def summary_text(s: CheckSummary) -> str:
    d = s.to_dict()
    parts = [f"checked {d['checked']} of {d['total']} in {d['elapsed_s']:.1f} s"]
    if d["deferred"]:
        parts.append(f"{d['deferred']} deferred to a later run (host asked us to wait)")
    if d["not_checked"]:
        parts.append(
            f"{d['not_checked']} NOT CHECKED (see their lines; exit code {NOT_CHECKED_EXIT})"
        )
    lines = ["; ".join(parts)]
    if d["by_outcome"]:
        lines.append("outcomes: " + ", ".join(f"{k} {v}" for k, v in d["by_outcome"].items()))
    if d["by_state"]:
        lines.append("states: " + ", ".join(f"{k} {v}" for k, v in d["by_state"].items()))
    if d["newly_dead"] or d["recovered"]:
        lines.append(f"newly dead {d['newly_dead']}, recovered {d['recovered']}")
    if d["network_down"]:
        lines.append(
            "the network looks down (nearly every host failed to resolve or connect): "
            "nothing in this run was counted against the links; they are checked "
            "again in about an hour"
        )
    if d["stopped"]:
        lines.append("stopped early; the rest stays due")
    return "\n".join(lines)


class _Lines:
    """Result lines written in batches (every ``LINES_EVERY`` lines or ``LINES_INTERVAL_S``):
    with PYTHONUNBUFFERED, as under systemd, a write per line costs more than the check."""

    def __init__(self, every: int = LINES_EVERY) -> None:
        self._every = every
        self._lines: list[str] = []
        self._since = time.monotonic()

    def add(self, line: str) -> None:
        self._lines.append(line)
        if len(self._lines) >= self._every or (time.monotonic() - self._since >= LINES_INTERVAL_S):
            self.flush()

    def flush(self) -> None:
        if self._lines:
            click.echo("\n".join(self._lines))
            self._lines.clear()
        self._since = time.monotonic()


def _fails(fail_on: str | None, r: dict[str, Any]) -> bool:
    """Does this result make ``--fail-on`` exit 1?"""
    if fail_on == "dead":
        return r.get("state") == "dead"
    if fail_on == "broken":
        return r["outcome"] in ("broken", "soft404")
    if fail_on == "any-failure":
        return r["outcome"] in _FAILURES
    return False


def _store_for(app: App, adhoc: bool) -> Store | None:
    """Ad-hoc checks record into an existing database only; they never create one."""
    if adhoc and not app.settings().state_path.exists():
        return None
    return app.store()


@click.command()
@click.argument("urls", nargs=-1, metavar="[URL...]")
@click.option("--all", "check_all", is_flag=True, help="Check every link now, due or not.")
@click.option("--doc", metavar="PATH", help="Only the links one document cites.")
@click.option(
    "--urls",
    "urls_file",
    metavar="FILE",
    help="Check the URLs in FILE (one a line; '-' reads stdin).",
)
@click.option("--limit", type=int, metavar="N", help="Check at most N links.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json", "jsonl"]),
    default="text",
    show_default=True,
    help="Readable lines, one JSON document, or a JSON object a URL.",
)
@click.option(
    "--allow-network",
    "allow",
    multiple=True,
    metavar="CIDR",
    help="Also contact this address range (repeatable), e.g. an intranet.",
)
@click.option(
    "--fail-on",
    type=click.Choice(FAIL_ON),
    help="Exit 1 when a link is dead / broken (incl. soft 404) / not alive.",
)
@click.pass_obj
def check(
    app: App,
    urls: tuple[str, ...],
    check_all: bool,
    doc: str | None,
    urls_file: str | None,
    limit: int | None,
    fmt: str,
    allow: tuple[str, ...],
    fail_on: str | None,
) -> None:
    """Check links politely and record the results.

    Without arguments: the links that are due. A link is declared dead only after
    check.strikes conclusive failures (404, 410, NXDOMAIN, soft 404) at least
    check.strike_spacing apart; blocks, rate limits, timeouts and server errors never
    count. Dead links are findings, not errors: the exit code is 0 unless --fail-on
    matches; 9 when ad-hoc URLs were left not_checked (each is listed with the reason).
    """
    given = list(urls) + (_read_urls(urls_file) if urls_file else [])
    adhoc = bool(urls) or urls_file is not None
    if adhoc and (check_all or doc):
        raise click.UsageError("give URLs or --all/--doc, not both")
    more = {"check": {"allow_networks": list(app.settings().check.allow_networks) + list(allow)}}
    settings = app.settings(**more) if allow else app.settings()
    store = _store_for(app, adhoc)
    results: list[dict[str, Any]] = []

    lines = _Lines(1 if sys.stdout.isatty() else LINES_EVERY)  # a person reads as they come

    failed = [False]

    def on_result(record: dict[str, Any]) -> None:
        if fmt == "json":  # the only format that keeps every result until the end
            results.append(record)
        failed[0] = failed[0] or _fails(fail_on, record)
        if fmt == "jsonl":
            lines.add(json.dumps(record, ensure_ascii=False, default=str))
        elif fmt == "text" and (adhoc or record["outcome"] not in ("ok",)):
            lines.add(_text_line(record))

    run: AbstractContextManager[dict[str, Any]] = (
        recorded_run(store, "check") if store is not None and not adhoc else nullcontext({})
    )
    with (
        _stop_on_signal(settings.check.timeout_s) as stop,
        stage_progress(app.interactive, "check") as progress,
        run as rec,
    ):
        try:
            summary = check_links(
                settings,
                store,
                clock=app.clock,
                select="all" if check_all else "due",
                doc=doc,
                urls=given if adhoc else None,
                stop=stop,
                progress=progress,
                on_result=on_result,
                limit=limit,
            )
            rec.update(summary.to_dict())
        finally:
            lines.flush()
    if not adhoc and store is not None:  # what this check changed, to the notifiers
        from linkwatch.jobs.notify import deliver

        deliver(settings, store, app.clock)
    if fmt == "json":
        emit_json({"results": results, "summary": summary.to_dict()})
    elif fmt == "text" and app.verbosity >= 0:
        click.echo(summary_text(summary))
    elif app.verbosity >= 0:
        click.echo(summary_text(summary), err=True)
    if getattr(stop, "interrupted", False):
        raise SystemExit(INTERRUPTED_EXIT)
    if failed[0]:
        raise SystemExit(1)
    if summary.not_checked:
        raise SystemExit(NOT_CHECKED_EXIT)


COMMANDS: list[click.Command] = [check]
