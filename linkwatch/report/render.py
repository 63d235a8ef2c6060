"""Rendering the view model to pages, fully in memory. Pure: model in, ``{path: text}`` out.

The jinja2 environment autoescapes everything (``autoescape=True``, not by extension),
fails on undefined names (``StrictUndefined``) and loads only the templates shipped in the
package. The one inline script is the package's ``static/report.js``, pinned by its
sha256 hash in the page's Content-Security-Policy; nothing else may run or load.
"""

from __future__ import annotations

import base64
import hashlib
import math
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import cache
from importlib.resources import files
from typing import Any

import jinja2
from markupsafe import Markup

from linkwatch import __version__
from linkwatch.report import cells, filters
from linkwatch.report.chart import state_chart, trend_chart
from linkwatch.report.views import DocumentView, ReportModel

SECTION_ANCHORS = (
    "problems",
    "redirected",
    "documents",
    "domains",
    "unverifiable",
    "drifted",
    "acknowledged",
    "archived-citations",
    "no-snapshot",
)
# the pages a report writes (and may remove when a newer report no longer has them)
PAGE_PATTERN = re.compile(rf"^(?:(?:{'|'.join(SECTION_ANCHORS)})(?:-\d+)?\.html|docs/\d+\.html)$")


@dataclass(frozen=True, slots=True)
class Section:
    """One list of the report: the first rows on index.html, all rows on its own pages."""

    kind: str  # macro name in _tables.html
    anchor: str
    heading: str
    blurb: str
    items: Sequence[Any]
    page_rows: int
    rows: Sequence[Any]  # the first ``index_rows`` items, for index.html

    @property
    def total(self) -> int:
        return len(self.items)

    @property
    def pages(self) -> int:
        return max(math.ceil(self.total / self.page_rows), 1)

    def page_name(self, page: int) -> str:
        return f"{self.anchor}.html" if page == 1 else f"{self.anchor}-{page}.html"

    @property
    def first_page(self) -> str:
        return self.page_name(1)


def _static(name: str) -> str:
    return files("linkwatch.report").joinpath("static", name).read_text(encoding="utf-8")


@cache
def stylesheet() -> str:
    css = _static("report.css")
    if "</" in css:
        raise ValueError("report.css must not contain '</'")
    return css


@cache
def script_source() -> str:
    source = _static("report.js")
    if "</" in source:
        raise ValueError("report.js must not contain '</'")
    return source


def script_hash() -> str:
    digest = hashlib.sha256(script_source().encode("utf-8")).digest()
    return "sha256-" + base64.b64encode(digest).decode("ascii")


def content_security_policy() -> str:
    return (
        "default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
        f"script-src '{script_hash()}'; base-uri 'none'; form-action 'none'"
    )


def _pct(value: float) -> str:
    return f"{value:.0f} %" if value >= 10 or value == 0 else f"{value:.1f} %"


FILTERS: dict[str, Callable[..., Any]] = {
    "clean": filters.clean_text,
    "trunc": filters.truncate,
    "short": cells.short,
    "display_host": filters.display_host,
    "when": filters.when,
    "pct": _pct,
}


