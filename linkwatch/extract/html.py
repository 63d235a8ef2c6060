"""HTML: URLs in ``href``/``src``/``srcset``/``cite``/``data``/``poster`` attributes and bare
URLs in text nodes, with exact line and column.

A small tokenizer over the source (compiled regular expressions, as lychee uses html5gum's
tokenizer rather than a tree builder) gives every token's offset, so positions are exact
and no DOM is built. It follows the HTML tokenizer where it matters for links: comments
(also unterminated), raw-text elements (``<script>``, ``<style>``, ``<textarea>``, ...)
whose content is skipped, quoted attribute values that contain ``>``, character references
in attributes (with the attribute-value rule for legacy references without ``;``),
``<base href>`` (the first one counts, wherever it is) and ``<link rel=canonical>``.
"""

from __future__ import annotations

import html
import re
from bisect import bisect_left
from html.entities import html5 as _ENTITIES  # noqa: N812 - a constant table

from linkwatch.extract.collect import Collector, stated_date
from linkwatch.extract.text import find_urls, url_starts

_TOKEN = re.compile(
    r"<!--.*?(?:-->|\Z)"
    r"|<!\[CDATA\[.*?(?:\]\]>|\Z)"
    r"|<[!?][^>]*(?:>|\Z)"
    r"|<(/?)([a-zA-Z][^\s/>\x00]*+)((?:=\s*\"[^\"]*\"|=\s*'[^']*'|[^>])*+)>",
    re.DOTALL,
)
_UNTERMINATED_TAG = re.compile(r"</?[a-zA-Z]")
_ATTR = re.compile(r"""([^\s"'>/=]+)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]*)))?""")
_CHARREF = re.compile(r"&(#[0-9]+;?|#[xX][0-9a-fA-F]+;?|[a-zA-Z][a-zA-Z0-9]*;?)")
#: elements whose text is code or sample output: bare URLs there are not citations (an
#: ``<a href>`` inside one still is)
_VERBATIM = frozenset({"pre", "code", "kbd", "samp", "var", "listing"})
_RAW_TEXT = frozenset(
    {"script", "style", "textarea", "title", "xmp", "iframe", "noembed", "noframes", "plaintext"}
)
_URL_ATTRS = frozenset({"href", "src", "srcset", "cite", "poster", "data", "xlink:href"})
# <link rel=...> values that load a resource rather than cite something
_RESOURCE_RELS = frozenset(
    {
        "stylesheet",
        "icon",
        "shortcut",
        "preconnect",
        "dns-prefetch",
        "preload",
        "prefetch",
        "modulepreload",
        "manifest",
        "apple-touch-icon",
        "apple-touch-icon-precomposed",
        "mask-icon",
        "pingback",
        "edituri",
        "wlwmanifest",
        "search",
        "prerender",
    }
)
_BASE_OR_LINK = re.compile(r"<(base|link)\s", re.IGNORECASE)
_CLOSERS: dict[str, re.Pattern[str]] = {}
MAX_ANCHOR_SOURCE = 4000  # characters of an <a> element read for its text (shown: 200)
_TAGS = re.compile(r"<[^>]*>")
_NOT_TEXT = re.compile(
    r"<!--.*?(?:-->|\Z)|<(script|style|textarea|template)\b.*?(?:</\1\s*>|\Z)",
    re.DOTALL | re.IGNORECASE,
)


def anchor_text(source: str) -> str:
    """The plain text of an element's source: comments, scripts, styles and tags dropped,
    references decoded (whitespace is collapsed when the citation is built)."""
    if "<" in source:
        source = _TAGS.sub(" ", _NOT_TEXT.sub(" ", source))
    return html.unescape(source) if "&" in source else source


def unescape_attr(value: str) -> str:
    """Decode character references as in an attribute value (HTML tokenizer rules)."""
    if "&" not in value:
        return value

    def one(m: re.Match[str]) -> str:
        ref = m.group(1)
        if ref[0] == "#" or ref.endswith(";"):
            return html.unescape(m.group())
        nxt = value[m.end() : m.end() + 1]
        if ref + ";" in _ENTITIES and ref in _ENTITIES and nxt != "=":
            return _ENTITIES[ref]
        return m.group()

    return _CHARREF.sub(one, value)


def _attrs(c: Collector, m: re.Match[str]) -> list[tuple[str, str, int]]:
    """(lower-cased name, raw value, offset of the value) for each attribute."""
    out: list[tuple[str, str, int]] = []
    for a in _ATTR.finditer(c.text, m.start(3), m.end(3)):
        for group in (2, 3, 4):
            if a.group(group) is not None:
                out.append((a.group(1).lower(), a.group(group), a.start(group)))
                break
        else:
            out.append((a.group(1).lower(), "", a.end()))
    return out


_HTML_SPACE = frozenset(" \t\n\f\r")  # ASCII whitespace, as the HTML spec splits srcset


