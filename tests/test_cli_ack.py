"""``linkwatch ack`` / ``unack``: a known finding leaves the dead list for its own
section, with the note, until the date given."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from linkwatch.cli import cli
from tests.kit.simweb import SimWeb

RUNS = ("2026-01-01T00:00:00Z", "2026-01-03T00:00:00Z", "2026-01-05T00:00:00Z")


def _lw(config: Path, *args: str) -> Any:
    return CliRunner().invoke(cli, ["--config", str(config), *args], catch_exceptions=False)


def _links(home: Path, now: str) -> dict[str, dict[str, Any]]:
    assert _lw(home / "linkwatch.toml", "--now", now, "report").exit_code == 0
    data = json.loads((home / "reports" / "report.json").read_text(encoding="utf-8"))
    return {lk["url"]: lk for lk in data["links"]}


def _problems(home: Path) -> str:
    index = (home / "reports" / "index.html").read_text(encoding="utf-8")
    return index.split('id="problems"', 1)[1].split("</section>", 1)[0]


def test_an_acknowledged_dead_link_leaves_the_dead_list_until_its_date(tmp_path: Path) -> None:
    with SimWeb(hosts=1) as web:
        gone = web.url(0, "/gone/retired-page")
        (tmp_path / "corpus").mkdir()
        (tmp_path / "corpus" / "a.md").write_text(f"[old]({gone})\n", encoding="utf-8")
        config = tmp_path / "linkwatch.toml"
        config.write_text(
            '[corpus]\npaths = ["corpus/**/*"]\n[state]\npath = "state/lw.db"\n'
            '[report]\ndir = "reports/"\n[archive]\nenabled = false\n'
            '[check]\nallow_networks = ["127.0.0.0/8"]\nhost_interval_s = 0.0\n'
            'timeout_s = 3.0\nstrikes = 2\nstrike_spacing = "1h"\n',
            encoding="utf-8",
        )
        for now in RUNS:
            assert _lw(config, "--now", now, "run").exit_code == 0
    assert _links(tmp_path, RUNS[-1])[gone]["state"] == "dead"
    assert "retired-page" in _problems(tmp_path)

    done = _lw(
        config, "--now", RUNS[-1], "ack", gone, "--note", "retired on purpose", "--until",
        "2026-02-01",
    )  # fmt: skip
    assert done.exit_code == 0 and "until 2026-02-01" in done.output

    link = _links(tmp_path, RUNS[-1])[gone]
    assert link["acknowledged"] is True and link["ack_note"] == "retired on purpose"
    assert "retired-page" not in _problems(tmp_path)
    index = (tmp_path / "reports" / "index.html").read_text(encoding="utf-8")
    assert "acknowledged until 2026-02-01: retired on purpose" in index
    # after the date it is a finding again
    assert _links(tmp_path, "2026-02-02T00:00:00Z")[gone]["acknowledged"] is False
    assert "retired-page" in _problems(tmp_path)

    assert _lw(config, "unack", gone).exit_code == 0
    assert _links(tmp_path, RUNS[-1])[gone]["acknowledged"] is False
    again = _lw(config, "unack", gone)
    assert again.exit_code == 5 and "is not acknowledged" in again.output
    unknown = _lw(config, "ack", "https://never.cited.example/", "--note", "x")
    assert unknown.exit_code == 5 and "not a link of the corpus" in unknown.output


def test_the_markdown_summary_lists_the_findings_escaped(tmp_path: Path) -> None:
    with SimWeb(hosts=1) as web:
        gone = web.url(0, "/gone/a|b")
        (tmp_path / "corpus").mkdir()
        (tmp_path / "corpus" / "a`b.md").write_text(f"[old]({gone})\n", encoding="utf-8")
        config = tmp_path / "linkwatch.toml"
        config.write_text(
            '[corpus]\npaths = ["corpus/**/*"]\n[state]\npath = "state/lw.db"\n'
            '[report]\ndir = "reports/"\ntitle = "Desk | *links*"\n[archive]\nenabled = false\n'
            '[check]\nallow_networks = ["127.0.0.0/8"]\nhost_interval_s = 0.0\n'
            "timeout_s = 3.0\n",
            encoding="utf-8",
        )
        assert _lw(config, "--now", RUNS[0], "run").exit_code == 0
    out = _lw(config, "--now", RUNS[0], "report", "--format", "markdown")
    assert out.exit_code == 0
    md = out.output
    assert md == (tmp_path / "reports" / "summary.md").read_text(encoding="utf-8") + "\n"
    assert md.startswith("# Desk \\| \\*links\\*\n")
    assert "## Dead and failing (1)" in md and "| Link | Why | Snapshot | Cited in |" in md
    row = next(line for line in md.splitlines() if "gone" in line)
    assert row.count(" | ") == 3  # the | in the URL and the backtick in the path are escaped
    assert "corpus/a\\`b.md:1" in row


def test_run_fail_on_exits_1_only_for_a_finding_and_not_for_an_acknowledged_one(
    tmp_path: Path,
) -> None:
    with SimWeb(hosts=1) as web:
        gone = web.url(0, "/gone/ci-page")
        (tmp_path / "corpus").mkdir()
        (tmp_path / "corpus" / "a.md").write_text(f"[x]({gone})\n", encoding="utf-8")
        config = tmp_path / "linkwatch.toml"
        config.write_text(
            '[corpus]\npaths = ["corpus/**/*"]\n[state]\npath = "state/lw.db"\n'
            '[report]\ndir = "reports/"\n[archive]\nenabled = false\n'
            '[check]\nallow_networks = ["127.0.0.0/8"]\nhost_interval_s = 0.0\n'
            "timeout_s = 3.0\nstrikes = 1\n",
            encoding="utf-8",
        )
        fail = ("run", "--fail-on", "dead", "--fail-on", "failing")
        assert _lw(config, "--now", RUNS[0], *fail).exit_code == 1
        assert _lw(config, "--now", RUNS[0], "run", "--fail-on", "drifted").exit_code == 0
        _lw(config, "ack", gone, "--note", "known")
        assert _lw(config, "--now", RUNS[0], *fail).exit_code == 0


def test_runs_by_hand_are_recorded_and_shown_in_status(tmp_path: Path) -> None:
    with SimWeb(hosts=1) as web:
        (tmp_path / "corpus").mkdir()
        (tmp_path / "corpus" / "a.md").write_text(f"[x]({web.url(0, '/ok/a')})\n", "utf-8")
        config = tmp_path / "linkwatch.toml"
        config.write_text(
            '[corpus]\npaths = ["corpus/**/*"]\n[state]\npath = "state/lw.db"\n'
            '[report]\ndir = "reports/"\n[archive]\nenabled = false\n'
            '[check]\nallow_networks = ["127.0.0.0/8"]\nhost_interval_s = 0.0\n',
            encoding="utf-8",
        )
        for job in ("scan", "check", "archive"):
            assert _lw(config, "--now", RUNS[0], job).exit_code == 0, job
    status = json.loads(_lw(config, "status", "--format", "json").stdout)
    assert {job: status["last_runs"][job]["status"] for job in ("scan", "check", "archive")} == {
        "scan": "ok",
        "check": "ok",
        "archive": "ok",
    }
    assert status["last_runs"]["check"]["summary"]["checked"] == 1
