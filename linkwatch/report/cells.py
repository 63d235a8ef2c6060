"""The small HTML pieces every table repeats (a link, a state badge, a snapshot link, an
evidence timeline, the citing documents), as functions returning ``Markup``.

They run once per link rather than once per row (``LinkCells`` caches them), which is what
lets 100,000 links render in seconds (a jinja macro call costs ~20 µs). Safety is the same
as in the templates: every interpolated text goes through ``e`` (``html.escape``, quotes too),
every attribute is double-quoted, hrefs come only from ``safe_href`` /
``safe_snapshot_href`` and text only from ``clean_text`` / ``truncate`` / ``short``.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Sequence
from typing import NamedTuple

from markupsafe import Markup

from linkwatch.model import WAYBACK, Citation, LinkState, PastCheck
from linkwatch.report import filters
from linkwatch.report.views import LinkView, check_kind, check_label

REL = "noopener noreferrer nofollow"
KIND_SYMBOLS = {"ok": "✓", "fail": "✗", "warn": "!", "none": "·"}
KNOWN_STATES = frozenset(state.value for state in LinkState)

_NO_SNAPSHOT = Markup('<span class="muted">none</span>')


def _html(text: str) -> Markup:
    """Mark a fragment built here as HTML. Every value interpolated into ``text`` must have
    gone through ``escape`` (``e``) or be a ``Markup`` made by this module."""
    return Markup(text)  # noqa: S704 - see the docstring; the hostile-value tests check it


def e(text: str) -> str:
    """Escape plain text for HTML content and double-quoted attributes (never pass Markup)."""
    return html.escape(text, quote=True)


def short(value: object, limit: int = filters.DEFAULT_TRUNCATE) -> Markup:
    """Cleaned, escaped text cut to ``limit``; when cut, the full value is in ``title=``."""
    full = filters.clean_text(value)
    if len(full) <= limit:
        return _html(e(full))
    cut = full[: max(limit - 1, 0)] + filters.ELLIPSIS
    return _html(f'<span title="{e(full)}">{e(cut)}</span>')


def url(value: object, limit: int = 100) -> Markup:
    """A link if ``value`` is an http(s) URL, else the value as marked text."""
    href = filters.safe_href(value)
    if href is not None:
        h, shown = e(href), filters.truncate(href, limit)
        title = f' title="{h}"' if len(shown) < len(href) else ""
        return _html(f'<a class="url" href="{h}" rel="{REL}"{title}>{e(shown)}</a>')
    return _html(
        f'<span class="url nolink" title="not a web link: {e(filters.clean_text(value))}">'
        f"{e(filters.truncate(value, limit))}</span>"
    )


def wayback_date(timestamp: object) -> str:
    text = filters.clean_text(timestamp)
    if len(text) == 14 and text.isdigit():
        return f"{text[:4]}-{text[4:6]}-{text[6:8]}"
    return "snapshot"


def snapshot(snap: dict[str, str] | None) -> Markup:
    """A link to a real Wayback copy, dated; ``none`` otherwise."""
    archive = (snap.get("archive") or WAYBACK) if snap else WAYBACK
    href = filters.safe_snapshot_href(snap["url"], archive) if snap else None
    if href is None or snap is None:
        return _NO_SNAPSHOT
    h = e(href)
    name = e(filters.truncate(archive, 40))
    holder = "" if archive == WAYBACK else f' <span class="archive">{name}</span>'
    return _html(
        f'<a class="snap" href="{h}" rel="{REL}" title="{h}">'
        f"{e(wayback_date(snap.get('timestamp')))}</a>{holder}"
    )


def state(value: object) -> Markup:
    css = str(value) if value in KNOWN_STATES else "other"
    return _html(f'<span class="state state-{e(css)}">{e(filters.clean_text(value))}</span>')


def timeline(checks: Sequence[PastCheck]) -> Markup:
    kinds = [check_kind(c) for c in checks]
    ticks = "".join(
        f'<span class="tick {e(kind)}" title="{e(filters.clean_text(check_label(c)))}">'
        f"{e(KIND_SYMBOLS.get(kind, '·'))}</span>"
        for c, kind in zip(checks, kinds, strict=True)
    )
    return _html(f'<span class="tl">{ticks}</span>')


def link_cell(link: LinkView) -> Markup:
    """The URL as a link, then its host (punycode) and page title."""
    title = f" · {short(link.title, 80)}" if link.title else ""
    return _html(
        f'{url(link.url)}\n<div class="host">{e(filters.display_host(link.host))}{title}</div>'
    )


def cites(link: LinkView, limit: int, root: str, doc_href: Callable[..., str]) -> Markup:
    """The first ``limit`` documents and lines citing ``link``, with anchor text.

    A document page has a row (and a line anchor) only for links that need attention; the
    others link to the document's section."""
    with_line = link.needs_attention
    items = [
        f'<li><a href="{e(root + doc_href(c.document_id, c.line if with_line else None))}">'
        f"{short(c.document, 60)}:{filters.as_int(c.line)}</a>"
        + (f' <bdi class="anchor">“{short(c.text, 80)}”</bdi>' if c.text else "")
        + "</li>"
        for c in link.citations[:limit]
    ]
    if len(link.citations) > limit:
        items.append(f'<li class="muted">and {len(link.citations) - limit} more</li>')
    return _html(f'<ul class="cites">{"".join(items)}</ul>')


class Row(NamedTuple):
    """A link's cells in a table row."""

    link: Markup
    state: Markup
    reason: Markup
    timeline: Markup
    snapshot: Markup
    moved_to: Markup  # the new address of a redirected link, else empty
    cites: Markup  # the citing documents (top-level pages only), else empty


