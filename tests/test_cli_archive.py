"""``linkwatch archive`` end to end against the fake Wayback Machine (CliRunner)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from linkwatch.cli import cli
from linkwatch.store import open_store
from tests.archive.conftest import ACCESS, SECRET, add_link
from tests.kit.fakewayback import FakeWayback
from tests.kit.simweb import SimWeb

KEYS = {"LINKWATCH_IA_ACCESS_KEY": ACCESS, "LINKWATCH_IA_SECRET_KEY": SECRET}


@pytest.fixture
def wayback(clock) -> Iterator[FakeWayback]:
    with FakeWayback(
        clock=clock, keys=(ACCESS, SECRET), minute_s=1.0, captures_per_minute=50, cdx_per_minute=200
    ) as wb:
        wb.faults.status_retry_after = None
        yield wb


@pytest.fixture(scope="module")
def web() -> Iterator[SimWeb]:
    with SimWeb(hosts=2) as sim:
        yield sim


@pytest.fixture
def config(tmp_path: Path, wayback: FakeWayback) -> Path:
    """The pages live on loopback: checked under check.allow_networks, and submitted only
    because archive.submit_networks opens loopback (a stand-in for public addresses)."""
    path = tmp_path / "linkwatch.toml"
    path.write_text(
        '[state]\npath = "state.db"\n'
        '[check]\nallow_networks = ["127.0.0.0/8"]\nhost_interval_s = 0.0\ntimeout_s = 3.0\n'
        f'[archive]\nwayback_url = "{wayback.base_url}"\nmemento_sources = []\n'
        f'availability_url = "{wayback.base_url}"\nrate_window_s = 1.0\n'
        "poll_interval_s = 0.02\npoll_timeout_s = 2.0\nrequest_timeout_s = 2.0\n"
        'captures_per_minute = 40\ncdx_per_minute = 150\nsubmit_networks = ["127.0.0.0/8"]\n',
        encoding="utf-8",
    )
    return path


def invoke(config: Path, *args: str, env: dict[str, str] | None = None):
    return CliRunner().invoke(
        cli,
        ["--config", str(config), "--now", "2026-01-01T00:00:00Z", "archive", *args],
        env=env or {},
        catch_exceptions=False,
    )


def test_jsonl_prints_one_object_per_link(config: Path, clock) -> None:
    store = open_store(config.parent / "state.db", clock=clock)
    add_link(store, "http://one.test/", state="alive", last_outcome="ok")
    add_link(store, "http://two.test/", state="alive", last_outcome="ok")
    store.close()

    result = invoke(config, "--format", "jsonl", env=KEYS)

    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert result.exit_code == 0
    assert sorted(r["url"] for r in records) == ["http://one.test/", "http://two.test/"]
    for r in records:
        assert {"url", "action", "snapshot_url", "snapshot_timestamp", "error"} <= r.keys()
        assert r["action"] == "captured" and r["snapshot_timestamp"] == "20260101000000"


def test_url_is_checked_then_archived_and_summarised(config: Path, wayback, web) -> None:
    page = web.url(0, "/ok/manual-page")
    result = invoke(config, "--url", page, env=KEYS)

    assert result.exit_code == 0, result.output
    assert "captured" in result.output and page in result.output
    assert "1 captured" in result.output
    assert wayback.state.new_captures == {page: 1}
    assert len(web.hits(0, "/ok/manual-page")) >= 1  # checked before it was submitted


def test_a_url_that_cannot_be_reached_is_never_submitted(config: Path, wayback) -> None:
    result = invoke(config, "--url", "http://manual.invalid/page", "--format", "jsonl", env=KEYS)

    assert result.exit_code == 0, result.output
    assert wayback.requests_of("save") == []


def test_without_keys_the_summary_says_captures_need_keys(config: Path) -> None:
    result = invoke(config, "--url", "http://nokeys.test/")

    assert result.exit_code == 0
    assert "skipped" in result.output and "captures need keys" in result.output
    assert "LINKWATCH_IA_ACCESS_KEY" in result.output


def test_json_has_the_summary_and_results(config: Path, web) -> None:
    page = web.url(1, "/ok/j")
    result = invoke(config, "--url", page, "--format", "json", env=KEYS)

    body = json.loads(result.stdout)
    assert body["summary"]["captured"] == 1 and body["results"][0]["url"] == page
    assert ACCESS not in result.output and SECRET not in result.output


def test_a_url_that_cannot_be_archived_is_a_one_line_error(config: Path) -> None:
    result = invoke(config, "--url", "ftp://files.test/x")

    assert result.exit_code == 8
    assert result.output.count("\n") == 1 and "cannot archive" in result.output


def test_a_back_off_persisted_by_one_process_holds_the_next_process(
    config: Path, wayback, clock
) -> None:
    store = open_store(config.parent / "state.db", clock=clock)
    add_link(store, "http://busy.test/a", state="alive", last_outcome="ok")
    add_link(store, "http://busy.test/b", state="alive", last_outcome="ok")
    store.close()
    wayback.faults.save_replies = ["429:3600"]
    first = invoke(config, env=KEYS)
    assert "backing off until 2026-01-01T01:00:00+00:00" in first.output
    asked = len(wayback.requests)

    # a new process (a restart, or a CLI run beside the daemon) 20 minutes later
    second = subprocess.run(
        [sys.executable, "-m", "linkwatch", "--config", str(config),
         "--now", "2026-01-01T00:20:00Z", "archive", "--format", "json"],
        capture_output=True, text=True, timeout=60, env={**os.environ, **KEYS}, check=False,
    )  # fmt: skip

    assert second.returncode == 0, second.stderr
    assert json.loads(second.stdout)["summary"]["backoff_until"] == "2026-01-01T01:00:00+00:00"
    assert len(wayback.requests) == asked  # not one request inside the archive's window
