"""The example corpus the README's quick start runs on: what it cites, and that a cycle
without the network (scan and report) works from it."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from click.testing import CliRunner

from linkwatch.cli import cli

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def test_run_on_the_example_corpus_writes_a_report(tmp_path: Path) -> None:
    home = tmp_path / "home"
    shutil.copytree(EXAMPLES, home / "examples")
    config = home / "examples" / "linkwatch.toml"
    result = CliRunner().invoke(
        cli,
        [
            "--config",
            str(config),
            "run",
            "--skip",
            "check",
            "--skip",
            "archive",
            "--format",
            "json",
        ],
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert summary["scan"]["documents_seen"] == 3
    report = json.loads((home / "reports" / "report.json").read_text(encoding="utf-8"))
    urls = {link["url"] for link in report["links"]}
    assert "https://www.treasury.gov/news/press-releases" in urls
    assert not any("not-a-citation" in u for u in urls)
    assert (home / "reports" / "index.html").exists()
    assert (home / "state" / "linkwatch.db").exists()


def test_status_after_a_run_reports_the_runs(tmp_path: Path) -> None:
    home = tmp_path / "home"
    shutil.copytree(EXAMPLES, home / "examples")
    config = str(home / "examples" / "linkwatch.toml")
    runner = CliRunner()
    assert (
        runner.invoke(
            cli, ["--config", config, "run", "--skip", "check", "--skip", "archive"]
        ).exit_code
        == 0
    )
    result = runner.invoke(cli, ["--config", config, "status", "--format", "json"])
    assert result.exit_code == 0, result.output
    status = json.loads(result.output)
    assert status["last_runs"]["scan"]["status"] == "ok"
    assert status["last_runs"]["report"]["status"] == "ok"
    assert status["next_runs"]["check"] == "now"
    assert status["links"]["new"] >= 20
    assert status["daemon"] == {"running": False, "pid": None}


def test_archive_enabled_false_sends_nothing_and_says_so(tmp_path: Path) -> None:
    home = tmp_path / "home"
    shutil.copytree(EXAMPLES, home / "examples")
    config = home / "examples" / "linkwatch.toml"
    config.write_text(
        config.read_text(encoding="utf-8") + "\n[archive]\nenabled = false\n", encoding="utf-8"
    )
    result = CliRunner().invoke(
        cli, ["--config", str(config), "run", "--skip", "check", "--format", "json"]
    )
    assert result.exit_code == 0, result.output
    archive = json.loads(result.output)["archive"]
    assert archive["captures_note"] == "archiving is off (archive.enabled = false)"
    assert archive["due"] == 0 and archive["handled"] == 0