def srcset_candidates(value: str) -> list[tuple[str, int]]:
    """Each candidate URL of a ``srcset`` value with its offset in the value."""
    out: list[tuple[str, int]] = []
    i, n = 0, len(value)
    while i < n:
        while i < n and (value[i] in _HTML_SPACE or value[i] == ","):
            i += 1
        start = i
        while i < n and value[i] not in _HTML_SPACE:
            i += 1
        url = value[start:i]
        if url.endswith(","):
            url = url.rstrip(",")
        else:  # descriptors; "(" ... ")" may hold commas, and parentheses do not nest
            in_parens = False
            while i < n and (in_parens or value[i] != ","):
                if value[i] == "(":
                    in_parens = True
                elif value[i] == ")":
                    in_parens = False
                i += 1
        if url:
            out.append((url, start))
    return out


_ASCII_SPACE = "\t\n\f\r "


def refresh_url(content: str) -> tuple[str, int] | None:
    """The URL of a ``<meta http-equiv=refresh content=...>`` and its offset in
    ``content``, by the HTML standard's shared declarative refresh steps; None when the
    value is not a refresh or names no URL (a plain reload)."""
    n, i = len(content), 0
    while i < n and content[i] in _ASCII_SPACE:
        i += 1
    start = i
    while i < n and content[i].isascii() and content[i].isdigit():
        i += 1
    if i == start and (i >= n or content[i] != "."):
        return None
    while i < n and (content[i] == "." or (content[i].isascii() and content[i].isdigit())):
        i += 1
    if i < n:
        if content[i] not in ";," + _ASCII_SPACE:
            return None
        while i < n and content[i] in _ASCII_SPACE:
            i += 1
        if i < n and content[i] in ";,":
            i += 1
        while i < n and content[i] in _ASCII_SPACE:
            i += 1
    if i >= n:
        return None
    url_at = i
    if content[i] in "Uu":
        i += 1
        if not (i < n and content[i] in "Rr"):
            return _refresh_parse(content, url_at)
        i += 1
        if not (i < n and content[i] in "Ll"):
            return _refresh_parse(content, url_at)
        i += 1
        while i < n and content[i] in _ASCII_SPACE:
            i += 1
        if not (i < n and content[i] == "="):
            return _refresh_parse(content, url_at)
        i += 1
        while i < n and content[i] in _ASCII_SPACE:
            i += 1
    quote = content[i] if i < n and content[i] in "'\"" else ""
    if quote:
        i += 1
    url = content[i:]
    if quote and quote in url:
        url = url[: url.index(quote)]
    return _refresh_parse(url, 0, at=i)


def _refresh_parse(text: str, start: int, at: int | None = None) -> tuple[str, int] | None:
    url = text[start:].strip(_ASCII_SPACE)
    if not url:
        return None
    return url, (start if at is None else at)


def _cite_refresh(c: Collector, attrs: list[tuple[str, str, int]]) -> None:
    if next((v for k, v, _ in attrs if k == "http-equiv"), "").strip().lower() != "refresh":
        return
    found = next(((v, off) for k, v, off in attrs if k == "content"), None)
    if found is None:
        return
    value, offset = found
    decoded = unescape_attr(value)
    refresh = refresh_url(decoded)
    if refresh is not None:
        url, at = refresh
        c.add(url, offset + (at if decoded == value else 0), "meta@refresh")


def _cite_og_url(c: Collector, attrs: list[tuple[str, str, int]]) -> None:
    """``<meta property="og:url" content=...>``: the page's own URL (Open Graph)."""
    names = {v.strip().lower() for k, v, _ in attrs if k in ("property", "name")}
    found = next(((v, off) for k, v, off in attrs if k == "content"), None)
    if "og:url" in names and found is not None:
        c.add(unescape_attr(found[0]), found[1], "meta@og:url")


def _cite_attrs(c: Collector, tag: str, attrs: list[tuple[str, str, int]]) -> int:
    """Record the tag's URL attributes; returns the index of an ``<a href>`` citation."""
    if tag == "base":
        return -1
    if tag == "meta":
        _cite_refresh(c, attrs)
        if c.self_links:
            _cite_og_url(c, attrs)
        return -1
    if tag == "link":
        rels = next((v for k, v, _ in attrs if k == "rel"), "").lower().split()
        if any(r in _RESOURCE_RELS for r in rels):
            return -1
        if "canonical" in rels and not c.self_links:
            return -1  # the page's own address, its base: cited only when configured
    alt = next((v for k, v, _ in attrs if k in ("alt", "title")), "") if tag != "a" else ""
    anchor = -1
    seen: set[str] = set()
    for name, value, offset in attrs:
        if name not in _URL_ATTRS or name in seen or (name == "data" and tag != "object"):
            continue
        seen.add(name)
        source = f"{tag}@{name}"
        if name == "srcset":  # split after character references are decoded (HTML spec)
            decoded = unescape_attr(value)
            for url, at in srcset_candidates(decoded):
                c.add(url, offset + (at if decoded == value else 0), source, unescape_attr(alt))
            continue
        index = c.add(value, offset, source, unescape_attr(alt), url=unescape_attr(value))
        if tag == "a" and name == "href":
            anchor = index
            version = next((v for k, v, _ in attrs if k == "data-versiondate"), "")
            stated = stated_date(unescape_attr(version))
            if stated:  # Robust Links: the day the cited page was seen
                c.set_accessed(index, stated)
    return anchor


