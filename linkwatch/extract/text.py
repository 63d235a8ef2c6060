"""Bare URLs in running text: ``http(s)://`` and ``www.`` links, GFM trailing-punctuation
rules, with quotes, brackets and parentheses around them excluded. Shared by plain text,
Markdown paragraphs and HTML text nodes.
"""

from __future__ import annotations

import html
import re

from linkwatch.extract.collect import Collector
from linkwatch.extract.spans import Spans

CONTEXT_CHARS = 60

# a URL may not contain whitespace, ASCII controls, <>`|\^ or typographic quotes, bars
# and brackets; IDN hosts and non-ASCII paths are kept. Braces pair like brackets
# (``trim_url``) and double quotes are cut by ``_cut_at_quote``, both as linkify-it does.
_STOP = (
    r"\s<>`|\\^\x00-\x1f\x7f"
    "\uff5c\u201c\u201d\u201e\u2018\u2019\u201a\u00ab\u00bb\u2039\u203a"
    "\u300c\u300d\u300e\u300f\uff08\uff09\u3010\u3011\u3008\u3009\u300a\u300b"
    "\u3001\u3002\uff0c\uff01\uff1f\uff1b\uff1a"
)


def url_starts(text: str, start: int, end: int) -> list[int]:
    """Sorted offsets where a bare URL may start (``http://``, ``https://``, ``www.``),
    found with ``str.find`` (much faster than running the full pattern everywhere)."""
    out: list[int] = []
    find = text.find
    pos = find("://", start, end)
    while pos >= 0:
        if pos - 5 >= start and text[pos - 5 : pos].lower() == "https":
            out.append(pos - 5)
        elif pos - 4 >= start and text[pos - 4 : pos].lower() == "http":
            out.append(pos - 4)
        pos = find("://", pos + 3, end)
    for needle in ("www.", "WWW.", "Www."):
        pos = find(needle, start, end)
        while pos >= 0:
            out.append(pos)
            pos = find(needle, pos + 4, end)
    out.sort()
    return out


_CANDIDATE = re.compile(
    # a scheme URL may follow "@" (linkify-it: "name@http://vk.com"); "www." there is the
    # domain of an e-mail address ("me@www.example.org"), no link
    rf"(?<![\w.+/-])https?://[^{_STOP}/?#][^{_STOP}]*|(?<![\w@.+/-])www\.[^{_STOP}.][^{_STOP}]*",
    re.IGNORECASE,
)
_TRAILING = frozenset("?!.,:;*_~'")
_PAIRS = {")": "(", "]": "[", "}": "{"}


def trim_url(url: str) -> str:
    """Drop sentence punctuation and unbalanced closing brackets from the end (GFM).

    Works on an end index (bracket counts kept up to date), so a URL ending in thousands of
    such characters is trimmed in linear time."""
    if not url or (url[-1] not in _TRAILING and url[-1] not in _PAIRS):
        return url
    stop = len(url)
    counts: dict[str, int] | None = None
    while stop:
        last = url[stop - 1]
        if last == ";":  # "&name;" goes as a whole
            k = stop - 1
            while k > 0 and url[k - 1].isascii() and url[k - 1].isalnum():
                k -= 1
            stop = k - 1 if 0 < k < stop - 1 and url[k - 1] == "&" else stop - 1
        elif last in _TRAILING:
            stop -= 1
        elif last in _PAIRS:
            if counts is None:
                counts = {ch: url.count(ch, 0, stop) for ch in "()[]{}"}
            if counts[_PAIRS[last]] >= counts[last]:
                break
            counts[last] -= 1
            stop -= 1
        else:
            break
    return url[:stop]


def _cut_at_quote(url: str) -> str:
    """End the URL at a double quote that does not belong to it: a quote followed by a
    letter or digit opens a quoted part of the path (``/blah_"quoted"``), the next one
    closes it; any other quote is the end of a quotation around the URL (``"http://x"``,
    ``["http://a","http://b"]``)."""
    quoted = False
    at = url.find('"')
    while at >= 0:
        if quoted:
            quoted = False
        elif url[at + 1 : at + 2].isalnum():
            quoted = True
        else:
            return url[:at]
        at = url.find('"', at + 1)
    return url


def _valid(url: str) -> bool:
    """A bare URL whose host could be a real one (linkify-it's rule: no label empty or
    starting or ending with '-'); the URL standard alone accepts ``http://.example.com``."""
    if url[:4].lower() == "www.":
        return len(url) > 4 and url[4] not in "./"
    at = url.find("://") + 3
    if at >= len(url):
        return False
    host = url[at:].split("/", 1)[0].split("?", 1)[0].split("#", 1)[0].rpartition("@")[2]
    if host.startswith("["):
        return True
    labels = host.partition(":")[0].rstrip(".").split(".")
    return all(label and label[0] != "-" and label[-1] != "-" for label in labels)


def find_urls(
    c: Collector,
    start: int,
    end: int,
    *,
    source: str = "text",
    entities: bool = False,
    skip: Spans | None = None,
    starts: list[int] | None = None,
) -> None:
    """Record every bare URL in ``c.text[start:end]`` (outside the ``skip`` spans)."""
    text = c.text
    covered = start
    for at in url_starts(text, start, end) if starts is None else starts:
        if c.full:
            return
        m = _CANDIDATE.match(text, at, end) if at >= covered else None
        if m is None:
            continue
        covered = m.end()
        pos = m.start()
        raw = m.group()
        if skip:
            if skip.covers(pos):
                continue
            raw = raw[: skip.next_start(pos, pos + len(raw)) - pos]
        if '"' in raw:  # the rest after a closing quote may hold the next URL
            raw = _cut_at_quote(raw)
            covered = pos + len(raw)
        raw = trim_url(raw)
        if not _valid(raw):
            continue
        url = html.unescape(raw) if entities and "&" in raw else raw
        if url[:4].lower() == "www.":
            url = "http://" + url
        lo = max(start, pos - CONTEXT_CHARS, text.rfind("\n", 0, pos) + 1)
        hi = min(end, pos + len(raw) + CONTEXT_CHARS)
        newline = text.find("\n", pos, hi)
        hi = hi if newline < 0 else newline
        c.add(raw, pos, source, text[lo:hi], url=url)


def extract_text(c: Collector, start: int, end: int) -> None:
    find_urls(c, start, end)
