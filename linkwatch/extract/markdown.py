"""Markdown (CommonMark + GFM): inline links and images, reference definitions, autolinks,
``<…>`` destinations with spaces, balanced parentheses, bare URLs with GFM's
trailing-punctuation rules, ``www.`` links and inline/block HTML; nothing inside code spans,
indented code or fenced code.

A line scanner finds the blocks that matter for links (fenced and indented code, HTML
blocks, paragraphs; block quotes and list items are followed far enough to tell their
indented continuation lines from indented code), then the inline constructs are read from
each paragraph's source with exact offsets. It is several times faster than a full
CommonMark parse and agrees with markdown-it-py on which lines are code (see the tests).
"""

from __future__ import annotations

import html
import re
from bisect import bisect_left

from linkwatch.extract.collect import Collector
from linkwatch.extract.html import _attrs, _cite_attrs, anchor_text, extract_html
from linkwatch.extract.spans import Spans
from linkwatch.extract.text import find_urls, url_starts

_LINE = re.compile(r"[^\n]*(?:\n|\Z)")
_FENCE_OPEN = re.compile(r"[ \t>]*(`{3,}(?=[^`\n]*$)|~{3,})", re.MULTILINE)
# a list item: indentation, marker, the spaces before its content
_LIST_ITEM = re.compile(r"([ \t]*(?:[-+*]|\d{1,9}[.)]))([ \t]+|(?=\r?\n)|\Z)")
# CommonMark HTML block type 6: these tags start a block anywhere, even in a paragraph
_TYPE6_NAMES = (
    r"address|article|aside|base|basefont|blockquote|body|caption|center|col|colgroup|dd|"
    r"details|dialog|dir|div|dl|dt|fieldset|figcaption|figure|footer|form|frame|frameset|"
    r"h[1-6]|head|header|hr|html|iframe|legend|li|link|main|menu|menuitem|nav|noframes|ol|"
    r"optgroup|option|p|param|search|section|summary|table|tbody|td|tfoot|th|thead|title|tr|"
    r"track|ul"
)
_TYPE6 = re.compile(rf"</?(?:{_TYPE6_NAMES})(?:[\s/>]|$)", re.IGNORECASE)
# the start of an HTML block of any type; any other tag (type 7) must be whole on its line
_HTML_BLOCK = re.compile(
    r"[ ]{0,3}(?:>[ ]?)*(?:<(?:script|pre|style|textarea)(?:[\s>]|$)|<!--|<\?|<![a-zA-Z]|"
    rf"<!\[CDATA\[|</?(?:{_TYPE6_NAMES})(?:[\s/>]|$)|</?[A-Za-z][A-Za-z0-9-]*(?:[\s/>]|$))",
    re.IGNORECASE | re.MULTILINE,
)
_HTML_END = {  # how each kind of HTML block ends (CommonMark 4.6)
    "<script": re.compile(r"</(?:script|pre|style|textarea)>", re.IGNORECASE),
    "<pre": re.compile(r"</(?:script|pre|style|textarea)>", re.IGNORECASE),
    "<style": re.compile(r"</(?:script|pre|style|textarea)>", re.IGNORECASE),
    "<textarea": re.compile(r"</(?:script|pre|style|textarea)>", re.IGNORECASE),
    "<!--": re.compile(r"-->"),
    "<?": re.compile(r"\?>"),
    "<![cdata[": re.compile(r"\]\]>"),
    "<!": re.compile(r">"),
    "blank": re.compile(r"\A\s*\Z"),
}
_BACKTICKS = re.compile(r"`+")
_BRACKET = re.compile(r"[\[\]]")
# a destination ends at a space or an ASCII control character (not at other Unicode space)
_DEST_RUN = re.compile(r"[^ ()\\\x00-\x1f\x7f]+")
# CommonMark raw HTML (6.6): stricter than an HTML tokenizer, so "<LICENSE or [x](y)>" is text
_MD_TAG = re.compile(
    r"<(/?)([A-Za-z][A-Za-z0-9-]*)"
    r"((?:\s+[A-Za-z_:][A-Za-z0-9_.:-]*(?:\s*=\s*(?:[^\s\"'=<>`]+|'[^']*'|\"[^\"]*\"))?)*)"
    r"\s*/?>"
    r"|<!--.*?-->|<\?.*?\?>|<![A-Za-z][^>]*>|<!\[CDATA\[.*?\]\]>",
    re.DOTALL,
)
_AUTOLINK = re.compile(r"<([a-zA-Z][a-zA-Z0-9+.-]{1,31}:[^\s<>\x00-\x1f]*)>")
_ESCAPE = re.compile(r"\\([!-/:-@\[-`{-~])")
_ENTITY = re.compile(r"&(?:#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|[a-zA-Z][a-zA-Z0-9]{1,31});")
# a reference definition; ``[^label]:`` is a GFM footnote (prose), not one
_REFERENCE = re.compile(
    r"^[ \t>]*\[(?!\^)((?:[^\[\]\\\n]|\\.|\n(?![ \t>]*\n)){1,999})\]:[ \t]*(?:\r?\n[ \t>]*)?"
    r"(<[^>\n]*>|\S+)",
    re.MULTILINE,
)
_INNER_IMAGE = re.compile(r"!\[([^\]]*)\]\([^)]*\)")
MAX_DESTINATION_PARENS = 32  # nesting, as cmark allows
_MAYBE_LINK = re.compile(r"https?:|www\.|\]\(|\]:|<", re.IGNORECASE)


