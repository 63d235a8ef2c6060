"""``linkwatch db copy``: a state moved between SQLite and PostgreSQL loses nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from linkwatch.cli import cli
from linkwatch.errors import StoreError
from linkwatch.store import open_store
from linkwatch.store.copy import TABLES, copy_state
from tests.conftest import FakeClock
from tests.report.example import ReportDB, populate_example


def _example_state(path: Path) -> None:
    with open_store(path, clock=FakeClock()) as store:
        rdb = ReportDB(store, store.clock)
        populate_example(rdb)
        store.finish_run(store.start_run("scan"), status="ok", summary={"documents": 3})
        store.acknowledge("https://example.org/gone", "moved on purpose", store.now(), None)


def test_sqlite_to_postgresql_and_back_keeps_every_row(tmp_path: Path, pg_url: str) -> None:
    _example_state(tmp_path / "a.db")
    with open_store(tmp_path / "a.db") as a, open_store(pg_url) as pg:
        there = copy_state(a, pg)
        with open_store(tmp_path / "b.db") as b:
            back = copy_state(pg, b)
    assert [t.table for t in there] == [t for t, _ in TABLES]
    assert there == back
    counts = {t.table: t.rows for t in there}
    assert counts["links"] > 5 and counts["checks"] > 100 and counts["citations"] > 5


def test_new_rows_after_a_copy_get_fresh_ids(tmp_path: Path, pg_url: str) -> None:
    _example_state(tmp_path / "a.db")
    with open_store(tmp_path / "a.db") as a, open_store(pg_url) as pg:
        copy_state(a, pg)
        highest = pg.scalar("SELECT max(id) FROM runs")
        assert pg.start_run("scan") > highest


def test_a_target_with_rows_is_refused_and_left_alone(tmp_path: Path, pg_url: str) -> None:
    _example_state(tmp_path / "a.db")
    with open_store(pg_url) as pg:
        pg.set_meta("mine", "keep")
    with open_store(tmp_path / "a.db") as a, open_store(pg_url) as pg:
        with pytest.raises(StoreError, match="already holds rows .*meta"):
            copy_state(a, pg)
        assert pg.query("SELECT key, value FROM meta") == [{"key": "mine", "value": "keep"}]


def test_the_cli_copies_and_prints_the_counts(tmp_path: Path, pg_url: str) -> None:
    _example_state(tmp_path / "state.db")
    args = ["--state", str(tmp_path / "state.db"), "db", "copy", "--to", pg_url]
    result = CliRunner().invoke(cli, [*args, "--format", "json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["target"] == pg_url
    links = next(t for t in out["tables"] if t["table"] == "links")
    with open_store(pg_url) as pg:
        assert pg.scalar("SELECT count(*) FROM links") == links["rows"]
        assert pg.integrity_check() == "ok"


def test_the_copy_knows_every_table_of_the_schema(tmp_path: Path) -> None:
    with open_store(tmp_path / "a.db") as store:
        tables = {
            r["name"]
            for r in store.query("SELECT name FROM sqlite_master WHERE type = 'table'")
            if not r["name"].startswith(("sqlite_", "_sqlite"))
        }
    assert tables == {t for t, _ in TABLES}
