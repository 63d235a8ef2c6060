"""Settings: defaults -> TOML -> LINKWATCH_* env -> CLI flags; unknown keys are errors."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import pytest

from linkwatch.config import (
    DEFAULT_PER_HOST,
    DEFAULT_STATE_PATH,
    Secret,
    load_settings,
    parse_duration,
)
from linkwatch.errors import ConfigError


def write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "linkwatch.toml"
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_defaults_without_a_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    s = load_settings(env={})
    assert s.state.path == DEFAULT_STATE_PATH
    assert s.report.dir == "reports/"
    assert s.check.per_host == DEFAULT_PER_HOST
    assert s.source == "defaults"


def test_file_in_working_directory_is_found(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(tmp_path, "[check]\nper_host = 5\n")
    monkeypatch.chdir(tmp_path)
    assert load_settings(env={}).check.per_host == 5


def test_precedence_file_then_env_then_flags(tmp_path: Path) -> None:
    path = write(tmp_path, "[check]\nper_host = 3\nconcurrency = 7\ntimeout_s = 4.5\n")
    env = {"LINKWATCH_CHECK_CONCURRENCY": "9", "LINKWATCH_CHECK_TIMEOUT_S": "8"}
    s = load_settings(path, env=env, overrides={"check": {"timeout_s": 2.0, "per_host": None}})
    assert (s.check.per_host, s.check.concurrency, s.check.timeout_s) == (3, 9, 2.0)


def test_env_lists_are_comma_separated(tmp_path: Path) -> None:
    s = load_settings(
        write(tmp_path, ""),
        env={
            "LINKWATCH_CHECK_ALLOW_NETWORKS": "127.0.0.0/8, 10.1.0.0/16",
            "LINKWATCH_CORPUS_PATHS": '["a/*.md", "b/**/*.html"]',
        },
    )
    assert s.check.allow_networks == ("127.0.0.0/8", "10.1.0.0/16")
    assert s.corpus.paths == ("a/*.md", "b/**/*.html")


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ("[check]\nper_hots = 2\n", ["check.per_hots", "linkwatch.toml"]),
        ("[chekc]\nper_host = 2\n", ["[chekc]", "linkwatch.toml"]),
    ],
    ids=["unknown-key", "unknown-section"],
)
def test_unknown_keys_name_the_key_and_the_file(
    tmp_path: Path, text: str, names: list[str]
) -> None:
    with pytest.raises(ConfigError) as err:
        load_settings(write(tmp_path, text), env={})
    for name in names:
        assert name in str(err.value)


def test_unknown_env_variable_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="LINKWATCH_CHECK_PERHOST"):
        load_settings(write(tmp_path, ""), env={"LINKWATCH_CHECK_PERHOST": "2"})


@pytest.mark.parametrize(
    "text",
    [
        '[check]\nper_host = "two"\n',
        '[check]\nstrike_spacing = "soon"\n',
        '[schedule]\nreport_at = "25:00"\n',
        '[corpus]\npaths = "*.md"\n',
        "not toml [",
    ],
    ids=["int", "duration", "time-of-day", "list", "syntax"],
)
def test_bad_values_are_config_errors(tmp_path: Path, text: str) -> None:
    with pytest.raises(ConfigError):
        load_settings(write(tmp_path, text), env={})


def test_settings_are_frozen(tmp_path: Path) -> None:
    s = load_settings(write(tmp_path, ""), env={})
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.check.per_host = 9  # type: ignore[misc]


def test_relative_paths_resolve_against_the_config_file(tmp_path: Path) -> None:
    (tmp_path / "conf").mkdir()
    path = tmp_path / "conf" / "linkwatch.toml"
    path.write_text('[state]\npath = "../state/x.db"\n', encoding="utf-8")
    s = load_settings(str(path), env={})
    assert s.state_path == tmp_path / "state" / "x.db"


def test_missing_explicit_config_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_settings(str(tmp_path / "nope.toml"), env={})


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90", 90), ("90s", 90), ("15m", 900), ("1h 30m", 5400), ("3d", 259200), ("1w", 604800)],
)
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "soon", "5 parsecs", "m5"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)


class TestSecrets:
    def test_env_keys_are_wrapped_and_never_printed(self, tmp_path: Path) -> None:
        s = load_settings(
            write(tmp_path, ""),
            env={
                "LINKWATCH_IA_ACCESS_KEY": "AKIA-visible",
                "LINKWATCH_IA_SECRET_KEY": "s3cr3t-value",
            },
        )
        assert s.credentials is not None
        assert s.credentials.secret_key.reveal() == "s3cr3t-value"
        for text in (repr(s), str(s), repr(s.masked())):
            assert "s3cr3t-value" not in text and "AKIA-visible" not in text

    def test_credentials_file_must_not_be_readable_by_others(self, tmp_path: Path) -> None:
        key = tmp_path / "ia.key"
        key.write_text("access:secret\n", encoding="utf-8")
        os.chmod(key, 0o644)
        with pytest.raises(ConfigError, match="chmod 600"):
            load_settings(write(tmp_path, '[archive]\ncredentials_file = "ia.key"\n'), env={})

    def test_credentials_file_is_read(self, tmp_path: Path) -> None:
        key = tmp_path / "ia.key"
        key.write_text("access:secret\n", encoding="utf-8")
        os.chmod(key, 0o600)
        s = load_settings(write(tmp_path, '[archive]\ncredentials_file = "ia.key"\n'), env={})
        assert s.credentials is not None and s.credentials.access_key.reveal() == "access"

    def test_systemd_credentials_directory_is_searched(self, tmp_path: Path) -> None:
        creds = tmp_path / "creds"
        creds.mkdir()
        (creds / "ia-s3").write_text("a:b", encoding="utf-8")
        os.chmod(creds / "ia-s3", 0o400)
        s = load_settings(
            write(tmp_path, '[archive]\ncredentials_file = "ia-s3"\n'),
            env={"CREDENTIALS_DIRECTORY": str(creds)},
        )
        assert s.credentials is not None and s.credentials.secret_key.reveal() == "b"

    def test_half_a_key_pair_is_an_error(self, tmp_path: Path) -> None:
        with pytest.raises(ConfigError, match="both"):
            load_settings(write(tmp_path, ""), env={"LINKWATCH_IA_ACCESS_KEY": "a"})

    def test_secret_repr(self) -> None:
        assert repr(Secret("x")) == "Secret('***')" and str(Secret("x")) == "***"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[check]\nconcurrency = 0\n", "check.concurrency in * must be greater than 0 (it is 0)"),
        ("[check]\ntimeout_s = 0\n", "check.timeout_s in * must be greater than 0"),
        ("[archive]\ncaptures_per_minute = -1\n", "archive.captures_per_minute in * greater"),
        ("[check]\ndrift_below = 1.5\n", "check.drift_below in * must be between 0 and 1"),
        ('[worker]\nlease = "0s"\n', "worker.lease in * must be greater than 0"),
        ("[worker]\nhosts_per_claim = -2\n", "worker.hosts_per_claim in * 0 or more"),
        ('[fix]\nhtml_style = "inline"\n', "fix.html_style in * one of robustlinks, replace"),
        ('[schedule]\nreport_at = "25:00"\n', "schedule.report_at in * time of day HH:MM"),
        ("[check]\nstrikes = 2.5\n", "check.strikes in * expected an integer, got 2.5"),
        ('[check]\nrecheck_alive = "soon"\n', "check.recheck_alive in * not a duration"),
        ("[corpus]\npath = ['x']\n", "unknown key corpus.path in"),
        ("[corpus]\npath = ['x']\n", "(did you mean corpus.paths?)"),
        ("[chek]\ntimeout_s = 3\n", "(did you mean [check]?)"),
    ],
)
def test_values_are_checked_for_range_and_unknown_keys_get_a_suggestion(
    tmp_path: Path, text: str, message: str
) -> None:
    path = tmp_path / "linkwatch.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_settings(path)
    text = str(info.value)  # the parts of ``message`` around " * ", in that order
    for part in message.split(" * "):
        assert part in text, text
        text = text[text.index(part) + len(part) :]


def test_a_backup_into_a_missing_folder_is_a_one_line_error(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from linkwatch.cli import cli

    state = tmp_path / "state.db"
    result = CliRunner().invoke(
        cli, ["--state", str(state), "db", "backup", str(tmp_path / "no" / "such" / "b.db")]
    )
    assert result.exit_code == 3
    assert result.output.strip().count("\n") == 0 and "create it first" in result.output


def test_durations_are_parsed_once_into_seconds_and_the_seconds_are_not_settings(
    tmp_path: Path,
) -> None:
    path = tmp_path / "linkwatch.toml"
    path.write_text('[check]\nstrike_spacing = "1h 30m"\n[schedule]\ncheck_every = "90s"\n')
    s = load_settings(path)
    assert (s.check.strike_spacing_s, s.schedule.check_every_s) == (5400.0, 90.0)
    assert s.archive.if_not_archived_within_s == 30 * 86400.0  # the default, "30d"
    path.write_text("[check]\nstrike_spacing_s = 10.0\n")
    with pytest.raises(ConfigError, match="unknown key check.strike_spacing_s"):
        load_settings(path)


def test_state_url_selects_the_backend_and_hides_its_password() -> None:
    from linkwatch.config import load_settings

    pg = load_settings(None, overrides={"state": {"url": "postgresql://lw:s3cret@db.example/lw"}})
    assert pg.shared_state and pg.state_target == "postgresql://lw:s3cret@db.example/lw"
    assert pg.state_where == "postgresql://lw:***@db.example/lw"
    lite = load_settings(None, overrides={"state": {"url": "sqlite:///elsewhere/x.db"}})
    assert not lite.shared_state and str(lite.state_target).endswith("elsewhere/x.db")


def test_an_unknown_state_url_scheme_is_a_config_error_without_the_password() -> None:
    from linkwatch.config import load_settings
    from linkwatch.errors import ConfigError

    with pytest.raises(ConfigError, match=r"state.url: 'mysql://u:\*\*\*@h/d'") as caught:
        load_settings(None, overrides={"state": {"url": "mysql://u:pw@h/d"}})
    assert "pw" not in str(caught.value)


def test_every_declared_duration_has_a_seconds_field_and_env_text_is_held_to_the_schema() -> None:
    from dataclasses import fields

    from linkwatch.config import DURATION, Settings, schema

    for section in fields(Settings):
        if not isinstance(section.default_factory, type):
            continue
        cls = section.default_factory
        names = {f.name for f in fields(cls)}
        for key, hint in schema(cls).items():
            if DURATION in getattr(hint, "__metadata__", ()):
                assert f"{key}_s" in names, f"{section.name}.{key} has no {key}_s field"
    s = load_settings(None, env={"LINKWATCH_WORKER_LEASE": "90s", "LINKWATCH_CHECK_STRIKES": "4"})
    assert (s.worker.lease_s, s.check.strikes) == (90.0, 4)
    with pytest.raises(ConfigError, match="worker.lease in the environment: must be greater"):
        load_settings(None, env={"LINKWATCH_WORKER_LEASE": "0s"})
    with pytest.raises(ConfigError, match="fix.markdown_style in the environment: must be one"):
        load_settings(None, env={"LINKWATCH_FIX_MARKDOWN_STYLE": "inline"})