def _whole_tag_line(line: str) -> bool:
    """A line that is one complete open or closing tag as CommonMark's raw HTML defines it
    (attributes set off by whitespace, quoted values closed), then only whitespace: an
    HTML block of type 7. ``<a href='x'title=y>`` is text."""
    body = line.lstrip(" >")
    tag = _MD_TAG.match(body)
    return tag is not None and tag.group(2) is not None and not body[tag.end() :].strip()


def unescape_destination(dest: str) -> str:
    """Backslash escapes and character references, as CommonMark decodes a destination;
    a backslash left over is a literal one, which the rendered ``href`` carries as
    ``%5C`` (a raw one would be a slash to the URL standard)."""
    if "\\" in dest:
        dest = _ESCAPE.sub(r"\1", dest)
    if "&" in dest:
        dest = _ENTITY.sub(lambda m: html.unescape(m.group()), dest)
    return dest.replace(" ", "%20").replace("\\", "%5C")


def _indent(line: str) -> int:
    width = 0
    for ch in line:
        if ch == " ":
            width += 1
        elif ch == "\t":
            width += 4 - width % 4
        else:
            break
    return width


class _Blocks:
    """Splits a Markdown body into paragraphs (inline content), HTML blocks and code."""

    def __init__(self, text: str, start: int, end: int) -> None:
        self.text = text
        self.paragraphs: list[tuple[int, int]] = []
        self.html: list[tuple[int, int]] = []
        self._para: int | None = None
        self._fence: tuple[str, int] | None = None
        self._html_end: re.Pattern[str] | None = None
        self._html_from = 0
        self._blank = True
        self._items: list[int] = []  # content columns of the open list items, innermost last
        for m in _LINE.finditer(text, start, end):
            if m.start() == m.end():
                break
            self._line(m.start(), m.end(), m.group())
        self._close(end)
        if self._html_end is not None:
            self.html.append((self._html_from, end))

    def _line(self, a: int, b: int, line: str) -> None:
        if self._fence is not None:
            body = line.lstrip(" \t>")
            char, length = self._fence
            if body.startswith(char * length) and not body.strip(char).strip():
                self._fence = None
            return
        if self._html_end is not None:
            if self._html_end.search(line):
                self.html.append((self._html_from, b))
                self._html_end = None
            return
        if line[0].isalpha():  # the common case: a plain paragraph line
            self._paragraph_line(a, leaves_list=self._blank)
            return
        if not line.strip():
            self._close(a)
            self._blank = True
            return
        indent = _indent(line)
        if self._blank:  # after a blank line, items indented deeper than this line end
            while self._items and self._items[-1] > indent:
                self._items.pop()
        content = self._items[-1] if self._items else 0
        if indent >= content + 4 and (self._blank or self._para is None):
            self._close(a)  # indented code (in a list item: relative to its content)
            return
        if self._open_fence(a, b) or self._open_html(a, b, line):
            return
        item = _LIST_ITEM.match(line) if indent < content + 4 else None
        if item:
            self._close(a)
            while self._items and self._items[-1] > indent:
                self._items.pop()
            gap = _indent(item.group(2).replace("\r", "").replace("\n", ""))
            marker = _indent(item.group(1).replace("\t", "    ")) + len(item.group(1).strip())
            self._items.append(marker + (gap if 1 <= gap <= 4 else 1))
        self._paragraph_line(a, leaves_list=not item and self._blank and indent == 0)

    def _paragraph_line(self, a: int, *, leaves_list: bool) -> None:
        if leaves_list:
            self._items.clear()
        if self._para is None:
            self._para = a
        self._blank = False

    def _close(self, at: int) -> None:
        if self._para is not None:
            self.paragraphs.append((self._para, at))
            self._para = None

    def _open_fence(self, a: int, b: int) -> bool:
        f = _FENCE_OPEN.match(self.text, a, b)
        if f is None:
            return False
        self._close(a)
        self._fence = (f.group(1)[0], len(f.group(1)))
        return True

    def _open_html(self, a: int, b: int, line: str) -> bool:
        h = _HTML_BLOCK.match(self.text, a, b)
        if h is None:
            return False
        opening = h.group().lstrip(" >").lower()
        kind = next((k for k in _HTML_END if opening.startswith(k)), "blank")
        if kind == "blank" and not _TYPE6.match(opening):
            # CommonMark type 7: a lone tag on its line, never interrupting a paragraph
            if self._para is not None or not _whole_tag_line(line):
                return False
        self._close(a)
        self._blank = False
        end = _HTML_END[kind]
        if kind != "blank" and end.search(line, h.end() - a):
            self.html.append((a, b))
        else:
            self._html_from, self._html_end = a, end
        return True


