"""Writing the report: atomic files, a failed render keeps the previous report, JSON shape."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from linkwatch.config import Settings
from linkwatch.errors import ReportError
from linkwatch.jobs.report import generate_report
from linkwatch.report import render as render_module
from linkwatch.report import write_report
from linkwatch.store import Store
from tests.kit.rows import insert_all
from tests.report.example import ReportDB, populate_example


def _leftovers(directory: Path) -> list[str]:
    return [p.name for p in directory.rglob("*") if p.name.startswith(".linkwatch-")]


def test_write_report_replaces_the_file_with_mode_0644(tmp_path: Path) -> None:
    target = tmp_path / "index.html"
    target.write_text("old")
    assert write_report(target, "new") == 3
    assert target.read_text() == "new"
    assert stat.S_IMODE(target.stat().st_mode) == 0o644
    assert _leftovers(tmp_path) == []


def test_a_failed_replace_keeps_the_old_file_and_no_temp_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "index.html"
    target.write_text("old")

    def refuse(src: str, dst: str) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(os, "replace", refuse)
    with pytest.raises(ReportError, match="cannot write"):
        write_report(target, "new")
    assert target.read_text() == "old"
    assert _leftovers(tmp_path) == []


def test_an_unwritable_report_dir_is_a_report_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("not a directory")
    with pytest.raises(ReportError):
        write_report(tmp_path / "file" / "index.html", "x")


def test_a_failing_render_leaves_the_previous_report_intact(
    rdb: ReportDB, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    populate_example(rdb)
    generate_report(settings, rdb.store, clock=rdb.clock)
    before = {p: p.read_bytes() for p in settings.report_dir.rglob("*") if p.is_file()}
    rdb.clock.advance(days=1)

    def broken_chart(days: object) -> object:
        raise TypeError("chart exploded")

    monkeypatch.setattr(render_module, "trend_chart", broken_chart)
    with pytest.raises(ReportError, match="chart exploded"):
        generate_report(settings, rdb.store, clock=rdb.clock)
    after = {p: p.read_bytes() for p in settings.report_dir.rglob("*") if p.is_file()}
    assert after == before
    assert _leftovers(settings.report_dir) == []


def test_a_failed_report_is_not_remembered_as_the_previous_one(
    rdb: ReportDB, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(render_module, "trend_chart", lambda days: 1 / 0)
    with pytest.raises(ReportError, match="ZeroDivisionError"):
        generate_report(settings, rdb.store, clock=rdb.clock)
    assert rdb.store.last_report_at() is None


def test_generation_time_is_remembered(rdb: ReportDB, settings: Settings) -> None:
    summary = generate_report(settings, rdb.store, clock=rdb.clock)
    assert rdb.store.last_report_at() == summary.generated_at == "2026-01-01T00:00:00+00:00"


def test_pages_of_an_older_report_are_removed(rdb: ReportDB, settings: Settings) -> None:
    populate_example(rdb)
    generate_report(settings, rdb.store, clock=rdb.clock)
    (settings.report_dir / "docs" / "999.html").write_text("stale")
    (settings.report_dir / "problems-7.html").write_text("stale")
    (settings.report_dir / "notes.html").write_text("the operator's own file")
    generate_report(settings, rdb.store, clock=rdb.clock)
    assert not (settings.report_dir / "docs" / "999.html").exists()
    assert not (settings.report_dir / "problems-7.html").exists()
    assert (settings.report_dir / "notes.html").read_text() == "the operator's own file"


def test_summary_lists_what_was_written(rdb: ReportDB, settings: Settings) -> None:
    populate_example(rdb)
    summary = generate_report(settings, rdb.store, clock=rdb.clock).to_dict()
    files = [p for p in settings.report_dir.rglob("*") if p.is_file()]
    assert summary["index"] == str(settings.report_dir / "index.html")
    assert summary["files"] == len(files)
    assert summary["pages"] == len([p for p in files if p.suffix == ".html"])
    assert summary["bytes"] == sum(p.stat().st_size for p in files)
    assert (summary["links"], summary["documents"], summary["newly_dead"]) == (10, 3, 1)
    assert summary["render_s"] >= 0


def test_report_json_shape(rdb: ReportDB, settings: Settings) -> None:
    populate_example(rdb)
    generate_report(settings, rdb.store, clock=rdb.clock)
    data = json.loads((settings.report_dir / "report.json").read_text(encoding="utf-8"))
    assert {"generated_at", "summary", "links", "documents"} <= set(data)
    assert data["generated_at"] == "2026-01-01T00:00:00+00:00"
    assert data["summary"]["states"]["dead"] == 2
    assert data["summary"]["newly_dead"] == ["http://www.census.gov/old/tables-2019.html"]
    for link in data["links"]:
        assert {
            "url",
            "state",
            "last_outcome",
            "last_status",
            "last_checked",
            "snapshot",
            "citations",
        } <= set(link)
        assert link["snapshot"] is None or set(link["snapshot"]) == {"url", "timestamp", "archive"}
        for cite in link["citations"]:
            assert set(cite) == {"document", "line", "text", "access_date", "access_source"}
    dead = next(
        lk for lk in data["links"] if lk["url"] == "http://www.census.gov/old/tables-2019.html"
    )
    assert dead["snapshot"] == {
        "url": "https://web.archive.org/web/20190611083010/"
        "http://www.census.gov/old/tables-2019.html",
        "timestamp": "20190611083010",
        "archive": "Wayback Machine",
    }
    assert sorted((c["document"], c["line"]) for c in dead["citations"]) == [
        ("corpus/field-notes.txt", 6),
        ("corpus/link-rot-explainer.md", 24),
    ]
    assert {d["path"] for d in data["documents"]} == {
        "corpus/link-rot-explainer.md",
        "corpus/press-release-roundup.html",
        "corpus/field-notes.txt",
    }


def test_empty_store_gives_an_empty_report(store: Store, settings: Settings, clock: object) -> None:
    summary = generate_report(settings, store, clock=clock)  # type: ignore[arg-type]
    assert summary.links == 0
    html = (settings.report_dir / "index.html").read_text(encoding="utf-8")
    assert "No checks in this period yet." in html


def test_long_lists_are_capped_on_the_index_and_paginated(
    rdb: ReportDB, settings: Settings
) -> None:
    from dataclasses import replace

    small = replace(settings, report=replace(settings.report, index_rows=5, page_rows=10))
    doc = rdb.document("big.md")
    with rdb.store.write() as db:
        insert_all(
            db,
            "links",
            [
                {
                    "url": f"https://x.example/{i}",
                    "host": "x.example",
                    "state": "dead",
                    "first_seen_at": "2025-01-01",
                }
                for i in range(25)
            ],
        )
        insert_all(
            db,
            "citations",
            [
                {
                    "document_id": doc,
                    "link_id": i + 1,
                    "line": i + 1,
                    "source": "a@href",
                    "raw_url": "x",
                    "first_seen_at": "2025-01-01",
                    "last_seen_at": "2025-01-01",
                }
                for i in range(25)
            ],
        )
    generate_report(small, rdb.store, clock=rdb.clock)
    out = settings.report_dir
    index = (out / "index.html").read_text(encoding="utf-8")
    assert index.count('href="https://x.example/') == 5 * 2  # problems + no-snapshot
    assert 'href="problems.html"' in index
    assert [(out / f"problems{s}.html").exists() for s in ("", "-2", "-3", "-4")] == [
        True,
        True,
        True,
        False,
    ]
    assert (out / "docs" / f"{doc}.html").read_text(encoding="utf-8").count(
        'href="https://x.example/'
    ) == 25


def test_every_link_to_a_document_line_lands_on_an_element_of_that_page(
    rdb: ReportDB, settings: Settings
) -> None:
    from selectolax.lexbor import LexborHTMLParser

    populate_example(rdb)
    generate_report(settings, rdb.store, clock=rdb.clock)
    root = settings.report_dir
    ids: dict[Path, set[str]] = {}
    missing: list[str] = []
    for page in root.rglob("*.html"):
        for a in LexborHTMLParser(page.read_text()).css("a[href*='#']"):
            href = a.attributes["href"] or ""
            target, _, fragment = href.partition("#")
            if href.startswith("http"):
                continue
            path = (page.parent / target).resolve() if target else page.resolve()
            if path not in ids:
                tree = LexborHTMLParser(path.read_text())
                ids[path] = {str(n.attributes["id"]) for n in tree.css("[id]")}
            if fragment not in ids[path]:
                missing.append(f"{page.relative_to(root)}: {href}")
    assert missing == []


def test_a_report_file_is_synced_before_the_rename_and_its_directory_after(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    events: list[str] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd: int) -> None:
        events.append("fsync dir" if stat.S_ISDIR(os.fstat(fd).st_mode) else "fsync file")
        real_fsync(fd)

    def replace(src: str, dst: str) -> None:
        events.append("replace")
        real_replace(src, dst)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    write_report(tmp_path / "index.html", "new")
    # atomic is not durable: the data reaches the disk before the name points at it
    assert events == ["fsync file", "replace", "fsync dir"]


def test_the_streamed_json_is_the_same_document_as_the_whole_one(
    rdb: ReportDB, settings: Settings
) -> None:
    """report.json is written in pieces (a link at a time); it must parse to exactly what
    the model says as one object."""
    from linkwatch.jobs.report import load_model

    populate_example(rdb)
    model = load_model(settings, rdb.store, clock=rdb.clock)
    text = "".join(model.iter_json())
    assert json.loads(text) == json.loads(json.dumps(model.to_json()))
    assert list(json.loads(text)) == ["generated_at", "summary", "trend", "links", "documents"]
