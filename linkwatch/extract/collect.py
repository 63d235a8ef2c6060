"""The ``Collector``: where every format's extractor puts what it finds.

It turns a raw URL as written plus an offset in the document into a ``Citation``: the URL
is resolved against the document's base, URLs of other schemes (``mailto:``, ``tel:``,
``data:``, ``javascript:``, ...) are kept as written (never requested, but cited), the line and
column come from the offset, anchor text is collapsed and capped, and the per-document cap
on citations is enforced (with one warning, not one per URL).
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from functools import lru_cache

from linkwatch.model import Citation, ExtractWarning
from linkwatch.urls import cited_scheme, resolve, try_canonicalize

MAX_TEXT_CHARS = 200
MAX_WARNINGS = 50
MAX_RAW_CHARS = 4096

_SCHEME = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.-]*):")
_SPACE = re.compile(r"\s+")
_NEEDS_CLEANING = re.compile(r"\s\s|[\t\n\r\f\v\x85\u2028\u2029]")


def clean_text(text: str, limit: int = MAX_TEXT_CHARS) -> str:
    """Anchor text or context with whitespace collapsed, capped in length."""
    if len(text) <= limit and not _NEEDS_CLEANING.search(text):
        return text.strip()
    text = _SPACE.sub(" ", text).strip()
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


@lru_cache(maxsize=65536)
def link_key(url: str, max_length: int) -> tuple[str | None, str | None]:
    """``try_canonicalize``, remembered: a corpus cites the same URLs over and over."""
    return try_canonicalize(url, max_length=max_length)


class LineIndex:
    """Offsets -> 1-based (line, column), built once per document."""

    def __init__(self, text: str) -> None:
        self._starts = [0]
        find = text.find
        pos = find("\n")
        while pos >= 0:
            self._starts.append(pos + 1)
            pos = find("\n", pos + 1)

    @contextmanager
    def markdown_raw_html(self) -> Iterator[None]:
        """While raw HTML inside Markdown is read (its URLs follow ``AMBIGUOUS_BACKSLASH``)."""
        self.markdown_html = True
        try:
            yield
        finally:
            self.markdown_html = False

    def position(self, offset: int) -> tuple[int, int]:
        line = bisect_right(self._starts, offset)
        return line, offset - self._starts[line - 1] + 1

    def offset(self, line: int, column: int) -> int:
        return self._starts[min(max(line, 1), len(self._starts)) - 1] + max(column, 1) - 1


_MONTHS = {
    m: i
    for i, names in enumerate(
        ["jan january", "feb february", "mar march", "apr april", "may", "jun june",
         "jul july", "aug august", "sep sept september", "oct october", "nov november",
         "dec december"],
        1,
    )
    for m in names.split()
}  # fmt: skip
_ISO_DAY = re.compile(r"\b((?:19|20)\d\d)-(\d\d)-(\d\d)\b")
_DAY_MONTH = re.compile(r"\b(\d{1,2})\s+([A-Za-z]{3,9})\.?,?\s+((?:19|20)\d\d)\b")
_MONTH_DAY = re.compile(r"\b([A-Za-z]{3,9})\.?\s+(\d{1,2}),?\s+((?:19|20)\d\d)\b")
_TITLE = re.compile(r""">?[ \t]+(?:"([^"\n]*)"|'([^'\n]*)'|\(([^)\n]*)\))""")
_ACCESS_WORDS = re.compile(r"access|retriev|seen|visit|consult|abgerufen|consulté", re.I)


def stated_date(text: str, *, need_word: bool = False) -> str | None:
    """The calendar date ``text`` states (``2021-05-01``, ``1 May 2021``, ``May 1, 2021``)
    as ``YYYY-MM-DD``, or None. ``need_word``: only next to "accessed", "retrieved", ...
    (a link title may also name a publication date, which is not when it was cited)."""
    if not text or (need_word and not _ACCESS_WORDS.search(text)):
        return None
    found: tuple[int, int, int] | None = None
    if m := _ISO_DAY.search(text):
        found = int(m.group(1)), int(m.group(2)), int(m.group(3))
    elif m := _DAY_MONTH.search(text):
        month = _MONTHS.get(m.group(2).lower())
        found = (int(m.group(3)), month, int(m.group(1))) if month else None
    elif m := _MONTH_DAY.search(text):
        month = _MONTHS.get(m.group(1).lower())
        found = (int(m.group(3)), month, int(m.group(2))) if month else None
    if found is None:
        return None
    try:
        return date(*found).isoformat()
    except ValueError:
        return None


#: why a backslash in a URL of raw HTML in Markdown makes it invalid
AMBIGUOUS_BACKSLASH = (
    "a backslash in a URL of raw HTML in Markdown: browsers read it as '/', a Markdown link "
    "as '%5C'; write '/' or '%5C'"
)


