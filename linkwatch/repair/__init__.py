"""Repair: reviewable fixes to the documents themselves. Pure: text and targets in,
exact edits out; the ``fix`` job reads the store and the files and writes them back.

A dead citation with a chosen snapshot gets its archived copy beside it, in the way each
format keeps both (InternetArchiveBot's idea; Robust Links for HTML):

- HTML ``<a href>``: the ``href`` stays and ``data-originalurl`` / ``data-versionurl`` /
  ``data-versiondate`` are added to that start tag only (``fix.html_style = "replace"``
  points the ``href`` at the snapshot too);
- Markdown: ``[text](original)`` becomes ``[text](original) ([archived](snapshot))``
  (also after an autolink or a bare URL); a reference definition without a title points at
  the snapshot (whose address names the original), titled "Archived copy"; a front-matter
  URL field gets a sibling ``<key>_archived`` field; ``fix.markdown_style = "replace"``
  replaces destinations;
- plain text: ``original [archived: snapshot]``.

A permanently moved citation (a 301/308 chain to a live page on the same site) gets its new
address (HTML keeps the old one in ``data-originalurl``).

Every edit touches only the bytes of that citation (the rest of the file is unchanged),
and a citation that already has its archived copy beside it gets none: fixing twice
changes nothing the second time.
"""

from __future__ import annotations

import html
import re
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass

