"""``linkwatch check``: due links, --all, --doc, ad-hoc URLs, formats, --fail-on, --now."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from linkwatch.cli import cli
from linkwatch.cli.check import summary_text
from linkwatch.jobs.check import CheckSummary
from linkwatch.store import open_store
from tests.check.harness import add_links
from tests.kit.simweb import SimWeb


@pytest.fixture(scope="module")
def web() -> Iterator[SimWeb]:
    with SimWeb(hosts=2) as sim:
        yield sim


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "linkwatch.toml"
    path.write_text(
        '[state]\npath = "state/linkwatch.db"\n'
        '[check]\nallow_networks = ["127.0.0.0/8"]\nhost_interval_s = 0.0\ntimeout_s = 3.0\n',
        encoding="utf-8",
    )
    return path


def run(config: Path, *args: str) -> Result:
    return CliRunner().invoke(cli, ["--config", str(config), *args], catch_exceptions=False)


def jsonl(result: Result) -> list[dict[str, object]]:
    return [json.loads(line) for line in result.stdout.splitlines() if line.strip()]


def seed(config: Path, urls: list[str]) -> None:
    store = open_store(config.parent / "state" / "linkwatch.db")
    try:
        add_links(store, urls)
    finally:
        store.close()


def test_help_describes_the_command(config: Path) -> None:
    result = run(config, "check", "--help")
    assert result.exit_code == 0
    for option in ("--all", "--doc", "--urls", "--format", "--allow-network", "--fail-on"):
        assert option in result.stdout


def test_adhoc_jsonl_has_one_object_per_url(web: SimWeb, config: Path) -> None:
    urls = [web.url(0, "/ok/cli"), web.url(0, "/status/404"), web.url(1, "/redirect/301/ok/n")]
    result = run(config, "check", "--format", "jsonl", *urls)
    assert result.exit_code == 0  # broken links are findings, not failures
    records = {r["url"]: r for r in jsonl(result)}
    assert set(records) == set(urls)
    for r in records.values():
        assert {
            "url",
            "outcome",
            "status",
            "final_url",
            "redirects",
            "elapsed_ms",
            "error",
            "state",
        } <= r.keys()
    assert records[urls[1]]["outcome"] == "broken" and records[urls[1]]["status"] == 404
    assert records[urls[2]]["redirects"] == [web.url(1, "/ok/n")]
    assert not (config.parent / "state" / "linkwatch.db").exists()  # ad-hoc creates no DB


@pytest.mark.parametrize(
    ("fail_on", "path", "code"),
    [
        ("broken", "/status/404", 1),
        ("broken", "/status/403", 0),
        ("any-failure", "/status/403", 1),
        ("any-failure", "/ok/fine", 0),
        ("dead", "/status/404", 0),
    ],
)
def test_fail_on(web: SimWeb, config: Path, fail_on: str, path: str, code: int) -> None:
    result = run(config, "check", "--fail-on", fail_on, web.url(0, path))
    assert result.exit_code == code


def test_now_steps_through_days_until_a_link_is_dead(web: SimWeb, config: Path) -> None:
    seed(config, [web.url(0, "/gone/cli")])
    days = ["2026-03-01T00:00:00Z", "2026-03-04T00:10:00Z", "2026-03-07T00:20:00Z"]
    results = [
        run(config, "--now", d, "check", "--format", "jsonl", "--fail-on", "dead") for d in days
    ]
    assert [jsonl(r)[0]["state"] for r in results] == ["failing", "failing", "dead"]
    assert [r.exit_code for r in results] == [0, 0, 1]


def test_due_links_are_not_checked_twice_but_all_are(web: SimWeb, config: Path) -> None:
    seed(config, [web.url(1, "/ok/d1"), web.url(1, "/ok/d2")])
    now = ["--now", "2026-03-01T00:00:00Z"]
    first = run(config, *now, "check", "--format", "json")
    again = run(config, *now, "check", "--format", "json")
    every = run(config, *now, "check", "--all", "--format", "json")
    counts = [json.loads(r.stdout)["summary"]["checked"] for r in (first, again, every)]
    assert counts == [2, 0, 2]
    assert json.loads(first.stdout)["summary"]["by_state"] == {"alive": 2}


def test_urls_file_and_text_output(web: SimWeb, config: Path, tmp_path: Path) -> None:
    listing = tmp_path / "urls.txt"
    listing.write_text(f"# comment\n{web.url(0, '/ok/f1')}\n\n{web.url(0, '/gone/f2')}\n")
    result = run(config, "check", "--urls", str(listing))
    assert result.exit_code == 0
    assert "broken" in result.stdout and web.url(0, "/gone/f2") in result.stdout
    assert "checked 2 of 2" in result.stdout


def test_allow_network_flag_opens_a_range(web: SimWeb, tmp_path: Path) -> None:
    config = tmp_path / "strict.toml"
    config.write_text("[check]\nhost_interval_s = 0.0\n", encoding="utf-8")
    blocked = jsonl(run(config, "check", "--format", "jsonl", web.url(0, "/ok/a")))
    opened = jsonl(
        run(
            config,
            "check",
            "--format",
            "jsonl",
            "--allow-network",
            "127.0.0.0/8",
            web.url(0, "/ok/a"),
        )
    )
    assert blocked[0]["outcome"] == "skipped_policy"
    assert opened[0]["outcome"] == "ok"


def test_unknown_document_is_a_one_line_error(config: Path) -> None:
    seed(config, [])
    result = run(config, "check", "--doc", "missing.md")
    assert result.exit_code == 5
    assert result.stderr.count("\n") == 1 and "linkwatch scan" in result.stderr


def test_urls_and_all_together_are_a_usage_error(web: SimWeb, config: Path) -> None:
    assert run(config, "check", "--all", web.url(0, "/ok/a")).exit_code == 2


def test_summary_says_when_the_network_looked_down() -> None:
    down = summary_text(CheckSummary(total=24, checked=24, network_down=True))
    assert "network looks down" in down and "nothing in this run was counted" in down
    assert "network" not in summary_text(CheckSummary(total=24, checked=24))