def find_base(c: Collector, start: int, end: int) -> tuple[str | None, str | None]:
    """The first ``<base href>`` and the first ``<link rel=canonical href>``."""
    base = canonical = None
    for m in _BASE_OR_LINK.finditer(c.text, start, end):
        tm = _TOKEN.match(c.text, m.start())
        if tm is None:
            break  # an unterminated tag: the reader stops here too
        if not tm.group(2):
            continue
        attrs = {k: v for k, v, _ in reversed(_attrs(c, tm))}
        href = unescape_attr(attrs.get("href", "")).strip()
        if not href:
            continue
        if m.group(1).lower() == "base":
            base = base or href
        elif "canonical" in attrs.get("rel", "").lower().split():
            canonical = canonical or href
    return base, canonical


def _closer(tag: str) -> re.Pattern[str]:
    if tag not in _CLOSERS:
        _CLOSERS[tag] = re.compile(rf"</{tag}[\s/>]", re.IGNORECASE)
    return _CLOSERS[tag]


def extract_html(c: Collector, start: int, end: int) -> None:
    """Record the citations of the HTML in ``c.text[start:end]``."""
    _HtmlReader(c, start, end).read()


class _HtmlReader:
    """One pass over the tokens of an HTML range, tracking the open ``<a href>``."""

    def __init__(self, c: Collector, start: int, end: int) -> None:
        self.c, self.text, self.start, self.end = c, c.text, start, end
        self.candidates = url_starts(c.text, start, end)
        self.anchor, self.anchor_from = -1, 0
        self.verbatim = 0  # open <pre>, <code>, <kbd>, <samp>, <var>: text there is code

    def read(self) -> None:
        c, text, pos = self.c, self.text, self.start
        while pos < self.end and not c.full:
            lt = text.find("<", pos, self.end)
            if lt < 0:
                break
            m = _TOKEN.match(text, lt, self.end)
            if m is None:
                if _UNTERMINATED_TAG.match(text, lt, self.end):
                    c.warn("unterminated tag; the rest of the document is ignored", lt)
                    self.end = lt
                    break
                self._text_node(pos, lt + 1)
                pos = lt + 1
                continue
            self._text_node(pos, lt)
            pos = self._token(m, lt)
        if pos < self.end:
            self._text_node(pos, self.end)
        self._close_anchor(self.end)

    def _text_node(self, a: int, b: int) -> None:
        i = bisect_left(self.candidates, a - 5)
        if i < len(self.candidates) and self.candidates[i] < b and self.anchor < 0:
            if not self.verbatim:  # a URL written in code is an example, not a citation
                find_urls(self.c, a, b, entities=True)

    def _close_anchor(self, at: int) -> None:
        if self.anchor >= 0:
            source = self.text[self.anchor_from : min(at, self.anchor_from + MAX_ANCHOR_SOURCE)]
            if at > self.anchor_from + MAX_ANCHOR_SOURCE and source.rfind("<") > source.rfind(">"):
                source = source[: source.rfind("<")]  # no half tag at the cut
            self.c.set_text(self.anchor, anchor_text(source))
            self.anchor = -1

    def _token(self, m: re.Match[str], lt: int) -> int:
        """Handle one token; returns where reading goes on."""
        pos, name = m.end(), m.group(2)
        if not name:
            if self.text.startswith("<!--", lt) and not m.group().endswith("-->"):
                self.c.warn("unterminated comment; the rest of the document is ignored", lt)
            return pos
        tag = name.lower()
        if tag == "a":
            self._close_anchor(lt)  # </a>, or a new <a> implicitly closing the last one
        if tag in _VERBATIM:
            if m.group(1):
                self.verbatim = max(0, self.verbatim - 1)
            elif not m.group().endswith("/>"):
                self.verbatim += 1
        if m.group(1):
            return pos
        if "=" in m.group(3):
            index = _cite_attrs(self.c, tag, _attrs(self.c, m))
            if index >= 0:
                self.anchor, self.anchor_from = index, pos
        if tag in _RAW_TEXT:
            close = _closer(tag).search(self.text, pos, self.end)
            if close is None:
                if tag != "plaintext":
                    self.c.warn(f"unterminated <{tag}>; the rest of the document is ignored", lt)
                return self.end
            return close.start()
        return pos
