"""``linkwatch archive`` end to end against the fake Wayback Machine (CliRunner)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from linkwatch.cli import cli
from linkwatch.store import open_store
from tests.archive.conftest import ACCESS, SECRET, add_link
from tests.kit.fakewayback import FakeWayback

KEYS = {"LINKWATCH_IA_ACCESS_KEY": ACCESS, "LINKWATCH_IA_SECRET_KEY": SECRET}


@pytest.fixture
def wayback(clock) -> Iterator[FakeWayback]:
    with FakeWayback(clock=clock, keys=(ACCESS, SECRET), minute_s=1.0,
                     captures_per_minute=50, cdx_per_minute=200) as wb:
        wb.faults.status_retry_after = None
        yield wb


@pytest.fixture
def config(tmp_path: Path, wayback: FakeWayback) -> Path:
    path = tmp_path / "linkwatch.toml"
    path.write_text(
        f'[state]\npath = "state.db"\n[archive]\nwayback_url = "{wayback.base_url}"\n'
        f'availability_url = "{wayback.base_url}"\nrate_window_s = 1.0\n'
        "poll_interval_s = 0.02\npoll_timeout_s = 2.0\nrequest_timeout_s = 2.0\n"
        "captures_per_minute = 40\ncdx_per_minute = 150\n",
        encoding="utf-8",
    )
    return path


def invoke(config: Path, *args: str, env: dict[str, str] | None = None):
    return CliRunner().invoke(cli, ["--config", str(config), "--now", "2026-01-01T00:00:00Z",
                                    "archive", *args], env=env or {}, catch_exceptions=False)


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


def test_url_archives_one_and_prints_a_summary(config: Path, wayback) -> None:
    result = invoke(config, "--url", "http://manual.test/page", env=KEYS)

    assert result.exit_code == 0, result.output
    assert "captured" in result.output and "http://manual.test/page" in result.output
    assert "1 captured" in result.output
    assert wayback.state.new_captures == {"http://manual.test/page": 1}


def test_without_keys_the_summary_says_captures_need_keys(config: Path) -> None:
    result = invoke(config, "--url", "http://nokeys.test/")

    assert result.exit_code == 0
    assert "skipped" in result.output and "captures need keys" in result.output
    assert "LINKWATCH_IA_ACCESS_KEY" in result.output


def test_json_has_the_summary_and_results(config: Path) -> None:
    result = invoke(config, "--url", "http://j.test/", "--format", "json", env=KEYS)

    body = json.loads(result.stdout)
    assert body["summary"]["captured"] == 1 and body["results"][0]["url"] == "http://j.test/"
    assert ACCESS not in result.output and SECRET not in result.output


def test_a_url_that_cannot_be_archived_is_a_one_line_error(config: Path) -> None:
    result = invoke(config, "--url", "ftp://files.test/x")

    assert result.exit_code == 8
    assert result.output.count("\n") == 1 and "cannot archive" in result.output
