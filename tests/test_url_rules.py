"""``check.exclude`` and ``check.accept`` from the user's side: excluded URLs are never
requested and are shown "not checked" with the rule; an accepted status is alive."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from linkwatch.cli import cli
from tests.kit.simweb import SimWeb


@pytest.fixture(scope="module")
def web() -> Iterator[SimWeb]:
    with SimWeb(hosts=2) as sim:
        yield sim


def _home(tmp_path: Path, web: SimWeb, check: str) -> tuple[Path, dict[str, str]]:
    urls = {
        "internal": web.url(0, "/ok/intranet-minutes"),
        "globbed": web.url(1, "/ok/tracker/pixel"),
        "bot-wall": web.url(1, "/challenge/annual-report"),
        "plain": web.url(0, "/ok/story"),
    }
    (tmp_path / "corpus").mkdir()
    (tmp_path / "corpus" / "a.md").write_text(
        "\n".join(f"- [{k}]({u})" for k, u in urls.items()) + "\n", encoding="utf-8"
    )
    config = tmp_path / "linkwatch.toml"
    config.write_text(
        '[corpus]\npaths = ["corpus/**/*"]\n[state]\npath = "state/lw.db"\n'
        '[report]\ndir = "reports/"\n[archive]\nenabled = false\n'
        '[check]\nallow_networks = ["127.0.0.0/8"]\nhost_interval_s = 0.0\ntimeout_s = 3.0\n'
        "soft404_probe = false\n" + check,
        encoding="utf-8",
    )
    return config, urls


def _lw(config: Path, *args: str) -> Any:
    return CliRunner().invoke(cli, ["--config", str(config), *args], catch_exceptions=False)


def test_excluded_urls_are_never_requested_and_accepted_statuses_are_alive(
    tmp_path: Path, web: SimWeb
) -> None:
    config, urls = _home(
        tmp_path,
        web,
        "exclude = ['/intranet-', 'glob:*/tracker/*']\n"
        f"accept = ['403@^http://{web.address(1)}:{web.port}/challenge/']\n",
    )
    assert _lw(config, "run").exit_code == 0
    data = json.loads((tmp_path / "reports" / "report.json").read_text(encoding="utf-8"))
    links = {lk["url"]: lk for lk in data["links"]}

    assert web.hits(0, "/ok/intranet-minutes") == [] and web.hits(1, "/ok/tracker/pixel") == []
    internal = links[urls["internal"]]
    assert internal["shown_state"] == "not checked"
    assert internal["reason"] == "not checked: excluded by check.exclude '/intranet-'"
    assert links[urls["globbed"]]["reason"].endswith("'glob:*/tracker/*'")
    wall = links[urls["bot-wall"]]
    assert wall["state"] == "alive" and wall["last_status"] == 403
    assert links[urls["plain"]]["state"] == "alive"


@pytest.mark.parametrize(
    ("check", "message"),
    [
        ("exclude = ['(unclosed']\n", "check.exclude: '(unclosed' is not a valid regular expr"),
        ("accept = ['forbidden']\n", "check.accept: 'forbidden' is not STATUS"),
        ("accept = ['999']\n", "check.accept: '999' is not STATUS"),
    ],
)
def test_a_bad_rule_is_a_configuration_error_naming_it(
    tmp_path: Path, web: SimWeb, check: str, message: str
) -> None:
    config, _ = _home(tmp_path, web, check)
    result = _lw(config, "check", "--all")
    assert result.exit_code == 2
    assert message in result.output