@cache
def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("linkwatch.report", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(FILTERS)
    env.globals.update(url=cells.url, state=cells.state)
    return env


def sections(model: ReportModel, *, index_rows: int, page_rows: int) -> list[Section]:
    def section(kind: str, anchor: str, heading: str, blurb: str, items: Sequence[Any]) -> Section:
        return Section(kind, anchor, heading, blurb, items, page_rows, items[:index_rows])

    return [
        section(
            "problems",
            "problems",
            "Dead and failing links",
            "Dead: repeated conclusive failures days apart. Failing: at least one. "
            "Use the snapshot instead of a dead link.",
            model.problems,
        ),
        section(
            "redirected",
            "redirected",
            "Redirected links",
            "The page moved: update the citation to its new address.",
            model.redirected,
        ),
        section(
            "documents",
            "documents",
            "Documents",
            "Citation health per document; open one for every citation, line by line.",
            model.documents,
        ),
        section(
            "domains",
            "domains",
            "Sites",
            "Which sites rot most, and which block or rate-limit our checks.",
            model.domains,
        ),
        section(
            "unverifiable",
            "unverifiable",
            "Unverifiable, invalid and not checked links",
            "Links we cannot judge (the site blocks checks for weeks, or has given only "
            "inconclusive answers so far), that are not valid web addresses, or that "
            "were not checked (a private address, a scheme we do not check).",
            model.unverifiable,
        ),
        section(
            "unverifiable",  # the same columns: link, state, why, snapshot, cited in
            "drifted",
            "Drifted links",
            "The page still answers, but its text is not the one that was cited (replaced, "
            "or the domain changed hands): use the snapshot nearest the day it was cited.",
            model.drifted,
        ),
        section(
            "unverifiable",
            "acknowledged",
            "Acknowledged findings",
            "Known to a curator (linkwatch ack): kept out of the dead list, with the note "
            "given; `linkwatch unack URL` brings a finding back.",
            model.acknowledged,
        ),
        section(
            "copies",
            "archived-citations",
            "Citations of archived copies",
            "These citations point at an archived copy, so they work whatever the original "
            "does. When the original is back, the live page can be cited again.",
            model.cited_as_copies,
        ),
        section(
            "no_snapshot",
            "no-snapshot",
            "Links without any snapshot",
            "No archived copy is known yet: these are lost if the page goes away.",
            model.no_snapshot,
        ),
    ]


@dataclass(frozen=True, slots=True)
class DocumentPages:
    """Documents (by path) grouped into pages of about ``page_rows`` rows each: a page per
    document would mean thousands of files (each written with an fsync) for a big corpus."""

    pages: list[list[DocumentView]]
    page_of: dict[int, int]

    @classmethod
    def split(cls, documents: Sequence[DocumentView], page_rows: int) -> DocumentPages:
        pages: list[list[DocumentView]] = []
        size = page_rows
        for doc in sorted(documents, key=lambda d: d.path):
            rows = doc.attention_rows + 1  # its heading counts as a row
            if size + rows > page_rows and (not pages or pages[-1]):
                pages.append([])
                size = 0
            pages[-1].append(doc)
            size += rows
        page_of = {doc.id: n for n, page in enumerate(pages, 1) for doc in page}
        return cls(pages, page_of)

    def href(self, document_id: int, line: int | None = None) -> str:
        """The page and anchor of a document (and line), relative to the report root."""
        anchor = f"d{filters.as_int(document_id)}" + (
            f"-L{filters.as_int(line)}" if line is not None else ""
        )
        return f"docs/{self.page_of.get(document_id, 1)}.html#{anchor}"


def _common(
    model: ReportModel, root: str, link_cells: cells.LinkCells, docs: DocumentPages
) -> dict[str, Any]:
    return {
        "title": model.title,
        "generated_at": model.summary.generated_at,
        "previous_at": model.summary.previous_at,
        "root": root,
        "csp": content_security_policy(),
        "css": Markup(stylesheet()),  # noqa: S704 - the package's own file
        "script": Markup(script_source()),  # noqa: S704 - the package's own file, hashed
        "version": __version__,
        "cells": link_cells,
        "doc_href": docs.href,
    }


def iter_pages(model: ReportModel, *, index_rows: int, page_rows: int) -> Iterator[tuple[str, str]]:
    """Every page of the report, one at a time (the caller writes each before the next
    is rendered, so the pages are never all held at once)."""
    env = environment()
    docs = DocumentPages.split(model.documents, page_rows)
    link_cells = cells.LinkCells(docs.href)
    secs = sections(model, index_rows=index_rows, page_rows=page_rows)
    top = _common(model, "", link_cells, docs)
    yield (
        "index.html",
        env.get_template("index.html").render(
            **top,
            summary=model.summary,
            trend=model.trend,
            chart=trend_chart(model.trend),
            states_chart=state_chart(model.trend),
            sections=secs,
        ),
    )
    section_template = env.get_template("section.html")
    link_cells.forget()  # the cells of one page are not kept for the next
    for sec in secs:
        for page in range(1, sec.pages + 1):
            rows = sec.items[(page - 1) * page_rows : page * page_rows]
            yield sec.page_name(page), section_template.render(**top, sec=sec, page=page, rows=rows)
            link_cells.forget()
    document_template = env.get_template("document.html")
    below = _common(model, "../", link_cells, docs)
    for number, group in enumerate(docs.pages, 1):
        if model.attach is not None:
            model.attach(group)  # the page's citations to act on, in one read
        yield (
            f"docs/{number}.html",
            document_template.render(**below, docs=group, number=number, count=len(docs.pages)),
        )
        for doc in group:
            doc.release()
        link_cells.forget()
