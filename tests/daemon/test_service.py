"""The real daemon, as a subprocess, against the simulated web and the fake Wayback Machine.

Each test starts ``python -m linkwatch daemon`` with short intervals and stops it by PID.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.daemon.conftest import NotifySocket
from tests.kit.fakewayback import FakeWayback
from tests.kit.simweb import SimWeb

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def web() -> Iterator[SimWeb]:
    with SimWeb(hosts=3) as w:
        yield w


@pytest.fixture
def wayback() -> Iterator[FakeWayback]:
    """Fresh per test: the fake counts requests per minute like the real archive."""
    with FakeWayback() as wb:
        yield wb


class Service:
    """A linkwatch home: corpus, config, state; starts daemons and CLI commands."""

    def __init__(self, root: Path, web: SimWeb, wayback: FakeWayback) -> None:
        self.root = root
        self.web = web
        self.wayback = wayback
        self.procs: list[subprocess.Popen[str]] = []
        (root / "corpus").mkdir()
        self.config = root / "linkwatch.toml"
        self.write_config()

    def write_config(self, **extra: str) -> None:
        schedule = {
            "scan_every": "2s",
            "check_every": "2s",
            "archive_every": "3s",
            "report_every": "3s",
            "stall_after": "10m",
            **extra,
        }
        self.config.write_text(
            f"""
