"""Ctrl-C during ``linkwatch check``: it says at once what it is doing, keeps every
finished result and exits 130."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from tests.kit.simweb import SimWeb


def test_ctrl_c_finishes_what_is_in_flight_keeps_the_results_and_exits_130(
    tmp_path: Path,
) -> None:
    with SimWeb(hosts=1) as web:
        (tmp_path / "corpus").mkdir()
        body = "\n".join(f"- [{i}]({web.url(0, f'/slow/700/page-{i}')})" for i in range(8))
        (tmp_path / "corpus" / "a.md").write_text(body + "\n", encoding="utf-8")
        config = tmp_path / "linkwatch.toml"
        config.write_text(
            '[corpus]\npaths = ["corpus/**/*"]\n[state]\npath = "state/lw.db"\n'
            '[check]\nallow_networks = ["127.0.0.0/8"]\nhost_interval_s = 0.0\n'
            "per_host = 1\nconcurrency = 1\ntimeout_s = 5.0\nsoft404_probe = false\n",
            encoding="utf-8",
        )
        cmd = [sys.executable, "-m", "linkwatch", "--config", str(config)]
        subprocess.run([*cmd, "scan"], check=True, capture_output=True, timeout=60)
        proc = subprocess.Popen(
            [*cmd, "check", "--all"], stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        try:
            deadline = time.monotonic() + 20
            while len(web.hits(0, "/slow/700/page-0")) + len(web.hits(0, "/slow/700/page-1")) < 1:
                assert time.monotonic() < deadline, "no request arrived"
                time.sleep(0.05)
            time.sleep(0.3)
            os.kill(proc.pid, signal.SIGINT)
            out, err = proc.communicate(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=10)
    assert proc.returncode == 130, err.decode()
    assert b"stopping: finishing the checks in flight" in err
    db = sqlite3.connect(tmp_path / "state" / "lw.db")
    try:
        checked = db.execute("SELECT count(*) FROM checks").fetchone()[0]
    finally:
        db.close()
    assert 1 <= checked < 8  # the finished ones kept, the rest left for the next run