def extract_markdown(c: Collector, start: int, end: int) -> None:
    """Record the citations of the Markdown in ``c.text[start:end]``."""
    if not _MAYBE_LINK.search(c.text, start, end) and c.base is None:
        return
    blocks = _Blocks(c.text, start, end)
    starts = url_starts(c.text, start, end)
    if not c.unused_references and c.text.find("]:", start, end) >= 0:
        c.used_labels = _used_labels(c.text, start, end)
    for a, b in blocks.paragraphs:
        if c.full:
            return
        first = bisect_left(starts, a)
        extract_inline(c, a, b, starts[first : bisect_left(starts, b, first)])
    with c.markdown_raw_html():
        for a, b in blocks.html:
            extract_html(c, a, b)


_LABEL_USE = re.compile(r"\[((?:[^\[\]\\]|\\.){1,999})\](?!:)")


def normalize_label(label: str) -> str:
    """CommonMark's label matching: case-folded, inner whitespace collapsed."""
    return " ".join(label.split()).casefold()


def _used_labels(text: str, start: int, end: int) -> frozenset[str]:
    """Every bracketed text that is not a definition's own label: the labels a
    ``[label]``, ``[text][label]`` or ``[label][]`` may use (a bracketed word in a code
    span counts too, which keeps a definition rather than losing one)."""
    return frozenset(normalize_label(m.group(1)) for m in _LABEL_USE.finditer(text, start, end))


def _references(c: Collector, start: int, end: int, masks: Spans) -> None:
    """Link reference definitions at the start of a paragraph (CommonMark §4.7): one
    cannot interrupt a paragraph, so the first paragraph line that is not one ends them
    (a heading line before them is no paragraph)."""
    text = c.text
    pos = start
    for m in _REFERENCE.finditer(text, start, end):
        before = text[pos : m.start()]
        if any(
            line.strip(" \t>") and not line.lstrip(" \t>").startswith("#")
            for line in before.split("\n")
        ):
            return  # paragraph text came first: what follows is its continuation
        line_end = _definition_end(text, m.end(2), end)
        if line_end is None:
            return  # not a definition: this line is paragraph text
        dest, at = m.group(2), m.start(2)
        if dest.startswith("<"):
            dest, at = dest[1:-1], at + 1
        used = c.used_labels is None or normalize_label(m.group(1)) in c.used_labels
        if used:  # an unused definition renders nothing: no citation unless configured
            c.add(dest, at, "markdown:reference", m.group(1), url=unescape_destination(dest))
        masks.add(m.start(), line_end)
        pos = line_end


def _definition_end(text: str, i: int, end: int) -> int | None:
    """Where a definition whose destination ends at ``i`` ends (after its title, if any,
    and the rest of that line), or None when the line is no definition: a title not set
    off by whitespace, a title with a blank line in it, text after the title. A title on
    the next line that is not one leaves the definition without a title."""
    j = i
    while j < end and text[j] in " \t":
        j += 1
    if j >= end or text[j] in "\r\n":
        nxt = j + 1
        while nxt < end and text[nxt] in " \t":
            nxt += 1
        if nxt < end and text[nxt] in "\"'(":
            after = _title_end(text, nxt, end)
            if after is not None:
                return after
        return j
    if j == i or text[j] not in "\"'(":
        return None
    return _title_end(text, j, end)


