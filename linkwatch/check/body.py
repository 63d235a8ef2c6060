"""Reading a body safely and fingerprinting the page.

Bodies arrive raw (the session has ``auto_decompress=False``: a client's own inflating
has no bound, and a 100 KB gzip bomb becomes hundreds of MiB) and are read up to
``max_raw`` bytes on the wire, and inflated here with
``zlib.decompressobj().decompress(chunk, max_length)`` up to ``max_decoded`` bytes. We only
ever ask for ``gzip, deflate, identity``.

The fingerprint is the page's ``<title>`` and a SHA-256 of its main text (scripts, styles,
navigation, headers and footers removed; whitespace collapsed; lower-cased), for
content-drift detection and soft-404 comparison.
"""

from __future__ import annotations

import hashlib
import re
import zlib
from collections.abc import AsyncIterable, Mapping
from dataclasses import dataclass

from selectolax.lexbor import LexborHTMLParser as HTMLParser
from selectolax.lexbor import LexborNode

ACCEPT_ENCODING = "gzip, deflate, identity"
_NOISE = [
    "script",
    "style",
    "noscript",
    "template",
    "nav",
    "header",
    "footer",
    "aside",
    "form",
    "svg",
]
_CONTENT_CHARSET = re.compile(r"charset\s*=\s*[\"']?([A-Za-z0-9_.:-]{1,40})", re.IGNORECASE)
_CHARSET = re.compile(rb"""<meta[^>]+charset=["']?([A-Za-z0-9_.:-]{1,40})""", re.IGNORECASE)
NOT_FOUND = re.compile(
    # "404" only as an error ("404", "404 | Site", "Error 404", "404 page"), not as a name
    # (a Peugeot 404, area code 404)
    r"^\W*404\s*(?:$|[|:\u2013\u2014-])|\b(?:error|http)\W{0,3}404\b|"
    r"\b404\W{0,3}(?:error|page|not)\b|"
    r"\b(?:page not found|not found|does ?n[o']t exist|no longer (?:exists|available)|"
    r"(?:can ?not|can't|could not|couldn't) be found|nothing (?:was )?found|"
    r"page (?:is )?(?:missing|unavailable)|seite nicht gefunden|page introuvable|"
    r"no encontrada)\b",
    re.IGNORECASE,
)
SHORT_PAGE_CHARS = 3000
#: texts up to this long fold whitespace with split/join (fast); longer ones with one regex
#: pass (a list of every word of a 1 MiB page took ten times the page in memory)
SPLIT_MAX_CHARS = 64 * 1024
_SPACES = re.compile(r"\s+")
Headers = Mapping[str, str]  # case-insensitive in practice (aiohttp's CIMultiDictProxy)


@dataclass(frozen=True, slots=True)
class Page:
    """What a body told us."""

    title: str | None
    heading: str | None
    text: str
    content_hash: str

    @property
    def says_not_found(self) -> bool:
        """The page itself announces 'not found' (in its title or first heading) and has
        little else to say: an article headed "404 Not Found: how the web forgets" is a
        page, not an error page."""
        if len(self.text) >= SHORT_PAGE_CHARS:
            return False
        return any(text and NOT_FOUND.search(text) for text in (self.heading, self.title))


class _Inflater:
    def __init__(self, encoding: str) -> None:
        enc = encoding.strip().lower()
        self.passthrough = enc in ("", "identity", "none")
        self.supported = self.passthrough or enc in ("gzip", "x-gzip", "deflate")
        self._raw_deflate = False
        self._obj = zlib.decompressobj(47) if self.supported and not self.passthrough else None

    def feed(self, chunk: bytes, room: int) -> bytes:
        if self.passthrough:
            return chunk[:room]
        assert self._obj is not None
        try:
            return self._obj.decompress(chunk, max(room, 1))
        except zlib.error:
            if self._raw_deflate:
                raise
            # some servers send raw deflate for "deflate"
            self._raw_deflate = True
            self._obj = zlib.decompressobj(-15)
            return self._obj.decompress(chunk, max(room, 1))


async def read_body(
    chunks: AsyncIterable[bytes], content_encoding: str, max_raw: int, max_decoded: int
) -> bytes | None:
    """At most ``max_decoded`` inflated bytes from at most ``max_raw`` raw bytes of the
    body arriving in ``chunks`` (sent with ``content_encoding``).

    ``None`` when the body cannot be read safely (unknown encoding, corrupt stream).
    """
    inflater = _Inflater(content_encoding)
    if not inflater.supported:
        return None
    if inflater.passthrough:
        max_decoded = min(max_decoded, max_raw)
    out = bytearray()
    raw = 0
    try:
        async for chunk in chunks:
            raw += len(chunk)
            out += inflater.feed(chunk, max_decoded - len(out))
            if len(out) >= max_decoded or raw >= max_raw:
                break
    except zlib.error:
        return bytes(out) if out else None
    del out[max_decoded:]
    return bytes(out)


def _first(tree: HTMLParser, tag: str) -> LexborNode | None:
    """The first element named ``tag`` (cheaper than a CSS query)."""
    return next(iter(tree.tags(tag)), None)


def _charset(headers: Headers, data: bytes) -> str:
    found = _CONTENT_CHARSET.search(headers.get("content-type", ""))
    declared = found.group(1) if found else None
    if not declared:
        m = _CHARSET.search(data[:2048])
        declared = m.group(1).decode("ascii") if m else "utf-8"
    try:
        "".encode(declared)
    except LookupError:
        return "utf-8"
    return declared


def is_html(headers: Headers) -> bool:
    ctype = headers.get("content-type", "").lower()
    return not ctype or "html" in ctype


def _clean(text: str | None) -> str | None:
    if not text:
        return None
    value = " ".join(text.split())  # whitespace runs as one space, trimmed
    return value[:500] or None


def parse_page(data: bytes, encoding: str = "utf-8", drop: tuple[str, ...] = ()) -> Page:
    """Title, first heading and main-text hash of an HTML document.

    ``drop`` are strings (e.g. the URL's own last path segment) removed from the text
    before hashing, so a page that merely echoes its URL hashes like its siblings.
    """
    tree = HTMLParser(data.decode(encoding, errors="replace"))
    title_node = _first(tree, "title")
    title = _clean(title_node.text() if title_node else None)
    tree.strip_tags(_NOISE)
    heading_node = _first(tree, "h1")
    heading = _clean(heading_node.text() if heading_node else None)
    root = _first(tree, "main") or _first(tree, "article") or tree.body
    raw_text = root.text(separator=" ") if root else ""
    del tree, root  # the parse tree is not needed any more: free it before the copies
    if len(raw_text) <= SPLIT_MAX_CHARS:
        text = " ".join(raw_text.split()).lower()
    else:  # one string, not a list of every word (bounded memory on a large page)
        text = _SPACES.sub(" ", raw_text).strip().lower()
    del raw_text
    hashed = text
    for token in drop:
        if len(token) >= 4:  # dropping "a" would mangle the text
            hashed = hashed.replace(token.lower(), "")
    digest = hashlib.sha256(hashed.encode("utf-8", errors="replace")).hexdigest()
    return Page(title=title, heading=heading, text=text, content_hash=digest)


def page_of(headers: Headers, data: bytes, drop: tuple[str, ...] = ()) -> Page:
    return parse_page(data, _charset(headers, data), drop)