def _problem_row(link: LinkView, c: Row) -> str:
    return (
        f'<tr><td>{c.link}</td>\n<td data-sort="{link.state_rank}">{c.state}</td>'
        f"<td>{e(filters.when(link.since))}</td><td>{c.reason}</td><td>{c.timeline}</td>"
        f'<td>{c.snapshot}</td><td data-sort="{len(link.citations)}">{c.cites}</td></tr>\n'
    )


def _redirected_row(link: LinkView, c: Row) -> str:
    kind = {True: "permanent", False: "temporary", None: "unknown"}[link.permanent_redirect]
    return (
        f"<tr><td>{c.link}</td>\n<td>{c.moved_to}</td><td>{kind}</td>"
        f'<td data-sort="{len(link.citations)}">{c.cites}</td></tr>\n'
    )


def _unverifiable_row(link: LinkView, c: Row) -> str:
    return (
        f"<tr><td>{c.link}</td>\n<td>{c.state}</td><td>{c.reason}</td><td>{c.snapshot}</td>"
        f'<td data-sort="{len(link.citations)}">{c.cites}</td></tr>\n'
    )


def _no_snapshot_row(link: LinkView, c: Row) -> str:
    return (
        f'<tr><td>{c.link}</td>\n<td data-sort="{link.state_rank}">{c.state}</td>'
        f"<td>{e(filters.when(link.last_checked))}</td>"
        f'<td data-sort="{len(link.citations)}">{c.cites}</td></tr>\n'
    )


ROWS: dict[str, Callable[[LinkView, Row], str]] = {
    "problems": _problem_row,
    "redirected": _redirected_row,
    "unverifiable": _unverifiable_row,
    "no_snapshot": _no_snapshot_row,
    "copies": _unverifiable_row,  # link, the original's state, why, the copy cited, cited in
}


def _accessed(cite: Citation) -> str:
    if not cite.accessed:
        return ""
    return (
        f'<div class="muted">cited {e(filters.clean_text(cite.accessed))} '
        f"({e(filters.clean_text(cite.accessed_from or ''))})</div>"
    )


def citation_row(cite: Citation, link: LinkView, c: Row, anchor: str) -> str:
    """A row of a document's table: line, link, anchor text, state, why, evidence, copy."""
    row_id = f' id="{e(anchor)}"' if anchor else ""
    moved = f'<div class="muted">now at {c.moved_to}</div>' if link.is_redirected else ""
    reason = c.reason if link.state != LinkState.ALIVE or link.original_back else ""
    line = filters.as_int(cite.line)
    return (
        f'<tr{row_id}><td class="num">{line}</td>\n<td>{c.link}{moved}</td>'
        f'<td><bdi class="anchor">{short(cite.text, 100)}</bdi>{_accessed(cite)}</td>'
        f'<td data-sort="{link.state_rank}">{c.state}</td><td>{reason}</td>'
        f"<td>{c.timeline}</td><td>{c.snapshot}</td></tr>\n"
    )


class LinkCells:
    """Each link's cells, built once and reused on every page that shows the link (a link
    appears in several lists and documents); cells that depend only on a state or that are
    empty are shared between links. The templates make one call per table body."""

    def __init__(self, doc_href: Callable[..., str]) -> None:
        self._doc_href = doc_href
        self._links: dict[int, tuple[Markup, Markup, Markup, Markup, Markup]] = {}
        self._rows: dict[tuple[int, int], Row] = {}
        self._states: dict[str, Markup] = {}
        self._no_timeline = timeline([])

    def forget(self) -> None:
        """Drop the cached cells of links (after a page: the next page reads its own)."""
        self._links.clear()
        self._rows.clear()

    def _state(self, value: str) -> Markup:
        cell = self._states.get(value)
        if cell is None:
            cell = self._states[value] = state(value)
        return cell

    def _cells(self, link: LinkView) -> tuple[Markup, Markup, Markup, Markup, Markup]:
        cells = self._links.get(link.id)
        if cells is None:
            cells = self._links[link.id] = (
                link_cell(link),
                short(link.reason, 140),
                timeline(link.timeline) if link.timeline else self._no_timeline,
                snapshot(link.snapshot) if link.snapshot else _NO_SNAPSHOT,
                url(link.final_url, 80) if link.is_redirected else Markup(),
            )
        return cells

    def rows(self, kind: str, links: Sequence[LinkView], cite_limit: int) -> Markup:
        """The ``<tr>`` rows of one of the link tables (``ROWS``), for top-level pages."""
        render = ROWS[kind]
        return _html("".join(render(link, self.row(link, cite_limit)) for link in links))

    def document_rows(
        self, document_id: int, citations: Sequence[tuple[Citation, LinkView]]
    ) -> Markup:
        """A document's citation rows; the first row of each line is its anchor."""
        out, previous = [], None
        for cite, link in citations:
            line = filters.as_int(cite.line)
            anchor = f"d{filters.as_int(document_id)}-L{line}" if cite.line != previous else ""
            previous = cite.line
            out.append(citation_row(cite, link, self.row(link), anchor))
        return _html("".join(out))

    def row(self, link: LinkView, cite_limit: int = 0) -> Row:
        """The cells of ``link``; with the first ``cite_limit`` citing documents (for
        top-level pages: the hrefs are relative to the report root)."""
        key = (link.id, cite_limit)
        found = self._rows.get(key)
        if found is None:
            cell, reason, ticks, snap, moved = self._cells(link)
            citing = cites(link, cite_limit, "", self._doc_href) if cite_limit else Markup()
            found = self._rows[key] = Row(
                cell, self._state(link.shown_state), reason, ticks, snap, moved, citing
            )
        return found
