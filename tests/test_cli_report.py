"""``linkwatch report``: writes the report from the state database and says where."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from linkwatch.cli import cli
from linkwatch.store import open_store
from tests.conftest import FakeClock
from tests.report.example import ReportDB, populate_example

NOW = "2026-01-01T00:00:00Z"


@pytest.fixture
def state(tmp_path: Path) -> Path:
    path = tmp_path / "state" / "linkwatch.db"
    clock = FakeClock()
    with open_store(path, clock=clock) as store:
        populate_example(ReportDB(store, clock))  # type: ignore[arg-type]
    return path


def _run(tmp_path: Path, state: Path, *args: str) -> Result:
    return CliRunner().invoke(
        cli,
        ["--state", str(state), "--now", NOW, "report", "--out", str(tmp_path / "out"), *args],
        catch_exceptions=False,
    )


def test_report_writes_index_json_and_document_pages(tmp_path: Path, state: Path) -> None:
    result = _run(tmp_path, state)
    assert result.exit_code == 0, result.output
    out = tmp_path / "out"
    assert (out / "index.html").is_file() and (out / "report.json").is_file()
    documents = (out / "docs" / "1.html").read_text(encoding="utf-8")
    assert all(
        name in documents
        for name in ("link-rot-explainer.md", "press-release-roundup.html", "field-notes.txt")
    )
    assert f"report: {out / 'index.html'}" in result.output
    assert "2 dead" in result.output


def test_report_json_summary(tmp_path: Path, state: Path) -> None:
    result = _run(tmp_path, state, "--format", "json")
    summary = json.loads(result.output)
    assert summary["links"] == 10 and summary["newly_dead"] == 1
    assert summary["index"] == str(tmp_path / "out" / "index.html")


def test_report_is_recorded_as_a_run(tmp_path: Path, state: Path) -> None:
    _run(tmp_path, state)
    with open_store(state) as store:
        runs = store.query("SELECT job, status FROM runs")
    assert runs == [{"job": "report", "status": "ok"}]


def test_title_flag_sets_the_page_title(tmp_path: Path, state: Path) -> None:
    _run(tmp_path, state, "--title", "Desk <links>")
    html = (tmp_path / "out" / "index.html").read_text(encoding="utf-8")
    assert "<title>Desk &lt;links&gt;</title>" in html


@pytest.mark.parametrize(
    ("state_name", "code"), [("dead", 1), ("failing", 1)], ids=["dead-present", "failing-present"]
)
def test_fail_on_a_state_present_exits_1(
    tmp_path: Path, state: Path, state_name: str, code: int
) -> None:
    assert _run(tmp_path, state, "--fail-on", state_name).exit_code == code


def test_fail_on_without_such_links_exits_0(tmp_path: Path) -> None:
    result = _run(tmp_path, tmp_path / "empty.db", "--fail-on", "dead")
    assert result.exit_code == 0


def test_unwritable_output_is_one_line_and_exit_4(tmp_path: Path, state: Path) -> None:
    (tmp_path / "out").write_text("a file, not a directory")
    result = CliRunner().invoke(
        cli, ["--state", str(state), "report", "--out", str(tmp_path / "out")]
    )
    assert result.exit_code == 4
    assert result.output.startswith("linkwatch: error: cannot write")
    assert len(result.output.strip().splitlines()) == 1
