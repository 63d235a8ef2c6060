"""The link-health report: what broke, where it is cited, and the copy to use instead.

``generate_report(settings, store, clock=...)`` reads the store in one transaction, builds
the view model (``data``), renders every page in memory (``render``) and only then writes
``index.html``, ``report.json``, the section pages and ``docs/<id>.html`` atomically
(``output``). A render error never touches the previous report.
"""

from __future__ import annotations

import gc
import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from linkwatch.clock import Clock
from linkwatch.config import Settings
from linkwatch.errors import ReportError
from linkwatch.report.data import build_model
from linkwatch.report.output import write_files, write_report
from linkwatch.report.render import PAGE_PATTERN, render_pages
from linkwatch.report.views import ReportModel
from linkwatch.store import Store

__all__ = ["ReportSummary", "build_report", "generate_report", "load_model", "write_report"]


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


def load_model(settings: Settings, store: Store, *, clock: Clock) -> ReportModel:
    """The report's view model from the store, as of ``clock()``."""
    now = clock()
    days = max(settings.report.trend_days, 1)
    trend_since = (now - timedelta(days=days - 1)).date().isoformat()
    previous = store.last_report_at()
    rows = store.report_rows(since=previous, trend_since=trend_since,
                             timeline=settings.report.timeline)
    return build_model(rows, title=settings.report.title, generated_at=now, previous_at=previous,
                       trend_days=days, has_credentials=settings.credentials is not None)


def build_report(model: ReportModel, settings: Settings) -> dict[str, str]:
    """Every file of the report, rendered in memory: ``{relative path: text}``."""
    try:
        files = render_pages(model, index_rows=max(settings.report.index_rows, 1),
                             page_rows=max(settings.report.page_rows, 1))
        files["report.json"] = json.dumps(model.to_json(), ensure_ascii=False)
    except Exception as exc:  # a template or data bug: keep the previous report, say why
        raise ReportError(f"cannot render the report: {type(exc).__name__}: {exc}") from exc
    return files


@contextmanager
def _no_cyclic_gc() -> Iterator[None]:
    """The model is hundreds of thousands of small acyclic objects: without this, the cyclic
    collector rescans them over and over and rendering grows superlinearly."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def generate_report(settings: Settings, store: Store, *, clock: Clock) -> ReportSummary:
    """Read, render in memory, then write the report atomically; remember when."""
    started = time.perf_counter()
    with _no_cyclic_gc():
        model = load_model(settings, store, clock=clock)
        read_done = time.perf_counter()
        files = build_report(model, settings)
        render_done = time.perf_counter()
    directory = settings.report_dir
    total = write_files(directory, files, PAGE_PATTERN)
    s = model.summary
    store.record_report(s.generated_at)
    return ReportSummary(
        index=directory / "index.html", json=directory / "report.json", files=len(files),
        pages=sum(name.endswith(".html") for name in files),
        links=s.links, documents=s.documents, states=dict(s.states),
        newly_dead=len(s.newly_dead), newly_recovered=len(s.newly_recovered), bytes=total,
        index_bytes=len(files["index.html"].encode("utf-8")), read_s=read_done - started,
        render_s=render_done - read_done, write_s=time.perf_counter() - render_done,
        generated_at=s.generated_at,
    )
