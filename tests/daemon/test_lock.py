"""One daemon per state: a second refuses with a clear message; status can tell."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from linkwatch.config import load_settings
from linkwatch.daemon import DaemonLock, daemon_pid, lock_path
from linkwatch.errors import DaemonRunningError


def test_second_lock_on_the_same_state_is_refused(tmp_path: Path) -> None:
    settings = load_settings(None, env={}, overrides={"state": {"path": str(tmp_path / "s.db")}})
    first = DaemonLock(lock_path(settings))
    first.acquire()
    try:
        assert daemon_pid(settings) == os.getpid()
        with pytest.raises(DaemonRunningError, match=f"pid {os.getpid()}"):
            DaemonLock(lock_path(settings)).acquire()
    finally:
        first.release()
    assert daemon_pid(settings) is None
