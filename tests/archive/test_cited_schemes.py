"""A document that cites ``mailto:``, ``tel:``, ``data:`` or ``javascript:`` URLs: each is
a link the curator sees as "not checked" with its scheme, from the first run, and none is
ever requested or sent to an archive."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from linkwatch.cli import cli
from tests.archive.conftest import ACCESS, SECRET
from tests.kit.fakewayback import FakeWayback
from tests.kit.simweb import SimWeb

KEYS = {"LINKWATCH_IA_ACCESS_KEY": ACCESS, "LINKWATCH_IA_SECRET_KEY": SECRET}


@pytest.fixture(scope="module")
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


def _run(config: Path, *args: str) -> str:
    result = CliRunner().invoke(
        cli, ["--config", str(config), *args], env=KEYS, catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    return result.stdout


def test_other_schemes_are_cited_links_shown_not_checked_and_never_requested(
    tmp_path: Path, web: SimWeb, wayback: FakeWayback
) -> None:
    page = web.url(0, "/ok/press-release")
    (tmp_path / "corpus").mkdir()
    (tmp_path / "corpus" / "story.html").write_text(
        f'<p>Write to <a href="mailto:desk@example.org">the desk</a> or '
        f'<a href="tel:+44-20-7946-0000">call</a>; <a href="{page}">the release</a>; '
        '<a href="javascript:alert(document.cookie)">share</a>'
        '<img src="data:image/gif;base64,R0lGODlhAQABAAAAACw="></p>',
        encoding="utf-8",
    )
    config = tmp_path / "linkwatch.toml"
    config.write_text(
        '[corpus]\npaths = ["corpus/**/*"]\n[state]\npath = "state/lw.db"\n'
        '[report]\ndir = "reports/"\n'
        '[check]\nallow_networks = ["127.0.0.0/8"]\nhost_interval_s = 0.0\ntimeout_s = 3.0\n'
        f'[archive]\nwayback_url = "{wayback.base_url}"\nmemento_sources = []\n'
        f'availability_url = "{wayback.base_url}"\npoll_interval_s = 0.05\n'
        "poll_timeout_s = 3.0\nrequest_timeout_s = 3.0\nrate_window_s = 1.0\n"
        f'submit_networks = ["{web.address(0)}/32"]\n',
        encoding="utf-8",
    )
    web.reset()
    _run(config, "run")
    _run(config, "check", "--all")

    report = json.loads((tmp_path / "reports" / "report.json").read_text(encoding="utf-8"))
    shown = {link["url"]: (link["shown_state"], link["reason"]) for link in report["links"]}
    assert shown == {
        "mailto:desk@example.org": ("not checked", "not checked: a mailto: link, never requested"),
        "tel:+44-20-7946-0000": ("not checked", "not checked: a tel: link, never requested"),
        "javascript:alert(document.cookie)": (
            "not checked",
            "not checked: a javascript: link, never requested",
        ),
        "data:image/gif;base64,R0lGODlhAQABAAAAACw=": (
            "not checked",
            "not checked: a data: link, never requested",
        ),
        page: ("alive", shown[page][1]),
    }
    others = {path for _host, path in web.paths} - {"/ok/press-release"}
    assert all(re.fullmatch(r"/ok/lw[a-z0-9]+", p) for p in others)  # soft-404 probes only
    assert [r.get("url") for r in wayback.requests_of("save")] == [page]
    index = (tmp_path / "reports" / "index.html").read_text(encoding="utf-8")
    assert "a mailto: link, never requested" in index
    assert 'href="javascript:' not in index  # shown as text, never a live link
    status = json.loads(_run(config, "status", "--format", "json"))
    assert status["links"] == {"alive": 1, "not checked": 4}
