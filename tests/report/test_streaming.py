"""The report reads links a chunk at a time and renders from one consistent state."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from linkwatch.config import Settings
from linkwatch.jobs.report import generate_report, load_model
from linkwatch.report import LinksJson
from linkwatch.report import data as report_data
from linkwatch.report.data import LinkList
from linkwatch.store import Store, open_store
from tests.report.example import ReportDB, populate_example


def _files(directory: Path) -> dict[str, bytes]:
    return {
        p.relative_to(directory).as_posix(): p.read_bytes()
        for p in sorted(directory.rglob("*"))
        if p.is_file()
    }


def _many(rdb: ReportDB, count: int) -> None:
    """``count`` links over three documents, a fifth dead, every tenth redirected."""
    docs = [rdb.document(f"doc-{n}.md") for n in range(3)]
    for i in range(count):
        state = "dead" if i % 5 == 0 else "alive"
        extra: dict[str, Any] = {}
        if i % 10 == 3:
            extra = {"last_outcome": "redirected", "last_final_url": f"https://new.example/{i}"}
        link = rdb.link(f"https://s{i % 4}.example/page/{i:03d}", state, **extra)
        rdb.cite(docs[i % 3], link, i + 1, f"source {i}")


def test_the_report_does_not_depend_on_the_chunk_size(
    rdb: ReportDB, settings: Settings, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    populate_example(rdb)
    _many(rdb, 23)
    whole = settings.report_dir
    generate_report(settings, rdb.store, clock=rdb.clock)
    monkeypatch.setattr(report_data, "CHUNK", 2)
    small = Settings(
        report=settings.report.__class__(dir=str(tmp_path / "small"), title=settings.report.title),
        base_dir=settings.base_dir,
    )
    # the same "previous report" time for both: the second must not count the first
    rdb.store.set_meta("report.last_generated_at", None)
    generate_report(small, rdb.store, clock=rdb.clock)
    first, second = _files(whole), _files(small.report_dir)
    assert first.keys() == second.keys()
    assert [name for name in first if first[name] != second[name]] == []


def test_no_read_asks_for_more_than_a_chunk_of_links(
    rdb: ReportDB, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    _many(rdb, 25)
    monkeypatch.setattr(report_data, "CHUNK", 4)
    asked: list[int] = []
    for name in ("report_links", "report_citations", "report_timeline"):
        read = getattr(rdb.store, name)

        def spy(ids: Any, *rest: Any, _read: Any = read) -> Any:
            asked.append(len(ids))
            return _read(ids, *rest)

        monkeypatch.setattr(rdb.store, name, spy)
    summary = generate_report(settings, rdb.store, clock=rdb.clock)
    assert summary.links == 25
    assert asked and max(asked) <= 4


def test_the_model_keeps_ids_not_link_views(rdb: ReportDB, settings: Settings) -> None:
    _many(rdb, 12)
    model = load_model(settings, rdb.store, clock=rdb.clock)
    assert isinstance(model.links, LinkList) and isinstance(model.problems, LinkList)
    assert len(model.links) == 12 and len(model.problems) == 3
    assert [lk.url for lk in model.problems] == [
        "https://s0.example/page/000",
        "https://s1.example/page/005",
        "https://s2.example/page/010",
    ]
    assert model.problems[1].citations[0].text == "source 5"  # read when asked for


def test_pages_show_the_state_the_walk_saw_while_a_check_batch_writes(
    rdb: ReportDB,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    state_target: str,
) -> None:
    _many(rdb, 10)
    other: Store = open_store(state_target, clock=rdb.clock)
    add = LinksJson.add
    wrote: list[bool] = []

    def add_then_write(self: LinksJson, link: Any) -> None:
        add(self, link)
        if not wrote:  # mid-walk, another process kills every link
            with other.write() as db:
                db.execute("UPDATE links SET state = 'dead', failing_since = ?", [rdb.now()])
            wrote.append(True)

    monkeypatch.setattr(LinksJson, "add", add_then_write)
    try:
        summary = generate_report(settings, rdb.store, clock=rdb.clock)
    finally:
        other.close()
    assert wrote and summary.states == {"alive": 8, "dead": 2}
    listed = (settings.report_dir / "no-snapshot.html").read_text()  # every link, re-read
    badges = (listed.count('"state state-alive"'), listed.count('"state state-dead"'))
    assert badges == (8, 2)
