"""The link-health report: what broke, where it is cited, and the copy to use instead.

``build_report(model, settings)`` renders every page of a view model (``data``) in memory
(``render``); ``output`` writes ``index.html``, ``report.json``, the section pages and
``docs/<id>.html`` atomically. The job that reads the store and writes the files is
``linkwatch.jobs.report.generate_report``. A render error never touches the previous report.
"""

from __future__ import annotations

import json

from linkwatch.config import Settings
from linkwatch.errors import ReportError
from linkwatch.report.markdown import render_markdown
from linkwatch.report.output import write_report
from linkwatch.report.render import render_pages
from linkwatch.report.views import ReportModel

__all__ = ["build_report", "write_report"]


def build_report(model: ReportModel, settings: Settings) -> dict[str, str]:
    """Every file of the report, rendered in memory: ``{relative path: text}``."""
    try:
        files = render_pages(
            model,
            index_rows=max(settings.report.index_rows, 1),
            page_rows=max(settings.report.page_rows, 1),
        )
        files["report.json"] = json.dumps(model.to_json(), ensure_ascii=False)
        files["summary.md"] = render_markdown(model)
    except Exception as exc:  # a template or data bug: keep the previous report, say why
        raise ReportError(f"cannot render the report: {type(exc).__name__}: {exc}") from exc
    return files
