"""Nothing private reaches a public archive: captures only for URLs whose last check
connected to public addresses (or ranges opened by archive.submit_networks)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from linkwatch.archive.privacy import submit_refusal
from linkwatch.cli import cli
from tests.archive.conftest import ACCESS, SECRET
from tests.kit.fakewayback import FakeWayback
from tests.kit.simweb import SimWeb

KEYS = {"LINKWATCH_IA_ACCESS_KEY": ACCESS, "LINKWATCH_IA_SECRET_KEY": SECRET}


@pytest.fixture(scope="module")
def web() -> Iterator[SimWeb]:
    with SimWeb(hosts=3) as sim:
        yield sim


@pytest.fixture
def wayback() -> Iterator[FakeWayback]:
    with FakeWayback(
        minute_s=1.0, captures_per_minute=50, cdx_per_minute=200, keys=(ACCESS, SECRET)
    ) as wb:
        wb.faults.status_retry_after = None
        yield wb


def _home(tmp_path: Path, web: SimWeb, wayback: FakeWayback, urls: list[str]) -> Path:
    (tmp_path / "corpus").mkdir()
    body = "\n".join(f"- [source {i}]({u})" for i, u in enumerate(urls))
    (tmp_path / "corpus" / "notes.md").write_text(f"# notes\n\n{body}\n", encoding="utf-8")
    config = tmp_path / "linkwatch.toml"
    config.write_text(
        '[corpus]\npaths = ["corpus/**/*"]\n[state]\npath = "state/lw.db"\n'
        '[report]\ndir = "reports/"\n'
        '[check]\nallow_networks = ["127.0.0.0/8"]\nhost_interval_s = 0.0\ntimeout_s = 3.0\n'
        f'[archive]\nwayback_url = "{wayback.base_url}"\nmemento_sources = []\n'
        f'availability_url = "{wayback.base_url}"\npoll_interval_s = 0.05\n'
        "poll_timeout_s = 3.0\nrequest_timeout_s = 3.0\nrate_window_s = 1.0\n"
        f'submit_networks = ["{web.address(1)}/32"]\n',
        encoding="utf-8",
    )
    return config


def test_only_public_or_opened_targets_are_ever_submitted(
    tmp_path: Path, web: SimWeb, wayback: FakeWayback
) -> None:
    allowed = web.url(1, "/ok/public-enough")
    urls = [
        "http://10.1.2.3/intranet",  # private: refused by the checker
        web.url(0, "/ok/allow-listed"),  # opened only by check.allow_networks
        f"http://localhost:{web.port}/ok/named",  # a name for loopback (not served)
        f"http://2130706434:{web.port}/ok/decimal",  # 127.0.0.2 written as one number
        "http://nowhere.invalid/page",  # never connects
        allowed,  # in archive.submit_networks
    ]
    config = _home(tmp_path, web, wayback, urls)
    result = CliRunner().invoke(
        cli, ["--config", str(config), "run"], env=KEYS, catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    saved = [r.get("url") for r in wayback.requests_of("save")]
    assert saved == [allowed]
    index = (tmp_path / "reports" / "index.html").read_text(encoding="utf-8")
    assert "private address 127.0.0.2: not sent to the archive" in index
    assert "private address: not sent to the archive" in index  # the 10.x URL
    status = CliRunner().invoke(
        cli,
        ["--config", str(config), "status", "--format", "json"],
        env=KEYS,
        catch_exceptions=False,
    )
    held = json.loads(status.stdout)["archive"]["held_back"]
    assert held == {"private address": 3, "the last check did not connect": 1}


@pytest.mark.parametrize(
    ("outcome", "status", "addresses", "opened", "held"),
    [
        (None, None, (), (), "never checked"),
        ("skipped_policy", None, (), (), "private address"),
        ("network_error", None, (), (), "did not connect"),
        ("ok", 200, ("93.184.215.14",), (), None),
        ("ok", 200, ("93.184.215.14", "10.0.0.7"), (), "private address 10.0.0.7"),
        ("redirected", 200, ("::ffff:127.0.0.1",), (), "private address"),
        ("ok", 200, ("10.0.0.7",), ("10.0.0.0/8",), None),
    ],
    ids=[
        "never-checked",
        "refused",
        "no-connection",
        "public",
        "one-hop-private",
        "mapped-loopback",
        "opened-range",
    ],
)
def test_submit_refusal(
    outcome: str | None,
    status: int | None,
    addresses: tuple[str, ...],
    opened: tuple[str, ...],
    held: str | None,
) -> None:
    found = submit_refusal(outcome, status, addresses, opened)
    assert (found is None) if held is None else (found is not None and held in found)