def _title_end(text: str, j: int, end: int) -> int | None:
    """The end of the line after a title that opens at ``j``, or None (no such title)."""
    closer = ")" if text[j] == "(" else text[j]
    k = j + 1
    while k < end and text[k] != closer:
        if text[k] == "\\":
            k += 2
            continue
        if closer == ")" and text[k] == "(":
            return None
        if text[k] == "\n":
            line_end = text.find("\n", k + 1)
            if not text[k + 1 : end if line_end < 0 else line_end].strip():
                return None  # a blank line ends the paragraph: the title never closes
        k += 1
    if k >= end:
        return None
    k += 1
    while k < end and text[k] in " \t":
        k += 1
    return k if k >= end or text[k] in "\r\n" else None


def _code_spans(text: str, start: int, end: int) -> list[tuple[int, int]]:
    spans: list[tuple[int, int]] = []
    unclosed: set[int] = set()  # run lengths with no closer further on: skip at once
    pos = start
    while True:
        m = _BACKTICKS.search(text, pos, end)
        if m is None:
            return spans
        if m.start() > 0 and text[m.start() - 1] == "\\":
            pos = m.start() + 1
            continue
        run = m.group()
        close = None
        if len(run) not in unclosed:
            close = re.compile(rf"(?<!`){run}(?!`)").search(text, m.end(), end)
        if close is None:
            unclosed.add(len(run))
            pos = m.end()
            continue
        spans.append((m.start(), close.end()))
        pos = close.end()


def extract_inline(c: Collector, start: int, end: int, starts: list[int] | None = None) -> None:
    """Links, images, autolinks, inline HTML and bare URLs of one paragraph (or block).

    ``starts``: where bare URLs may start in this range (``url_starts``), if known.
    """
    text = c.text
    find = text.find
    masks = Spans(_code_spans(text, start, end) if find("`", start, end) >= 0 else None)
    if find("]:", start, end) >= 0:
        _references(c, start, end, masks)
    if find("<", start, end) >= 0:
        _autolinks_and_tags(c, start, end, masks)
    if find("](", start, end) >= 0:
        _inline_links(c, start, end, masks)
    if starts is None:
        starts = url_starts(text, start, end)
    if starts:
        find_urls(c, start, end, source="text", skip=masks, starts=starts)


# raw HTML whose end is searched for (comments, processing instructions, declarations)
_RAW_ENDS = (("<!--", "-->"), ("<![CDATA[", "]]>"), ("<?", "?>"), ("<!", ">"))


def _autolinks_and_tags(c: Collector, start: int, end: int, masks: Spans) -> None:
    text = c.text
    ends: dict[str, int] = {}  # the next occurrence of each raw-HTML end (-1: none left)
    pos = text.find("<", start, end)
    while 0 <= pos < end and not c.full:
        if masks.covers(pos) or not _raw_end_follows(text, pos, end, ends):
            pos = text.find("<", pos + 1, end)
            continue
        auto = _AUTOLINK.match(text, pos, end)
        if auto:
            c.add(auto.group(1), pos + 1, "markdown:autolink")
            masks.add(pos, auto.end())
            pos = text.find("<", auto.end(), end)
            continue
        tag = _MD_TAG.match(text, pos, end)
        if tag:
            if tag.group(2) and not tag.group(1) and "=" in tag.group(3):
                with c.markdown_raw_html():
                    _cite_attrs(c, tag.group(2).lower(), _attrs(c, tag))
            masks.add(pos, tag.end())
            pos = text.find("<", tag.end(), end)
            continue
        pos = text.find("<", pos + 1, end)


def _raw_end_follows(text: str, pos: int, end: int, ends: dict[str, int]) -> bool:
    """False when the construct at ``pos`` is a comment, CDATA, processing instruction or
    declaration that never ends (it is text then); looked up once per end marker, so a
    paragraph full of unclosed ``<!--`` stays linear."""
    if text[pos + 1 : pos + 2] not in ("!", "?"):
        return True
    for opener, closer in _RAW_ENDS:
        if text.startswith(opener, pos):
            found = ends.get(closer, pos)
            if 0 <= found < pos + len(opener):
                found = ends[closer] = text.find(closer, pos + len(opener), end)
            return found >= 0
    return True


