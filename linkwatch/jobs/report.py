"""The report job: inside one read transaction, walk the links once for the figures, then
render page by page (each page reads its own links) into a staging folder; move the files
into place and remember when (``generate_report``)."""

from __future__ import annotations

import gc
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from linkwatch.clock import Clock
from linkwatch.config import Settings
from linkwatch.report import LinksJson, stage_report
from linkwatch.report.data import build_model
from linkwatch.report.output import publish, staging
from linkwatch.report.render import PAGE_PATTERN
from linkwatch.report.views import LinkView, ReportModel
from linkwatch.store import Store

__all__ = ["ReportSummary", "generate_report", "load_model"]


@dataclass(frozen=True, slots=True)
class ReportSummary:
    """What ``generate_report`` wrote."""

    index: Path
    json: Path
    files: int  # every file written
    pages: int  # the HTML pages among them (index.html, section and document pages)
    links: int
    documents: int
    states: dict[str, int]
    newly_dead: int
    newly_recovered: int
    bytes: int
    index_bytes: int
    read_s: float
    render_s: float
    write_s: float
    generated_at: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "index": str(self.index),
            "json": str(self.json),
            "files": self.files,
            "pages": self.pages,
            "links": self.links,
            "documents": self.documents,
            "states": self.states,
            "newly_dead": self.newly_dead,
            "newly_recovered": self.newly_recovered,
            "bytes": self.bytes,
            "index_bytes": self.index_bytes,
            "read_s": round(self.read_s, 3),
            "render_s": round(self.render_s, 3),
            "write_s": round(self.write_s, 3),
            "generated_at": self.generated_at,
        }


def load_model(
    settings: Settings,
    store: Store,
    *,
    clock: Clock,
    each: Callable[[LinkView], None] | None = None,
) -> ReportModel:
    """The report's view model from the store, as of ``clock()`` (``each``: called with
    every link on the way, in the report's order)."""
    now = clock()
    days = max(settings.report.trend_days, 1)
    trend_since = (now - timedelta(days=days - 1)).date().isoformat()
    previous = store.last_report_at()
    head = store.report_head(since=previous, trend_since=trend_since)
    return build_model(
        store,
        head,
        title=settings.report.title,
        generated_at=now,
        previous_at=previous,
        trend_days=days,
        has_credentials=settings.credentials is not None,
        drift_below=settings.check.drift_below,
        timeline=settings.report.timeline,
        each=each,
    )


@contextmanager
def _no_cyclic_gc() -> Iterator[None]:
    """Reading and rendering allocate millions of small acyclic objects: the automatic
    collector would rescan them over and over. The few cycles (jinja's render contexts)
    are collected page by page (``stage_report``)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def generate_report(settings: Settings, store: Store, *, clock: Clock) -> ReportSummary:
    """Read, render page by page into a staging folder, then move the files into place;
    remember when."""
    started = time.perf_counter()
    directory = settings.report_dir
    with _no_cyclic_gc(), staging(directory) as folder:
        with (
            store.snapshot(),  # the pages read links as they go: all from one state
            LinksJson(folder / "links.json.part") as links_json,  # staged, not published
        ):
            model = load_model(settings, store, clock=clock, each=links_json.add)
            read_done = time.perf_counter()
            files = stage_report(model, settings, folder, links_json=links_json)
        render_done = time.perf_counter()
        publish(folder, directory, files, PAGE_PATTERN)
    total = sum(files.values())
    s = model.summary
    store.record_report(s.generated_at)
    return ReportSummary(
        index=directory / "index.html",
        json=directory / "report.json",
        files=len(files),
        pages=sum(name.endswith(".html") for name in files),
        links=s.links,
        documents=s.documents,
        states=dict(s.states),
        newly_dead=len(s.newly_dead),
        newly_recovered=len(s.newly_recovered),
        bytes=total,
        index_bytes=files["index.html"],
        read_s=read_done - started,
        render_s=render_done - read_done,
        write_s=time.perf_counter() - render_done,
        generated_at=s.generated_at,
    )
