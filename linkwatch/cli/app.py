"""What every command needs: settings, the clock, the store, and output helpers."""

from __future__ import annotations

import json
import logging
import os
import sys
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import click

from linkwatch.clock import Clock, system_clock
from linkwatch.config import Settings, load_settings

if TYPE_CHECKING:  # the store (sqlite-utils) loads only for commands that use it
    from linkwatch.store import Store

FORMATS = ("text", "json", "jsonl")


@dataclass
class App:
    """Built once per invocation by the group callback; passed to commands as ``obj``."""

    config_path: str | None
    clock: Clock = system_clock
    verbosity: int = 0
    overrides: dict[str, dict[str, Any]] = field(default_factory=dict)
    _settings: Settings | None = None
    _store: Store | None = None

    def settings(self, **more: dict[str, Any]) -> Settings:
        """Settings, with this command's flags applied on top (built once)."""
        if self._settings is None or more:
            merged = {s: dict(kv) for s, kv in self.overrides.items()}
            for section, values in more.items():
                merged.setdefault(section, {}).update(values)
            self._settings = load_settings(self.config_path, overrides=merged)
        return self._settings

    def store(self) -> Store:
        from linkwatch.store import open_store

        if self._store is None:
            s = self.settings()
            first = s.source == "defaults" and "state" not in self.overrides and not s.state.url
            if first and not s.state_path.exists() and self.verbosity >= 0:
                # a first run with no config: say where things will go before they do
                click.echo(
                    f"linkwatch: no linkwatch.toml here (or --config): using the defaults; "
                    f"the state goes to {s.state_path.resolve()}, the report to "
                    f"{s.report_dir.resolve()}/",
                    err=True,
                )
            self._store = open_store(
                s.state_target, busy_timeout_s=s.state.busy_timeout_s, clock=self.clock
            )
        return self._store

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None

    @property
    def interactive(self) -> bool:
        """Progress bars only for a person at a terminal."""
        return self.verbosity >= 0 and sys.stderr.isatty()


def emit_json(obj: Any) -> None:
    click.echo(json.dumps(obj, ensure_ascii=False, default=str))


def emit_records(records: Any, fmt: str) -> None:
    """Print a list of dicts as one JSON document (json) or one line each (jsonl)."""
    if fmt == "json":
        click.echo(json.dumps(list(records), ensure_ascii=False, indent=2, default=str))
    else:
        for record in records:
            emit_json(record)


_SYSLOG_PRIORITY = {
    logging.CRITICAL: 2,
    logging.ERROR: 3,
    logging.WARNING: 4,
    logging.INFO: 6,
    logging.DEBUG: 7,
}


class JournalFormatter(logging.Formatter):
    """``<3>linkwatch.daemon: message``: journald reads the priority prefix."""

    def format(self, record: logging.LogRecord) -> str:
        priority = _SYSLOG_PRIORITY.get(record.levelno, 6)
        return f"<{priority}>{super().format(record)}"


def setup_logging(verbosity: int, *, journald: bool | None = None) -> None:
    """Logs go to stderr, one line each, without timestamps (journald adds them); under
    systemd (``$JOURNAL_STREAM``) with syslog priority prefixes."""
    if journald is None:
        journald = bool(os.environ.get("JOURNAL_STREAM"))
    level = logging.WARNING
    if verbosity > 0:
        level = logging.INFO if verbosity == 1 else logging.DEBUG
    elif verbosity < 0:
        level = logging.ERROR
    handler = logging.StreamHandler(sys.stderr)
    if journald:
        handler.setFormatter(JournalFormatter("%(name)s: %(message)s"))
    else:
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger("linkwatch")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False
