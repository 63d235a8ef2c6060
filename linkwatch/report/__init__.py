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

import os
from collections.abc import Iterable
from pathlib import Path

from linkwatch.config import Settings
from linkwatch.errors import ReportError
from linkwatch.report.markdown import render_markdown
from linkwatch.report.output import FILE_MODE, write_report
from linkwatch.report.render import iter_pages
from linkwatch.report.views import ReportModel

__all__ = ["stage_report", "write_report"]


def stage_report(model: ReportModel, settings: Settings, folder: Path) -> dict[str, int]:
    """Every file of the report written into ``folder``: ``{relative path: bytes}``."""
    written: dict[str, int] = {}
    try:
        pages = iter_pages(
            model,
            index_rows=max(settings.report.index_rows, 1),
            page_rows=max(settings.report.page_rows, 1),
        )
        for name, html in pages:
            written[name] = _stage(folder / name, (html,))
        written["report.json"] = _stage(folder / "report.json", model.iter_json())
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
