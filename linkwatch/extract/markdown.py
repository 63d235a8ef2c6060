"""Markdown (CommonMark + GFM): inline links and images, reference definitions, autolinks,
``<…>`` destinations with spaces, balanced parentheses, bare URLs with GFM's
trailing-punctuation rules, ``www.`` links and inline/block HTML; nothing inside code spans,
indented code or fenced code.

markdown-it-py parses the block structure only (it knows which lines are code, HTML, tables
and paragraphs, and where each reference definition is); the inline constructs are then
read from the source of each paragraph with their exact offsets.
"""

from __future__ import annotations

import html
import re
from typing import Any

from markdown_it import MarkdownIt

from linkwatch.extract.collect import Collector
from linkwatch.extract.html import _TOKEN, _attrs, _cite_attrs, extract_html
from linkwatch.extract.text import find_urls, url_starts

_md = MarkdownIt("commonmark").enable(["table"])
_md.disable(["inline", "text_join"])

_LINE_BREAK = re.compile(r"\r\n?|\n")
_BACKTICKS = re.compile(r"`+")
_AUTOLINK = re.compile(r"<([a-zA-Z][a-zA-Z0-9+.-]{1,31}:[^\s<>\x00-\x1f]*)>")
_ESCAPE = re.compile(r"\\([!-/:-@\[-`{-~])")
_ENTITY = re.compile(r"&(?:#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|[a-zA-Z][a-zA-Z0-9]{1,31});")
_REFERENCE = re.compile(
    r"^[ \t>]*\[((?:[^\]\\]|\\.){1,999})\]:[ \t]*(?:\r?\n[ \t>]*)?(<[^>\n]*>|\S+)", re.MULTILINE
)
_MAYBE_LINK = re.compile(r"https?:|www\.|\]\(|\]:|<", re.IGNORECASE)


def unescape_destination(dest: str) -> str:
    """Backslash escapes and character references, as CommonMark decodes a destination."""
    if "\\" in dest:
        dest = _ESCAPE.sub(r"\1", dest)
    if "&" in dest:
        dest = _ENTITY.sub(lambda m: html.unescape(m.group()), dest)
    return dest.replace(" ", "%20")


def _line_offsets(text: str, start: int, end: int) -> list[int]:
    offsets = [start]
    offsets.extend(m.end() for m in _LINE_BREAK.finditer(text, start, end))
    offsets.append(end)
    return offsets


def _merge(ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for a, b in sorted(ranges):
        if merged and a <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], b))
        else:
            merged.append((a, b))
    return merged


def extract_markdown(c: Collector, start: int, end: int) -> None:
    """Record the citations of the Markdown in ``c.text[start:end]``."""
    if not _MAYBE_LINK.search(c.text, start, end) and c.base is None:
        return
    env: dict[str, Any] = {}
    tokens = _md.parse(c.text[start:end], env)
    lines = _line_offsets(c.text, start, end)
    last = len(lines) - 1

    def span(m: list[int]) -> tuple[int, int]:
        return lines[min(m[0], last)], lines[min(m[1], last)]

    inline = [span(t.map) for t in tokens if t.type == "inline" and t.map]
    for a, b in _merge(inline):
        extract_inline(c, a, b)
    for t in tokens:
        if t.type == "html_block" and t.map:
            extract_html(c, *span(t.map))
    refs = [span(r["map"]) for r in env.get("references", {}).values() if r.get("map")]
    for a, b in _merge(refs):
        for m in _REFERENCE.finditer(c.text, a, b):
            dest = m.group(2)
            at = m.start(2)
            if dest.startswith("<"):
                dest, at = dest[1:-1], at + 1
            c.add(dest, at, "markdown:reference", m.group(1), url=unescape_destination(dest))


def _code_spans(text: str, start: int, end: int) -> list[tuple[int, int]]:
    spans: list[tuple[int, int]] = []
    pos = start
    while True:
        m = _BACKTICKS.search(text, pos, end)
        if m is None:
            return spans
        if m.start() > 0 and text[m.start() - 1] == "\\":
            pos = m.start() + 1
            continue
        run = m.group()
        close = re.compile(rf"(?<!`){run}(?!`)").search(text, m.end(), end)
        if close is None:
            pos = m.end()
            continue
        spans.append((m.start(), close.end()))
        pos = close.end()


