"""The archive stage as a curator meets it: a corpus, a few runs, the report and status.

A citation of an archived copy is a working citation whatever its original does (and is
said to be one, "the original is back" when it answers again); a page that was down when
its capture was tried is captured once it comes back ("recovered, capture queued")."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from selectolax.lexbor import LexborHTMLParser

from linkwatch.cli import cli
from tests.archive.conftest import ACCESS, SECRET
from tests.kit.fakewayback import FakeWayback
from tests.kit.simweb import SimWeb

KEYS = {"LINKWATCH_IA_ACCESS_KEY": ACCESS, "LINKWATCH_IA_SECRET_KEY": SECRET}


@pytest.fixture
def web() -> Iterator[SimWeb]:
    with SimWeb(hosts=1) as sim:
        yield sim


@pytest.fixture
def wayback() -> Iterator[FakeWayback]:
    with FakeWayback(
        minute_s=1.0, captures_per_minute=50, cdx_per_minute=200, keys=(ACCESS, SECRET)
    ) as wb:
        wb.faults.status_retry_after = None
        yield wb


def _home(tmp_path: Path, wayback: FakeWayback, text: str) -> Path:
    (tmp_path / "corpus").mkdir()
    (tmp_path / "corpus" / "story.md").write_text(f"# Story\n\n{text}\n", encoding="utf-8")
    config = tmp_path / "linkwatch.toml"
    config.write_text(
        '[corpus]\npaths = ["corpus/**/*"]\n[state]\npath = "state/lw.db"\n'
        '[report]\ndir = "reports/"\n'
        '[check]\nallow_networks = ["127.0.0.0/8"]\nhost_interval_s = 0.0\ntimeout_s = 3.0\n'
        f'[archive]\nwayback_url = "{wayback.base_url}"\nmemento_sources = []\n'
        f'availability_url = "{wayback.base_url}"\npoll_interval_s = 0.05\n'
        "poll_timeout_s = 3.0\nrequest_timeout_s = 3.0\nrate_window_s = 1.0\n"
        'submit_networks = ["127.0.0.0/8"]\n',
        encoding="utf-8",
    )
    return config


def _cli(config: Path, now: str, *args: str) -> Any:
    result = CliRunner().invoke(
        cli, ["--config", str(config), "--now", now, *args], env=KEYS, catch_exceptions=False
    )
    assert result.exit_code in (0, 3), result.output
    return result


def _section(tmp_path: Path, anchor: str) -> str:
    index = (tmp_path / "reports" / "index.html").read_text(encoding="utf-8")
    node = LexborHTMLParser(index).css_first(f"section#{anchor}")
    assert node is not None
    return node.text(separator=" ")


def _status(config: Path, now: str) -> dict[str, Any]:
    return json.loads(_cli(config, now, "status", "--format", "json").stdout)["archive"]


def test_a_citation_of_an_archived_copy_works_and_says_when_the_original_is_back(
    tmp_path: Path, web: SimWeb, wayback: FakeWayback
) -> None:
    original = web.url(0, "/mortal/budget-2019")
    copy = f"https://web.archive.org/web/20200101000000/{original}"
    wayback.add_capture(original, "20200101000000")
    config = _home(tmp_path, wayback, f"The [budget]({copy}) was cut.")
    web.kill(0, "/mortal/budget-2019")

    _cli(config, "2026-01-01T00:00:00Z", "run")

    assert "budget-2019" not in _section(tmp_path, "problems")  # the citation works
    copies = _section(tmp_path, "archived-citations")
    assert "cited as an archived copy; the original: not found or gone (HTTP 404)" in copies
    assert wayback.requests_of("save") == []  # nothing to capture while the page is down
    assert [r["kind"] for r in wayback.requests].count("replay") == 1  # the copy, checked

    web.revive(0, "/mortal/budget-2019")
    _cli(config, "2026-01-03T00:00:00Z", "run")

    assert "the original is back" in _section(tmp_path, "archived-citations")
    assert wayback.state.new_captures == {original: 1}  # the live page is saved too
    figures = _status(config, "2026-01-03T00:00:00Z")["cited_copies"]
    assert figures == {"cited": 1, "original_back": 1, "original_gone": 0, "copy_not_good": 0}
    data = json.loads((tmp_path / "reports" / "report.json").read_text(encoding="utf-8"))
    link = next(lk for lk in data["links"] if lk["url"] == original)
    assert link["original_back"] is True and link["snapshot"]["url"] == copy
    assert wayback.violations == []


def test_a_page_that_was_down_when_its_capture_was_tried_is_captured_when_it_is_back(
    tmp_path: Path, web: SimWeb, wayback: FakeWayback
) -> None:
    page = web.url(0, "/mortal/press-release")
    config = _home(tmp_path, wayback, f"Said in a [press release]({page}).")
    web.kill(0, "/mortal/press-release")
    _cli(config, "2026-01-01T00:00:00Z", "run")
    assert wayback.state.new_captures == {}

    web.revive(0, "/mortal/press-release")
    _cli(config, "2026-01-04T00:00:00Z", "run", "--skip", "archive")

    assert _status(config, "2026-01-04T00:00:00Z")["recovered_capture_queued"] == 1
    summary = _section(tmp_path, "summary")
    assert "recovered, capture queued: 1" in summary

    _cli(config, "2026-01-04T01:00:00Z", "run")
    assert wayback.state.new_captures == {page: 1}
    assert _status(config, "2026-01-04T01:00:00Z")["recovered_capture_queued"] == 0
    assert wayback.violations == []
