"""The link-health report: what broke, where it is cited, and the copy to use instead.

``stage_report(model, settings, folder)`` renders the pages of a view model (``data``,
``render``) one at a time into a staging folder beside the report, each written and
synced before the next is rendered, and ``report.json`` in pieces (never the whole report
in memory); ``output.publish`` then moves every file into place, the index and the JSON
last. The job that reads the store and writes the files is
``linkwatch.jobs.report.generate_report``. A render error never touches the previous
report: the staging folder is removed and nothing was moved.
"""

from __future__ import annotations

import gc
import json
import os
from collections.abc import Iterable, Iterator
from pathlib import Path

from linkwatch.config import Settings
from linkwatch.errors import ReportError
from linkwatch.report.markdown import render_markdown
from linkwatch.report.output import FILE_MODE, write_report
from linkwatch.report.render import iter_pages
from linkwatch.report.views import LinkView, ReportModel

__all__ = ["LinksJson", "stage_report", "write_report"]


class LinksJson:
    """``report.json``'s list of links, encoded during the model's one walk over the links
    (``build_model(each=...)``) into a file beside the staged report, and read back when
    ``report.json`` is staged: the links are not read from the store a second time."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._handle = open(path, "w", encoding="utf-8")  # closed by close(), or on exit
        self._count = 0

    def __enter__(self) -> LinksJson:
        return self

    def __exit__(self, *exc: object) -> None:
        self._handle.close()

    def add(self, link: LinkView) -> None:
        text = json.dumps(link.to_json(), ensure_ascii=False)
        self._handle.write(text if self._count == 0 else ", " + text)
        self._count += 1

    def pieces(self) -> Iterator[str]:
        self._handle.close()
        with open(self.path, encoding="utf-8") as handle:
            while piece := handle.read(1 << 20):
                yield piece


def stage_report(
    model: ReportModel, settings: Settings, folder: Path, *, links_json: LinksJson | None = None
) -> dict[str, int]:
    """Every file of the report written into ``folder``: ``{relative path: bytes}``;
    ``links_json``: the links of ``report.json`` already encoded."""
    written: dict[str, int] = {}
    try:
        pages = iter_pages(
            model,
            index_rows=max(settings.report.index_rows, 1),
            page_rows=max(settings.report.page_rows, 1),
        )
        for name, html in pages:
            written[name] = _stage(folder / name, (html,))
            gc.collect(0)  # a page's cycles (jinja contexts holding its rows), while young
        links = links_json.pieces() if links_json is not None else None
        written["report.json"] = _stage(folder / "report.json", model.iter_json(links))
        written["summary.md"] = _stage(folder / "summary.md", (render_markdown(model),))
    except OSError as exc:
        raise ReportError(f"cannot write the report into {folder}: {exc}") from None
    except Exception as exc:  # a template or data bug: keep the previous report, say why
        raise ReportError(f"cannot render the report: {type(exc).__name__}: {exc}") from exc
    return written


def _stage(path: Path, pieces: Iterable[str]) -> int:
    """Write ``pieces`` to ``path`` (synced, mode 0644); returns the bytes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    size = 0
    with open(path, "wb") as handle:
        for piece in pieces:
            data = piece.encode("utf-8")
            handle.write(data)
            size += len(data)
        handle.flush()
        os.fsync(handle.fileno())
        os.fchmod(handle.fileno(), FILE_MODE)
    return size