[corpus]
paths = ["corpus/**/*"]
[state]
path = "state/linkwatch.db"
[report]
dir = "reports/"
[check]
allow_networks = ["127.0.0.0/8"]
per_host = 2
host_interval_s = 0.0
timeout_s = 3.0
strike_spacing = "1s"
[archive]
wayback_url = "{self.wayback.base_url}"
memento_sources = []
availability_url = "{self.wayback.base_url}"
poll_interval_s = 0.1
poll_timeout_s = 5.0
request_timeout_s = 5.0
submit_networks = ["127.0.0.0/8"]
[schedule]
"""
            + "".join(f'{k} = "{v}"\n' for k, v in schedule.items()),
            encoding="utf-8",
        )

    def cite(self, name: str, urls: list[str]) -> None:
        body = "\n".join(f"- [source {i}]({u})" for i, u in enumerate(urls))
        (self.root / "corpus" / name).write_text(f"# {name}\n\n{body}\n", encoding="utf-8")

    def env(self, **more: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("LINKWATCH_")}
        env.update(
            {
                "LINKWATCH_IA_ACCESS_KEY": "test-access",
                "LINKWATCH_IA_SECRET_KEY": "test-secret-do-not-log",
                "PYTHONUNBUFFERED": "1",
            },
            **more,
        )
        env.pop("NOTIFY_SOCKET", None)
        env.update(more)
        return env

    def start(self, **env: str) -> subprocess.Popen[str]:
        proc = subprocess.Popen(
            [sys.executable, "-m", "linkwatch", "--config", str(self.config), "daemon"],
            cwd=self.root,
            env=self.env(**env),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.procs.append(proc)
        return proc

    def cli(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "linkwatch", "--config", str(self.config), *args],
            cwd=self.root,
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def db(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.root / "state" / "linkwatch.db", timeout=10)
        conn.row_factory = sqlite3.Row
        return conn

    def count(self, sql: str) -> int:
        path = self.root / "state" / "linkwatch.db"
        if not path.exists():
            return 0
        conn = self.db()
        try:
            return int(conn.execute(sql).fetchone()[0])
        except sqlite3.OperationalError:
            return 0
        finally:
            conn.close()

    def stop_all(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
            proc.communicate(timeout=10)


@pytest.fixture
def service(tmp_path: Path, web: SimWeb, wayback: FakeWayback) -> Iterator[Service]:
    s = Service(tmp_path, web, wayback)
    yield s
    s.stop_all()


def wait_for(predicate: Callable[[], bool], timeout: float = 20.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.1)
    return False


def stop(proc: subprocess.Popen[str], sig: int = signal.SIGTERM) -> tuple[int, float, str]:
    began = time.monotonic()
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=30)
    return proc.returncode, time.monotonic() - began, err


def test_a_full_cycle_produces_a_report(service: Service, web: SimWeb) -> None:
    service.cite("a.md", [web.url(0, "/ok/a"), web.url(1, "/status/404/x"), web.url(2, "/ok/b")])
    proc = service.start()
    reports = service.root / "reports"
    assert wait_for(
        lambda: (
            (reports / "report.json").exists()
            and service.count("SELECT COUNT(*) FROM runs WHERE job='report' AND status='ok'") > 0
        )
    )
    assert wait_for(lambda: service.count("SELECT COUNT(*) FROM checks") >= 3)
    code, took, err = stop(proc)
    assert code == 0, err
    assert took < 5
    assert (reports / "index.html").read_text(encoding="utf-8").count("<html") == 1
    assert "test-secret-do-not-log" not in err


def test_a_second_daemon_on_the_same_state_refuses(service: Service, web: SimWeb) -> None:
    service.cite("a.md", [web.url(0, "/ok/a")])
    first = service.start()
    assert wait_for(lambda: (service.root / "state" / "linkwatch.db.daemon.lock").exists())
    second = service.start()
    _, err = second.communicate(timeout=20)
    assert second.returncode == 7
    assert f"pid {first.pid}" in err and "already runs" in err
    assert stop(first)[0] == 0


@pytest.mark.slow
def test_sigterm_during_a_busy_batch_exits_promptly_with_the_batch_committed(
    service: Service, web: SimWeb
) -> None:
    slow = [web.url(i % 3, f"/slow/400/p{i}") for i in range(60)]
    service.cite("busy.md", slow)
    proc = service.start()
    assert wait_for(lambda: service.count("SELECT COUNT(*) FROM checks") >= 5)
    answered = len([h for h in web.requests if "/slow/400/" in h.path])
    code, took, err = stop(proc)
    assert code == 0, err
    assert took < 10
    checks = service.count("SELECT COUNT(*) FROM checks")
    assert checks >= 5
    assert checks < 60, "the daemon went on checking after SIGTERM"
    conn = service.db()
    try:
        run = conn.execute(
            "SELECT status, finished_at FROM runs WHERE job='check' ORDER BY id DESC LIMIT 1"
        ).fetchone()
        assert run["status"] in ("aborted", "ok") and run["finished_at"]
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        conn.close()
    assert answered > 0


@pytest.mark.slow
def test_sigkill_mid_run_then_restart_loses_nothing_and_redoes_due_work(
    service: Service, web: SimWeb
) -> None:
    urls = [web.url(i % 3, f"/slow/200/k{i}") for i in range(30)]
    service.cite("kill.md", urls)
    proc = service.start()
    assert wait_for(lambda: service.count("SELECT COUNT(*) FROM checks") >= 3)
    proc.kill()
    proc.communicate(timeout=10)
    restarted = service.start()
    assert wait_for(
        lambda: service.count("SELECT COUNT(*) FROM links WHERE last_checked_at IS NOT NULL") == 30,
        timeout=60,
    )
    assert stop(restarted)[0] == 0
    conn = service.db()
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert conn.execute("SELECT COUNT(*) FROM links").fetchone()[0] == 30
        assert (
            conn.execute("SELECT COUNT(*) FROM citations WHERE ended_at IS NULL").fetchone()[0]
            == 30
        )
        dupes = conn.execute(
            "SELECT COUNT(*) FROM (SELECT link_id, checked_at FROM checks "
            "GROUP BY 1, 2 HAVING COUNT(*) > 1)"
        ).fetchone()[0]
        assert dupes == 0
        statuses = [r[0] for r in conn.execute("SELECT status FROM runs ORDER BY id")]
        assert "aborted" in statuses
        assert "running" not in statuses
    finally:
        conn.close()


@pytest.mark.slow
def test_cli_check_and_status_run_beside_the_daemon_without_errors(
    service: Service, web: SimWeb
) -> None:
    service.cite("a.md", [web.url(i % 3, f"/ok/side{i}") for i in range(12)])
    proc = service.start()
    assert wait_for(lambda: service.count("SELECT COUNT(*) FROM links") == 12)
    end = time.monotonic() + 30  # a bound; eight CLI runs beside the daemon are the test
    runs = 0
    while time.monotonic() < end and runs < 8:
        for args in (("check", "--all"), ("status", "--format", "json")):
            result = service.cli(*args)
            assert result.returncode == 0, (args, result.stderr)
            assert "locked" not in result.stderr and "Traceback" not in result.stderr
            runs += 1
    assert runs >= 6
    assert proc.poll() is None
    code, _, err = stop(proc)
    assert code == 0, err
    assert "locked" not in err


@pytest.mark.slow
def test_a_job_that_fails_once_does_not_stop_the_loop(service: Service, web: SimWeb) -> None:
    service.cite("a.md", [web.url(0, "/ok/a")])
    (service.root / "reports").write_text("a file where the report dir should be")
    proc = service.start()
    assert wait_for(
        lambda: (
            service.count("SELECT COUNT(*) FROM runs WHERE job='report' AND status='error'") >= 1
        )
    )
    (service.root / "reports").unlink()
    assert wait_for(
        lambda: service.count("SELECT COUNT(*) FROM runs WHERE job='report' AND status='ok'") >= 1
    )
    assert proc.poll() is None
    assert stop(proc)[0] == 0


@pytest.mark.slow
def test_the_watchdog_stops_pinging_when_a_check_hangs(
    service: Service, web: SimWeb, notify_socket: NotifySocket
) -> None:
    service.write_config(stall_after="2s")
    service.config.write_text(
        service.config.read_text().replace("timeout_s = 3.0", "timeout_s = 25.0")
    )
    service.cite("hang.md", [web.url(0, "/trickle/hang")])
    proc = service.start(NOTIFY_SOCKET=str(notify_socket.path), WATCHDOG_USEC="500000")
    assert wait_for(lambda: any(m.startswith("READY=1") for m in notify_socket.drain()))
    assert wait_for(lambda: any(m.startswith("STATUS=check") for m in notify_socket.drain()))
    time.sleep(2.5)
    notify_socket.drain()
    notify_socket.messages.clear()
    time.sleep(2.0)
    assert "WATCHDOG=1" not in notify_socket.drain()
    code, _, err = stop(proc, signal.SIGKILL)
    assert code == -signal.SIGKILL


def test_sighup_reloads_the_config(service: Service, web: SimWeb) -> None:
    service.cite("a.md", [web.url(0, "/ok/a")])
    proc = service.start()
    assert wait_for(lambda: service.count("SELECT COUNT(*) FROM runs WHERE status='ok'") >= 1)
    proc.send_signal(signal.SIGHUP)
    time.sleep(1.0)
    assert proc.poll() is None
    code, _, err = stop(proc)
    assert code == 0
    assert "settings reloaded" in err


def test_an_idle_daemon_exits_in_under_a_second(
    service: Service, web: SimWeb, notify_socket: NotifySocket
) -> None:
    service.write_config(scan_every="1h", check_every="1h", archive_every="1h", report_every="1h")
    service.cite("a.md", [web.url(0, "/ok/idle")])
    proc = service.start(NOTIFY_SOCKET=str(notify_socket.path))
    assert wait_for(
        lambda: (
            service.count(
                "SELECT COUNT(*) FROM runs WHERE job='report' AND finished_at IS NOT NULL"
            )
            == 1
        )
    )
    assert wait_for(lambda: notify_socket.drain()[-1:] == ["STATUS=idle"])
    code, took, err = stop(proc)
    assert code == 0, err
    assert took < 1.0
    assert any(m.startswith("STOPPING=1") for m in notify_socket.drain())
