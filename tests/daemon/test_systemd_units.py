"""The shipped systemd units pass ``systemd-analyze verify`` and keep their hardening."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

UNITS = Path(__file__).resolve().parents[2] / "systemd"
NAMES = ["linkwatch.service", "linkwatch-oneshot.service", "linkwatch.timer"]


@pytest.mark.skipif(
    shutil.which("systemd-analyze") is None,
    reason="systemd-analyze not installed (Debian package: systemd)",
)
@pytest.mark.parametrize("name", NAMES)
def test_unit_passes_systemd_analyze_verify(name: str, tmp_path: Path) -> None:
    # verify checks that ExecStart exists: point it at this environment's interpreter
    for unit in NAMES:
        text = (UNITS / unit).read_text(encoding="utf-8")
        text = text.replace("/opt/linkwatch/bin/linkwatch", f"{sys.executable} -m linkwatch")
        (tmp_path / unit).write_text(text, encoding="utf-8")
    result = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", str(tmp_path / name)],
        capture_output=True,
        text=True,
        timeout=60,
        env={"SYSTEMD_LOG_LEVEL": "notice", "PATH": "/usr/bin:/bin"},
    )
    problems = [
        line for line in (result.stdout + result.stderr).splitlines() if "linkwatch" in line
    ]
    assert result.returncode == 0 and not problems, result.stderr


@pytest.mark.parametrize(
    "setting",
    [
        "Type=notify",
        "WatchdogSec=",
        "DynamicUser=yes",
        "StateDirectory=linkwatch",
        "ProtectSystem=strict",
        "NoNewPrivileges=yes",
        "RestrictAddressFamilies=",
        "IPAddressDeny=",
        "MemoryMax=",
        "TimeoutStopSec=",
    ],
)
def test_service_keeps_its_hardening(setting: str) -> None:
    assert setting in (UNITS / "linkwatch.service").read_text(encoding="utf-8")


def test_timer_starts_the_oneshot_service() -> None:
    timer = (UNITS / "linkwatch.timer").read_text(encoding="utf-8")
    oneshot = (UNITS / "linkwatch-oneshot.service").read_text(encoding="utf-8")
    assert "Unit=linkwatch-oneshot.service" in timer
    assert "Type=oneshot" in oneshot and " run" in oneshot


def _settings(name: str) -> list[tuple[str, str]]:
    out = []
    for line in (UNITS / name).read_text(encoding="utf-8").splitlines():
        if "=" in line and not line.startswith(("#", "[")):
            key, _, value = line.partition("=")
            out.append((key.strip(), value.strip()))
    return out


def test_a_timer_without_a_calendar_has_no_persistent_setting() -> None:
    keys = dict(_settings("linkwatch.timer"))
    assert "OnCalendar" in keys or "Persistent" not in keys  # Persistent= needs OnCalendar=


@pytest.mark.parametrize("name", ["linkwatch.service", "linkwatch-oneshot.service"])
def test_every_folder_and_credential_a_unit_names_resolves_for_a_dynamic_user(name: str) -> None:
    settings = _settings(name)
    tmpfiles = [
        line.split()
        for line in (UNITS / "linkwatch.tmpfiles").read_text(encoding="utf-8").splitlines()
        if line and not line.startswith("#")
    ]
    made = {path: (mode, group) for _kind, path, mode, _user, group, _age in tmpfiles}
    groups = [v for k, v in settings if k == "SupplementaryGroups"]
    for path in [v for k, v in settings if k == "ReadWritePaths"]:
        assert path in made, f"{path} is created by nothing (linkwatch.tmpfiles)"
        mode, group = made[path]
        assert mode.startswith("27") and group in groups  # group-writable, setgid, ours
    loaded = {v.split(":", 1)[0] for k, v in settings if k == "LoadCredential"}
    defaults = {v.split(":", 1)[0] for k, v in settings if k == "SetCredential"}
    assert loaded <= defaults  # a missing key file must not keep the unit from starting


def test_the_oneshot_command_line_runs_under_the_units_environment(tmp_path: Path) -> None:
    settings = _settings("linkwatch-oneshot.service")
    exec_start = next(v for k, v in settings if k == "ExecStart").split()
    assert exec_start[0] == "/opt/linkwatch/bin/linkwatch"
    config = tmp_path / "linkwatch.toml"
    (tmp_path / "corpus").mkdir()
    (tmp_path / "corpus" / "a.md").write_text("no links yet\n", encoding="utf-8")
    state, reports, creds = tmp_path / "state", tmp_path / "reports", tmp_path / "creds"
    for folder in (state, reports, creds):
        folder.mkdir()
    (creds / "ia-s3").write_text("none", encoding="utf-8")  # SetCredential=ia-s3:none
    (creds / "ia-s3").chmod(0o600)
    config.write_text(
        f'[corpus]\npaths = ["{tmp_path}/corpus/**/*"]\n'
        f'[state]\npath = "{state}/linkwatch.db"\n[report]\ndir = "{reports}"\n'
        '[archive]\ncredentials_file = "ia-s3"\n',
        encoding="utf-8",
    )
    argv = [sys.executable, "-m", "linkwatch"] + [
        str(config) if a == "/etc/linkwatch/linkwatch.toml" else a for a in exec_start[1:]
    ]
    env = {
        "PATH": "/usr/bin:/bin",
        "STATE_DIRECTORY": str(state),
        "CREDENTIALS_DIRECTORY": str(creds),
    }
    env.update(dict(v.split("=", 1) for k, v in settings if k == "Environment"))
    result = subprocess.run(argv, capture_output=True, text=True, timeout=120, env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""  # --quiet: errors only
    assert (reports / "index.html").exists()


@pytest.mark.skipif(
    shutil.which("systemd-analyze") is None,
    reason="systemd-analyze not installed (Debian package: systemd)",
)
@pytest.mark.parametrize("name", ["linkwatch.service", "linkwatch-oneshot.service"])
def test_the_services_exposure_stays_at_or_below_two(name: str) -> None:
    """``systemd-analyze security`` (offline: no running systemd needed) rates both
    services; 2.0 or less is its "OK" band (1.6 and 1.8 when written). ``--threshold``
    is in tenths of the printed exposure."""
    result = subprocess.run(
        ["systemd-analyze", "security", "--offline=true", "--threshold=20", "--no-pager",
         str(UNITS / name)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr
    assert "Overall exposure level" in result.stdout