def _inline_links(c: Collector, start: int, end: int, masks: Spans) -> None:
    """``[text](dest)`` and ``![alt](dest)``, brackets matched in one pass as CommonMark's
    delimiter stack does: a link makes the ``[`` openers before it inactive (no link in a
    link's text; a ``]`` meeting an inactive opener is text), ``![`` openers stay active;
    what is inside an image's description is its alt text, not a link or image of its own.
    So ``[![alt](img)](target)`` gives both, ``![foo [bar](/url)](/url2)`` only /url2."""
    text = c.text
    openers: list[tuple[int, bool]] = []  # (offset of "[", active)
    found: list[tuple[int, str, int, str, str]] = []  # (opener, raw, at, source, label)
    skip_to = start
    unclosed: dict[str, int] = {}  # closer -> offset after which it does not occur
    for m in _BRACKET.finditer(text, start, end):
        at = m.start()
        if at < skip_to or c.full:
            continue
        if (at > start and text[at - 1] == "\\") or (masks and masks.covers(at)):
            continue
        if m.group() == "[":
            openers.append((at, True))
            continue
        if not openers:
            continue
        opener, active = openers.pop()
        if not active or not text.startswith("(", at + 1):
            continue
        dest = _destination(text, at + 2, end, unclosed)
        if dest is None:
            continue
        raw, dest_at, close = dest
        is_image = _is_image_opener(text, opener, start)
        label = text[opener + 1 : at]
        if "](" in label:  # an image inside the link: its alt text is the link's text
            label = _INNER_IMAGE.sub(r"\1", label)
        if is_image:  # the links and images of its description are alt text
            while found and found[-1][0] > opener:
                found.pop()
        else:
            openers = [(o, act and _is_image_opener(text, o, start)) for o, act in openers]
        source = "markdown:image" if is_image else "markdown:link"
        found.append((opener, raw, dest_at, source, anchor_text(label)))
        masks.add(opener - (1 if is_image else 0), close)
        skip_to = close
    for _opener, raw, dest_at, source, label in found:
        c.add(raw, dest_at, source, label, url=unescape_destination(raw))


def _is_image_opener(text: str, opener: int, start: int) -> bool:
    return opener > start and text[opener - 1] == "!"


def _destination(
    text: str, pos: int, end: int, unclosed: dict[str, int]
) -> tuple[str, int, int] | None:
    """Parse ``dest [title])`` after ``](``: (raw destination, its offset, end of link).

    ``unclosed`` remembers closers not found (a paragraph of unclosed links stays linear).
    """
    i = _skip_space(text, pos, end)
    if i < end and text[i] == "<":
        close = _find_closer(text, ">", i + 1, end, unclosed)
        if close < 0 or "\n" in text[i + 1 : close]:
            return None
        raw, at, i = text[i + 1 : close], i + 1, close + 1
    else:
        at, depth = i, 0
        simple = _DEST_RUN.match(text, i, end)
        i = simple.end() if simple else i
        while i < end:
            ch = text[i]
            if ch == "\\" and i + 1 < end:
                i += 2
                continue
            if ch == " " or ord(ch) < 32 or ch == "\x7f":
                break
            if ch == "(":
                depth += 1
                if depth > MAX_DESTINATION_PARENS:
                    return None
            elif ch == ")":
                if depth == 0:
                    break
                depth -= 1
            i += 1
        raw = text[at:i]
    after = _skip_title(text, _skip_space(text, i, end), end, unclosed)
    if after is None or after >= end or text[after] != ")":
        return None
    return raw, at, after + 1


def _skip_space(text: str, i: int, end: int) -> int:
    while i < end and text[i] in " \t\r\n":
        i += 1
    return i


def _skip_title(text: str, i: int, end: int, unclosed: dict[str, int]) -> int | None:
    if i >= end or text[i] not in "\"'(":
        return i
    closer = ")" if text[i] == "(" else text[i]
    j = _find_closer(text, closer, i + 1, end, unclosed)
    return None if j < 0 else _skip_space(text, j + 1, end)


def _find_closer(text: str, closer: str, i: int, end: int, unclosed: dict[str, int]) -> int:
    """The first ``closer`` at or after ``i`` not escaped by a backslash, or -1.

    A search that fails is remembered: one starting later fails too (its start follows an
    opener, never a backslash, so it reads the escapes the same way)."""
    if unclosed.get(closer, end) <= i:
        return -1
    j = i
    while j < end:
        j = text.find(closer, j, end)
        if j < 0:
            break
        k = j
        while k > i and text[k - 1] == "\\":
            k -= 1
        if (j - k) % 2 == 0:
            return j
        j += 1
    unclosed[closer] = min(unclosed.get(closer, end), i)
    return -1