ARCHIVED_MD = " ([archived]({}))"
ARCHIVED_TEXT = " [archived: {}]"
#: what shows that a citation has its archived copy beside it already
_BESIDE = (" ([archived](", " [archived: ")
_A_TAG = re.compile(r"<a\b", re.IGNORECASE)
_VERSIONED = re.compile(r"\sdata-versionurl\s*=", re.IGNORECASE)
_HREF = re.compile(r"""\shref\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>]+))""", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Styles:
    html: str = "robustlinks"  # or "replace"
    markdown: str = "append"  # or "replace"


@dataclass(frozen=True, slots=True)
class Target:
    """One citation to fix, as the store knows it."""

    line: int
    column: int
    raw: str  # the URL as written
    source: str  # a@href, markdown:link, markdown:reference, frontmatter:KEY, text, ...
    url: str  # the link (canonical original URL)
    kind: str  # "dead" or "moved"
    reason: str
    evidence: str
    snapshot: str | None = None
    snapshot_timestamp: str | None = None
    new_url: str | None = None
    access_date: str | None = None  # the day the source was cited, and where that came from
    access_source: str | None = None


@dataclass(frozen=True, slots=True)
class Change:
    """Replace ``text[start:end]`` by ``new``."""

    start: int
    end: int
    new: str
    target: Target


@dataclass(frozen=True, slots=True)
class Skip:
    """A citation that needs a fix but gets none here, and why (it is listed, never
    dropped silently)."""

    target: Target
    why: str


def _date(timestamp: str | None) -> str:
    ts = timestamp or ""
    return f"{ts[:4]}-{ts[4:6]}-{ts[6:8]}" if len(ts) >= 8 and ts[:8].isdigit() else ""


def _attr(value: str) -> str:
    return html.escape(value, quote=True)


class _Text:
    def __init__(self, text: str) -> None:
        self.text = text
        self.starts = [0] + [m.end() for m in re.finditer("\n", text)]

    def offset(self, line: int, column: int) -> int:
        return self.starts[max(0, min(line, len(self.starts)) - 1)] + max(column, 1) - 1

    def line_end(self, at: int) -> int:
        end = self.text.find("\n", at)
        return len(self.text) if end < 0 else end

    def line_of(self, at: int) -> int:
        return bisect_right(self.starts, at)

    def locate(self, t: Target) -> int | None:
        """Where ``t.raw`` starts: at its recorded position, else the first place on
        that line (a BOM or a tab before it shifts columns)."""
        at = self.offset(t.line, t.column)
        if self.text.startswith(t.raw, at):
            return at
        line_start = self.starts[max(0, min(t.line, len(self.starts)) - 1)]
        found = self.text.find(t.raw, line_start, self.line_end(line_start))
        return found if found >= 0 else None


def propose(text: str, fmt: str, targets: Sequence[Target], styles: Styles) -> list[Change | Skip]:
    """The edits for ``targets`` in a document of format ``fmt`` (``html``,
    ``markdown``, ``text``), in document order; overlapping edits are not proposed."""
    doc = _Text(text)
    out: list[Change | Skip] = []
    taken: list[tuple[int, int]] = []
    for t in targets:
        found = _one(doc, fmt, t, styles)
        if isinstance(found, Change):
            if any(found.start < b and a < found.end or found.start == a for a, b in taken):
                continue  # one change per place (the same URL cited twice in one tag)
            taken.append((found.start, found.end))
        if found is not None:
            out.append(found)
    return sorted(out, key=lambda c: c.start if isinstance(c, Change) else -1)


def apply(text: str, changes: Sequence[Change]) -> str:
    """``text`` with ``changes`` (non-overlapping) applied."""
    out, at = [], 0
    for c in sorted(changes, key=lambda c: c.start):
        out += [text[at : c.start], c.new]
        at = c.end
    out.append(text[at:])
    return "".join(out)


def _one(doc: _Text, fmt: str, t: Target, styles: Styles) -> Change | Skip | None:
    if t.source.endswith("@href") and t.source.startswith("a@"):
        return _html(doc, t, styles)
    if "@" in t.source:
        return Skip(t, f"{t.source}: only links (<a href>) are fixed")
    at = doc.locate(t)
    if at is None:
        return Skip(t, "the citation is not where the last scan saw it: rescan first")
    if t.source.startswith("frontmatter:"):
        return _front_matter(doc, at, t)
    if t.kind == "moved":
        assert t.new_url is not None
        return Change(at, at + len(t.raw), t.new_url, t)
    assert t.snapshot is not None
    end = at + len(t.raw)
    if t.source == "markdown:reference":
        return _reference(doc, at, end, t)
    if t.source == "markdown:link":
        close = _link_close(doc.text, end)
        if close is None:
            return Skip(t, "the end of this Markdown link was not found: fix by hand")
        return _append(doc, at, end, close, ARCHIVED_MD.format(t.snapshot), t, styles)
    if t.source == "markdown:autolink":
        close = end + 1 if doc.text.startswith(">", end) else end
        return _append(doc, at, end, close, ARCHIVED_MD.format(t.snapshot), t, styles)
    if t.source == "text":
        pattern = ARCHIVED_MD if fmt == "markdown" else ARCHIVED_TEXT
        return _append(doc, at, end, end, pattern.format(t.snapshot), t, styles)
    return Skip(t, f"{t.source}: not fixed automatically")


def _append(
    doc: _Text, at: int, end: int, close: int, suffix: str, t: Target, styles: Styles
) -> Change | None:
    if doc.text.startswith(_BESIDE, close):
        return None  # its archived copy is already beside it
    if styles.markdown == "replace" and suffix.startswith(" (["):
        assert t.snapshot is not None
        return Change(at, end, t.snapshot, t)
    return Change(close, close, suffix, t)


def _link_close(text: str, end: int) -> int | None:
    """The offset just after the ``)`` that closes an inline link whose destination ends
    at ``end`` (an optional ``>``, whitespace and a title may come first)."""
    i = end + 1 if text.startswith(">", end) else end
    limit = min(len(text), end + 2000)
    while i < limit and text[i] in " \t\r\n":
        i += 1
    if i < limit and text[i] in "\"'(":
        closer = ")" if text[i] == "(" else text[i]
        j = i + 1
        while j < limit and text[j] != closer:
            j += 2 if text[j] == "\\" else 1
        i = j + 1
        while i < limit and text[i] in " \t\r\n":
            i += 1
    return i + 1 if i < limit and text[i] == ")" else None


def _reference(doc: _Text, at: int, end: int, t: Target) -> Change | Skip:
    rest = doc.text[end : doc.line_end(end)].strip()
    if rest:
        return Skip(t, "this reference definition has a title: fix by hand")
    assert t.snapshot is not None
    # the snapshot's address names the original (…/web/<ts>/<original>); a URL in the
    # title would be cited again as text
    return Change(at, end, f'{t.snapshot} "Archived copy"', t)


def _front_matter(doc: _Text, at: int, t: Target) -> Change | Skip | None:
    key = t.source.split(":", 1)[1].rsplit(".", 1)[-1]
    if key.isdigit() or not key:
        return Skip(t, "a front-matter list item has no place for a sibling field: fix by hand")
    line_start = doc.starts[doc.line_of(at) - 1]
    line_end = doc.line_end(at)
    line = doc.text[line_start:line_end]
    body = line.lstrip(" ")
    indent = " " * (len(line) - len(body))
    if body.startswith("- "):
        indent += "  "
        body = body[2:]
    if not body.startswith(f"{key}:"):
        return Skip(t, "this front-matter field is not on one line: fix by hand")
    if t.kind == "moved":
        assert t.new_url is not None
        return Change(at, at + len(t.raw), t.new_url, t)
    newline = "\r\n" if line.endswith("\r") else "\n"
    sibling = f"{key}_archived:"
    next_line = (
        doc.text[line_end + 1 : doc.line_end(line_end + 1)] if line_end < len(doc.text) else ""
    )
    if next_line.lstrip(" ").startswith(sibling):
        return None  # its archived copy is already beside it
    assert t.snapshot is not None
    eol = line_end - 1 if line.endswith("\r") else line_end
    return Change(eol, eol, f"{newline}{indent}{sibling} {t.snapshot}", t)


def _html(doc: _Text, t: Target, styles: Styles) -> Change | Skip | None:
    text = doc.text
    at = doc.offset(t.line, t.column)
    lt = text.rfind("<", 0, at + 1)
    if lt < 0 or not _A_TAG.match(text, lt):
        return Skip(t, "the <a> tag is not where the last scan saw it: rescan first")
    gt = _tag_end(text, lt)
    if gt is None:
        return Skip(t, "this <a> tag does not end: fix by hand")
    tag = text[lt:gt]
    href = _HREF.search(tag)
    if href is None:
        return Skip(t, "no href in this <a> tag")
    group = next(g for g in (1, 2, 3) if href.group(g) is not None)
    value_start, value_end = lt + href.start(group), lt + href.end(group)
    if t.kind == "moved":
        assert t.new_url is not None
        new_tag = tag[: value_start - lt] + _attr(t.new_url) + tag[value_end - lt :]
        if styles.html == "robustlinks" and not re.search(r"\sdata-originalurl\s*=", tag, re.I):
            new_tag = _insert_attrs(new_tag, f' data-originalurl="{_attr(t.url)}"')
        return Change(lt, gt, new_tag, t)
    if _VERSIONED.search(tag):
        return None  # it has its archived copy already
    assert t.snapshot is not None
    attrs = (
        f' data-originalurl="{_attr(t.url)}" data-versionurl="{_attr(t.snapshot)}"'
        f' data-versiondate="{_date(t.snapshot_timestamp)}"'
    )
    new_tag = tag
    if styles.html == "replace":
        new_tag = tag[: value_start - lt] + _attr(t.snapshot) + tag[value_end - lt :]
    return Change(lt, gt, _insert_attrs(new_tag, attrs), t)


def _insert_attrs(tag: str, attrs: str) -> str:
    """``attrs`` just before the ``>`` (or ``/>``) that ends the start tag ``tag``."""
    end = len(tag) - 1
    if tag.endswith("/>"):
        end -= 1
    return tag[:end].rstrip(" \t\r\n") + attrs + tag[end:]


def _tag_end(text: str, lt: int) -> int | None:
    """The offset just after the ``>`` ending the start tag at ``lt`` (quote-aware)."""
    quote = None
    limit = min(len(text), lt + 10_000)
    for i in range(lt + 1, limit):
        ch = text[i]
        if quote:
            if ch == quote:
                quote = None
        elif ch in "\"'" and text[i - 1] in "= \t\n":
            quote = ch
        elif ch == ">":
            return i + 1
    return None
