"""The ``linkwatch`` command: a click group; each command parses, calls one library
function and prints. ``LinkwatchError`` becomes a one-line message and its exit code.

Exit codes: 0 done (dead links are findings, not failures), 1 ``--fail-on`` matched or an
unexpected error, 2 usage or configuration, 3 store, 4 report, 5 corpus, 6 store busy,
7 a daemon already runs, 8 archive.
"""

from __future__ import annotations

import importlib
from datetime import datetime

import click

from linkwatch import __version__
from linkwatch.cli.app import App, setup_logging
from linkwatch.clock import fixed_clock, parse_instant
from linkwatch.errors import LinkwatchError


def _parse_now(ctx: click.Context, param: click.Parameter, value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        return parse_instant(value)
    except ValueError:
        raise click.BadParameter(f"not an ISO-8601 time: {value!r}") from None


# Commands are imported when used, so ``linkwatch extract`` does not pay for httpx,
# aiohttp and jinja2. Each module exports ``COMMANDS``.
COMMAND_MODULES = {
    "extract": "corpus",
    "scan": "corpus",
    "check": "check",
    "archive": "archive",
    "report": "report",
    "fix": "fix",
    "ack": "fix",
    "unack": "fix",
    "run": "service",
    "daemon": "service",
    "status": "service",
    "db": "service",
    "worker": "worker",
}


GLOBAL_FLAGS = frozenset({"-v", "--verbose", "-vv", "-q", "--quiet"})
GLOBAL_VALUES = frozenset({"--config", "--state", "--now"})


def hoist_global_options(args: list[str]) -> list[str]:
    """``args`` with the global options found after the command name moved before it
    (the values of ``--config FILE`` / ``--config=FILE`` go with them; ``--`` ends it)."""
    command = next(
        (
            i
            for i, a in enumerate(args)
            if not a.startswith("-") and (i == 0 or args[i - 1] not in GLOBAL_VALUES)
        ),
        None,
    )
    if command is None:
        return args
    front, rest, moved = list(args[:command]), [], []
    tail = args[command:]
    i = 0
    while i < len(tail):
        a = tail[i]
        if a == "--":
            rest += tail[i:]
            break
        name = a.split("=", 1)[0]
        if a in GLOBAL_FLAGS:
            moved.append(a)
        elif name in GLOBAL_VALUES and "=" in a:
            moved.append(a)
        elif a in GLOBAL_VALUES and i + 1 < len(tail):
            moved += [a, tail[i + 1]]
            i += 1
        else:
            rest.append(a)
        i += 1
    return front + moved + rest


class LinkwatchGroup(click.Group):
    """Loads commands on demand and turns ``LinkwatchError`` into a one-line message and
    its exit code, for every command (also under ``CliRunner``)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMAND_MODULES)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        module_name = COMMAND_MODULES.get(cmd_name)
        if module_name is None:
            return None
        module = importlib.import_module(f"linkwatch.cli.{module_name}")
        commands: list[click.Command] = module.COMMANDS
        return next((c for c in commands if c.name == cmd_name), None)

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        """Global options may also come after the command (``linkwatch check -q``): they
        are moved in front of it (no command has options of these names)."""
        return super().parse_args(ctx, hoist_global_options(args))

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except LinkwatchError as exc:
            click.echo(f"linkwatch: error: {exc}", err=True)
            ctx.exit(exc.exit_code)
        except BrokenPipeError:
            ctx.exit(0)
        except KeyboardInterrupt:
            click.echo("linkwatch: stopped at once; results recorded so far are kept", err=True)
            ctx.exit(130)


@click.group(cls=LinkwatchGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="linkwatch")
@click.option(
    "--config",
    "config_path",
    metavar="FILE",
    envvar="LINKWATCH_CONFIG",
    help="Settings file (default: ./linkwatch.toml if present).",
)
@click.option(
    "--state",
    "state_path",
    metavar="PATH|URL",
    help="State database: a SQLite file (state.path) or postgresql://... (state.url).",
)
@click.option(
    "--now",
    callback=_parse_now,
    metavar="ISO-8601",
    help="Act as if it were this moment (replay a schedule; tests).",
)
@click.option("-v", "--verbose", count=True, help="More log output (-vv for debug).")
@click.option("-q", "--quiet", is_flag=True, help="Only errors on stderr; no progress.")
@click.pass_context
def cli(
    ctx: click.Context,
    config_path: str | None,
    state_path: str | None,
    now: datetime | None,
    verbose: int,
    quiet: bool,
) -> None:
    """linkwatch: keep every source cited in a corpus alive or preserved.

    extract -> scan -> check -> archive -> report, by hand or as a daemon.
    """
    verbosity = -1 if quiet else verbose
    setup_logging(verbosity)
    app = App(config_path=config_path, verbosity=verbosity)
    if now is not None:
        app.clock = fixed_clock(now)
    if state_path:
        key = "url" if "://" in state_path else "path"
        app.overrides["state"] = {key: state_path}
    ctx.obj = app
    ctx.call_on_close(app.close)


def main() -> None:
    cli.main(prog_name="linkwatch")
