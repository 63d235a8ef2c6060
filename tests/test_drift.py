"""Content drift: a page that keeps answering 200 while its text is replaced (a press
release swapped for a landing page, a domain bought by someone else) is not the source
that was cited. A SimHash sketch tells an edit from a replacement; a parking page is a
soft 404."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from linkwatch.check.body import parse_page, similarity
from linkwatch.cli import cli
from linkwatch.model import Outcome
from tests.check.harness import make_settings, run_check
from tests.kit.fakewayback import FakeWayback
from tests.kit.simweb import LANDING_TEXT, REPORT_TEXT, SimWeb


def _page(text: str) -> bytes:
    return f"<title>t</title><main><p>{text}</p></main>".encode()


def test_an_edit_stays_alike_and_a_replacement_does_not() -> None:
    first = parse_page(_page(REPORT_TEXT)).sketch
    edited = parse_page(_page(REPORT_TEXT.replace("regional offices", "local offices", 3)))
    replaced = parse_page(_page(LANDING_TEXT))
    alike = similarity(first, edited.sketch)
    other = similarity(first, replaced.sketch)
    assert alike is not None and alike >= 0.9
    assert other is not None and other < 0.75
    assert parse_page(_page("too few words here")).sketch is None  # nothing to compare


@pytest.fixture
def web() -> Iterator[SimWeb]:
    with SimWeb(hosts=1) as sim:
        yield sim


def test_a_domain_parking_page_is_a_soft_404(web: SimWeb) -> None:
    result = run_check(web.url(0, "/parked/old-ministry"), make_settings(soft404_probe=False))
    assert result.outcome is Outcome.SOFT404
    assert result.error is not None and "parking" in result.error


def _lw(config: Path, *args: str) -> Any:
    result = CliRunner().invoke(cli, ["--config", str(config), *args], catch_exceptions=False)
    assert result.exit_code in (0, 3), result.output
    return result


def test_a_replaced_page_is_listed_as_drifted_with_the_copy_from_before_and_fix_offers_it(
    tmp_path: Path, web: SimWeb
) -> None:
    page = web.url(0, "/drift/budget-2019")
    with FakeWayback(minute_s=1.0, cdx_per_minute=300) as wayback:
        wayback.add_capture(page, "20200303000000")  # the page as it was when cited
        (tmp_path / "corpus").mkdir()
        story = tmp_path / "corpus" / "story.md"
        story.write_text(
            f"---\ndate: 2021-01-01\n---\nThe [budget]({page}) says so.\n", encoding="utf-8"
        )
        config = tmp_path / "linkwatch.toml"
        config.write_text(
            '[corpus]\npaths = ["corpus/**/*"]\n[state]\npath = "state/lw.db"\n'
            '[report]\ndir = "reports/"\n'
            '[check]\nallow_networks = ["127.0.0.0/8"]\nhost_interval_s = 0.0\n'
            'timeout_s = 3.0\nfingerprint_every = "1s"\nsoft404_probe = false\n'
            f'[archive]\nwayback_url = "{wayback.base_url}"\n'
            f'availability_url = "{wayback.base_url}"\nrate_window_s = 1.0\n'
            'memento_sources = []\nsubmit_networks = ["127.0.0.0/8"]\n',
            encoding="utf-8",
        )
        _lw(config, "--now", "2026-01-01T00:00:00Z", "run")  # the text as first read
        web.replace(0, "/drift/budget-2019")
        _lw(config, "--now", "2026-01-10T00:00:00Z", "check", "--all")
        _lw(config, "--now", "2026-01-10T00:00:00Z", "archive")
        _lw(config, "--now", "2026-01-10T00:00:00Z", "report")
        fix = json.loads(_lw(config, "fix", "--only", "drifted", "--format", "json").stdout)
        captures = dict(wayback.state.new_captures)

    data = json.loads((tmp_path / "reports" / "report.json").read_text(encoding="utf-8"))
    link = next(lk for lk in data["links"] if lk["url"] == page)
    assert link["state"] == "alive" and link["drifted"] is True and link["similarity"] < 0.75
    assert link["snapshot"]["timestamp"] == "20200303000000"  # from before, not the new page
    index = (tmp_path / "reports" / "index.html").read_text(encoding="utf-8")
    assert 'id="drifted"' in index and "content drift" in index
    assert captures.get(page, 0) <= 1  # the replaced page was never captured as the source
    [change] = fix
    assert change["kind"] == "drifted"
    assert change["snapshot"] == f"https://web.archive.org/web/20200303000000/{page}"
    assert change["new"].startswith(" ([archived](https://web.archive.org/web/20200303000000/")
