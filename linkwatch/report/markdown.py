"""``summary.md``: the report's findings as Markdown, ready to paste into an issue or a
pull request (like lychee's Markdown output). Every value from the corpus or the web is
escaped for Markdown tables (``|``, backticks, brackets, newlines) and links are only
http(s) URLs the report would link too."""

from __future__ import annotations

import re
from collections.abc import Sequence

from linkwatch.report.filters import clean_text, safe_href, safe_snapshot_href, truncate
from linkwatch.report.views import LinkView, ReportModel

MAX_ROWS = 100  # per table; the rest is counted
_SPECIAL = re.compile(r"([\\`*_{}\[\]<>()#+!|~])")


def _md(value: object, limit: int = 120) -> str:
    return _SPECIAL.sub(r"\\\1", truncate(clean_text(value).replace("\n", " "), limit))


def _url(url: str) -> str:
    href = safe_href(url)
    return f"[{_md(url, 90)}]({href})" if href else _md(url, 90)


def _snapshot(link: LinkView) -> str:
    snap = link.snapshot
    if not snap:
        return "none"
    href = safe_snapshot_href(snap["url"], snap.get("archive") or "Wayback Machine")
    stamp = snap.get("timestamp", "")
    label = f"{stamp[:4]}-{stamp[4:6]}-{stamp[6:8]}" if len(stamp) >= 8 else "copy"
    return f"[{label}]({href})" if href else "none"


def _cited(link: LinkView) -> str:
    where = [f"{_md(c.document, 60)}:{c.line}" for c in link.citations[:3]]
    more = len(link.citations) - len(where)
    return ", ".join(where) + (f" and {more} more" if more > 0 else "")


def _table(title: str, links: Sequence[LinkView], lines: list[str]) -> None:
    if not links:
        return
    lines += [f"## {title} ({len(links)})", "", "| Link | Why | Snapshot | Cited in |"]
    lines.append("| --- | --- | --- | --- |")
    for link in links[:MAX_ROWS]:
        lines.append(
            f"| {_url(link.url)} | {_md(link.reason)} | {_snapshot(link)} | {_cited(link)} |"
        )
    if len(links) > MAX_ROWS:
        lines.append(f"\n… and {len(links) - MAX_ROWS} more in the HTML report.")
    lines.append("")


def render_markdown(model: ReportModel) -> str:
    s = model.summary
    states = ", ".join(f"{n} {state}" for state, n in s.states.items()) or "none"
    lines = [
        f"# {_md(model.title, 200)}",
        "",
        f"{s.links} links in {s.documents} documents ({states}); "
        f"{s.with_snapshot} of {s.archivable} have a snapshot. Generated {s.generated_at[:16]}.",
        "",
    ]
    _table("Dead and failing", model.problems, lines)
    _table("Drifted", model.drifted, lines)
    _table("Redirected", model.redirected, lines)
    if not (model.problems or model.drifted or model.redirected):
        lines += ["No dead, failing, drifted or redirected links.", ""]
    return "\n".join(lines)