def _inside(spans: list[tuple[int, int]], pos: int) -> bool:
    return any(a <= pos < b for a, b in spans)


def extract_inline(c: Collector, start: int, end: int) -> None:
    """Links, images, autolinks, inline HTML and bare URLs of one paragraph (or block)."""
    text = c.text
    masks = _code_spans(text, start, end) if "`" in text[start:end] else []
    if "<" in text[start:end]:
        _autolinks_and_tags(c, start, end, masks)
    if "](" in text[start:end]:
        _inline_links(c, start, end, masks)
    if url_starts(text, start, end):
        find_urls(c, start, end, source="text", skip=masks)


def _autolinks_and_tags(c: Collector, start: int, end: int, masks: list[tuple[int, int]]) -> None:
    text = c.text
    pos = text.find("<", start, end)
    while 0 <= pos < end and not c.full:
        if _inside(masks, pos):
            pos = text.find("<", pos + 1, end)
            continue
        auto = _AUTOLINK.match(text, pos, end)
        if auto:
            c.add(auto.group(1), pos + 1, "markdown:autolink")
            masks.append((pos, auto.end()))
            pos = text.find("<", auto.end(), end)
            continue
        tag = _TOKEN.match(text, pos, end)
        if tag and tag.group(2):
            if "=" in tag.group(3):
                _cite_attrs(c, tag.group(2).lower(), _attrs(c, tag))
            masks.append((pos, tag.end()))
            pos = text.find("<", tag.end(), end)
            continue
        pos = text.find("<", pos + 1, end)


def _inline_links(c: Collector, start: int, end: int, masks: list[tuple[int, int]]) -> None:
    text = c.text
    pos = text.find("](", start, end)
    while pos >= 0 and not c.full:
        if _inside(masks, pos) or (pos > start and text[pos - 1] == "\\"):
            pos = text.find("](", pos + 1, end)
            continue
        opener = _link_opener(text, start, pos, masks)
        dest = _destination(text, pos + 2, end) if opener >= 0 else None
        if dest is None:
            pos = text.find("](", pos + 1, end)
            continue
        raw, at, close = dest
        is_image = opener > start and text[opener - 1] == "!"
        source = "markdown:image" if is_image else "markdown:link"
        label = text[opener + 1 : pos]
        c.add(raw, at, source, label, url=unescape_destination(raw))
        masks.append((opener - (1 if is_image else 0), close))
        pos = text.find("](", close, end)


def _link_opener(text: str, start: int, close: int, masks: list[tuple[int, int]]) -> int:
    """The ``[`` that the ``]`` at ``close`` closes, or -1."""
    depth = 0
    i = close - 1
    while i >= start:
        ch = text[i]
        escaped = i > start and text[i - 1] == "\\"
        if not escaped and not _inside(masks, i):
            if ch == "]":
                depth += 1
            elif ch == "[":
                if depth == 0:
                    return i
                depth -= 1
        i -= 1
    return -1


def _destination(text: str, pos: int, end: int) -> tuple[str, int, int] | None:
    """Parse ``dest [title])`` after ``](``: (raw destination, its offset, end of link)."""
    i = _skip_space(text, pos, end)
    if i < end and text[i] == "<":
        close = text.find(">", i + 1, end)
        if close < 0 or "\n" in text[i + 1 : close]:
            return None
        raw, at, i = text[i + 1 : close], i + 1, close + 1
    else:
        at, depth = i, 0
        while i < end:
            ch = text[i]
            if ch == "\\" and i + 1 < end:
                i += 2
                continue
            if ch.isspace() or ord(ch) < 32:
                break
            if ch == "(":
                depth += 1
            elif ch == ")":
                if depth == 0:
                    break
                depth -= 1
            i += 1
        raw = text[at:i]
    i = _skip_title(text, _skip_space(text, i, end), end)
    if i is None or i >= end or text[i] != ")":
        return None
    return raw, at, i + 1


def _skip_space(text: str, i: int, end: int) -> int:
    while i < end and text[i] in " \t\r\n":
        i += 1
    return i


def _skip_title(text: str, i: int, end: int) -> int | None:
    if i >= end or text[i] not in "\"'(":
        return i
    closer = ")" if text[i] == "(" else text[i]
    j = i + 1
    while j < end:
        if text[j] == "\\":
            j += 2
            continue
        if text[j] == closer:
            return _skip_space(text, j + 1, end)
        j += 1
    return None