class Collector:
    """Accumulates citations and warnings for one document."""

    def __init__(
        self,
        document: str,
        text: str,
        *,
        max_links: int,
        max_url_length: int,
        unused_references: bool = False,
        self_links: bool = False,
    ) -> None:
        self.document = document
        self.text = text
        self.base: str | None = None
        self.max_links = max_links
        self.max_url_length = max_url_length
        self.unused_references = unused_references  # see CorpusSettings
        self.self_links = self_links
        #: the reference labels a Markdown document uses (None: cite every definition)
        self.used_labels: frozenset[str] | None = None
        self.full = False
        self._lines: LineIndex | None = None
        self._rows: list[tuple[str, int, int, str, str]] = []  # url, line, col, source, raw
        self._texts: list[str] = []
        self._accessed: dict[int, str] = {}  # citation index -> the date the document states
        self.warnings: list[ExtractWarning] = []
        self._warned = 0
        self.keys: dict[str, tuple[str | None, str | None]] = {}
        #: reading raw HTML inside Markdown, where a backslash in a URL is ambiguous
        self.markdown_html = False

    @contextmanager
    def markdown_raw_html(self) -> Iterator[None]:
        """While raw HTML inside Markdown is read (its URLs follow ``AMBIGUOUS_BACKSLASH``)."""
        self.markdown_html = True
        try:
            yield
        finally:
            self.markdown_html = False

    def position(self, offset: int) -> tuple[int, int]:
        if self._lines is None:
            self._lines = LineIndex(self.text)
        return self._lines.position(offset)

    def warn(self, message: str, offset: int | None = None, line: int | None = None) -> None:
        self._warned += 1
        if self._warned > MAX_WARNINGS:
            return
        if self._warned == MAX_WARNINGS:
            message = f"{message} (further warnings for this document suppressed)"
        if offset is not None:
            line = self.position(offset)[0]
        self.warnings.append(ExtractWarning(self.document, message, line))

    def resolve(self, raw: str) -> str | None:
        """The absolute http(s) URL ``raw`` stands for, or None when it is not one."""
        if raw.startswith(("https://", "http://")):
            return raw
        m = _SCHEME.match(raw)
        if m:
            return raw if m.group(1).lower() in ("http", "https") else None
        if raw.startswith("#") or not raw:
            return None
        if self.base is None:
            return "https:" + raw if raw.startswith("//") else None
        url = resolve(raw, self.base)
        return url if url is not None and _SCHEME.match(url) else None

    def add(
        self,
        raw: str,
        offset: int,
        source: str,
        text: str = "",
        *,
        url: str | None = None,
        line: int | None = None,
        accessed: str | None = None,
    ) -> int:
        """Record a citation of ``raw`` (as written; ``url`` if it decodes differently).

        Returns the citation's index (for anchor text set later), or -1 when ``raw`` is not
        an http(s) URL (or cannot be resolved) or the document's cap is reached.
        """
        if self.full:
            return -1
        raw = raw.strip(" \t\n\r\f")
        url = self.resolve(raw if url is None else url.strip(" \t\n\r\f"))
        if url is not None and self.markdown_html and "\\" in raw.split("?", 1)[0]:
            url = raw[:MAX_RAW_CHARS]  # as written: it names no one URL
            self.keys.setdefault(url, (None, AMBIGUOUS_BACKSLASH))
            self.warn(f"invalid URL {raw[:120]!r}: {AMBIGUOUS_BACKSLASH}", offset)
        elif url is None:
            if cited_scheme(raw) is None:
                return -1
            url = raw[:MAX_RAW_CHARS]  # cited, never requested: no key, no warning
            self.keys[url] = (None, None)
        if len(self._rows) >= self.max_links:
            self.full = True
            self.warn(f"more than {self.max_links} links; the rest of the document is ignored")
            return -1
        if url not in self.keys:
            key, reason = link_key(url, self.max_url_length)
            if len(url) > MAX_RAW_CHARS:  # kept short; the verdict is on the full URL
                raw, url = raw[:MAX_RAW_CHARS], url[:MAX_RAW_CHARS]
            self.keys[url] = (key, reason)
            if reason is not None:
                self.warn(f"invalid URL {raw[:120]!r}: {reason}", offset)
        raw = raw[:MAX_RAW_CHARS]
        if line is None:
            line, col = self.position(offset)
        else:
            col = 0
        self._rows.append((url, line, col, source, raw))
        self._texts.append(text)
        if accessed:
            self._accessed[len(self._rows) - 1] = accessed
        return len(self._rows) - 1

    def set_accessed(self, index: int, accessed: str) -> None:
        if index >= 0:
            self._accessed[index] = accessed

    def date_link_titles(self) -> None:
        """A Markdown link or reference definition titled with the day it was seen
        (``[t](url "accessed 2021-05-01")``) states its citation's date."""
        for i, (_url, line, col, source, raw) in enumerate(self._rows):
            if source not in ("markdown:link", "markdown:reference") or i in self._accessed:
                continue
            if self._lines is None:
                self._lines = LineIndex(self.text)
            at = self._lines.offset(line, col) + len(raw)
            title = _TITLE.match(self.text, at, min(len(self.text), at + 300))
            if title:
                stated = stated_date(
                    next(g for g in title.groups() if g is not None), need_word=True
                )
                if stated:
                    self._accessed[i] = stated

    def set_text(self, index: int, text: str) -> None:
        if index >= 0:
            self._texts[index] = text

    def citations(self) -> list[Citation]:
        """The citations in document order (line, then column)."""
        doc, rows, texts = self.document, self._rows, self._texts
        order = sorted(range(len(rows)), key=lambda i: (rows[i][1], rows[i][2]))
        out = []
        accessed = self._accessed
        for i in order:
            url, line, col, source, raw = rows[i]
            text = texts[i]
            out.append(
                Citation(
                    url, doc, line, col, clean_text(text) if text else "", source, raw,
                    accessed.get(i),
                )
            )  # fmt: skip
        return out
