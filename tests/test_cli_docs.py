"""Every command has --help and appears in the README; config keys are documented;
the README's quick start is what .ci/run runs."""

from __future__ import annotations

import re
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from linkwatch.cli import cli

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


def subcommands(group: click.Group) -> dict[str, click.Command]:
    ctx = click.Context(group)
    names = group.list_commands(ctx)
    return {name: cmd for name in names if (cmd := group.get_command(ctx, name)) is not None}


def all_commands(group: click.Group = cli, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    out = [prefix]
    for name, command in subcommands(group).items():
        if isinstance(command, click.Group):
            out += all_commands(command, (*prefix, name))
        else:
            out.append((*prefix, name))
    return out


@pytest.mark.parametrize("path", all_commands(), ids=lambda p: " ".join(p) or "linkwatch")
def test_every_command_has_help(path: tuple[str, ...]) -> None:
    result = CliRunner().invoke(cli, [*path, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output
    assert len(result.output.splitlines()) > 3


def test_every_listed_command_loads() -> None:
    from linkwatch.cli import COMMAND_MODULES

    assert sorted(subcommands(cli)) == sorted(COMMAND_MODULES)


@pytest.mark.parametrize("name", sorted(subcommands(cli)), ids=str)
def test_every_command_is_in_the_readme(name: str) -> None:
    assert f"linkwatch {name}" in README


def test_quick_start_is_two_commands_and_ci_runs_the_second() -> None:
    section = README.split("## Quick start", 1)[1]
    block = re.search(r"```sh\n(.*?)```", section, re.S)
    assert block is not None
    commands = [line for line in block.group(1).splitlines() if line.strip()]
    assert len(commands) == 2
    assert "run" in commands[0] and "pytest" in commands[1]
    assert commands[1] in (ROOT / ".ci" / "run").read_text(encoding="utf-8")


def test_every_config_key_is_documented() -> None:
    import dataclasses

    from linkwatch.config import Settings

    settings = Settings()
    for section in ("corpus", "state", "report", "check", "archive", "schedule", "notify", "fix"):
        for f in dataclasses.fields(getattr(settings, section)):
            if not f.init:
                continue  # derived (the *_s seconds of a duration)
            assert f"`{section}.{f.name}`" in README, f"{section}.{f.name} missing from README"


def test_the_example_config_parses() -> None:
    from linkwatch.config import load_settings

    s = load_settings(str(ROOT / "examples" / "linkwatch.toml"), env={})
    assert s.corpus.paths


def test_toml_examples_in_the_readme_are_valid_settings(tmp_path: Path) -> None:
    from linkwatch.config import load_settings

    blocks = re.findall(r"```toml\n(.*?)```", README, re.S)
    assert blocks
    for i, block in enumerate(blocks):
        path = tmp_path / f"example{i}.toml"
        path.write_text(block, encoding="utf-8")
        load_settings(str(path), env={})


def test_every_test_the_reliability_section_names_exists() -> None:
    section = README.split("## Reliability", 1)[1].split("\n## ", 1)[0]
    named = set(re.findall(r"`(test_\w+)`", section))
    sources = "\n".join(p.read_text(encoding="utf-8") for p in (ROOT / "tests").rglob("test_*.py"))
    defined = set(re.findall(r"def (test_\w+)", sources))
    # a name may be a -k prefix of a longer test name
    missing = sorted(n for n in named if not any(d.startswith(n) for d in defined))
    assert len(named) > 40 and missing == []


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["check", "-q", "--all"], ["-q", "check", "--all"]),
        (
            ["--now", "2026-01-01", "report", "--config", "a.toml"],
            ["--now", "2026-01-01", "--config", "a.toml", "report"],
        ),
        (["db", "backup", "x.db", "--state=s.db"], ["--state=s.db", "db", "backup", "x.db"]),
        (["extract", "--", "-q"], ["extract", "--", "-q"]),
    ],
)
def test_global_options_may_follow_the_command(args: list[str], expected: list[str]) -> None:
    from linkwatch.cli import hoist_global_options

    assert hoist_global_options(args) == expected


def test_a_global_option_after_the_command_takes_effect(tmp_path: Path) -> None:
    state = tmp_path / "after.db"
    result = CliRunner().invoke(cli, ["status", "--format", "json", "--state", str(state)])
    assert result.exit_code == 0, result.output
    assert str(state) in result.output


def test_a_first_run_without_a_config_says_where_things_will_go(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["status"], env={})
    assert result.exit_code == 0, result.output
    assert f"the state goes to {tmp_path / 'state' / 'linkwatch.db'}" in result.output
    again = CliRunner().invoke(cli, ["status"], env={})  # the state exists now: said once
    assert "no linkwatch.toml here" not in again.output
