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
