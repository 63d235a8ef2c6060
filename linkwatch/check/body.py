"""Reading a body safely and fingerprinting the page, in bounded memory.

Bodies arrive raw (the session has ``auto_decompress=False``: a client's own inflating
has no bound, and a 100 KB gzip bomb becomes hundreds of MiB) and are read up to
``max_raw`` bytes on the wire, and inflated here with
``zlib.decompressobj().decompress(chunk, max_length)`` up to ``max_decoded`` bytes, in
pieces of at most ``PIECE_BYTES``. We only ever ask for ``gzip, deflate, identity``.

A page is never held whole: each inflated piece is decoded and fed to libxml2's HTML push
parser with a *target* (lxml's SAX-style interface: start tag, end tag, text), which
builds no tree. The fingerprint is the page's ``<title>``, its first ``<h1>`` and a
SHA-256 of its main text (the first ``<main>``, else the first ``<article>``, else all
text; scripts, styles, navigation, headers and footers left out; whitespace collapsed;
lower-cased), taken as the text streams past, for content-drift detection and soft-404
comparison. A DOM of the same 1 MiB body (Lexbor) took 22 MiB; this takes a few pieces.
"""

from __future__ import annotations

import codecs
import hashlib
import re
import threading
import zlib
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, cast

from lxml import etree
from simhash import Simhash

ACCEPT_ENCODING = "gzip, deflate, identity"
#: inflated bytes handed on at a time: what one check holds of its body at any moment
PIECE_BYTES = 64 * 1024
_NOISE = frozenset(
    ["script", "style", "noscript", "template", "nav", "header", "footer", "aside", "form", "svg"]
)
_CONTENT_CHARSET = re.compile(r"charset\s*=\s*[\"']?([A-Za-z0-9_.:-]{1,40})", re.IGNORECASE)
_CHARSET = re.compile(rb"""<meta[^>]+charset=["']?([A-Za-z0-9_.:-]{1,40})""", re.IGNORECASE)
_SNIFF_BYTES = 2048  # where a <meta charset> is looked for
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
SAMPLE_CHARS = 20_000  # of the main text kept while streaming: what the sketch is taken of
SKETCH_MIN_WORDS = 40
PARKED_CHARS = 3000
#: what the pages of domain parking services and registrars say (a domain that changed
#: hands: the citation is gone, though the address answers 200)
PARKED = re.compile(
    r"\b(?:this domain (?:name )?(?:is|may be) for sale|buy this domain|"
    r"the domain [\w.-]+ (?:is|may be) for sale|domain (?:is )?parked|parked (?:free|domain)|"
    r"(?:courtesy|parking page) of (?:godaddy|sedo|namecheap|dan\.com|hugedomains)|"
    r"sedoparking|hugedomains\.com|bodis\.com|dan\.com/buy-domain|"
    r"related searches|inquire about this domain)\b",
    re.IGNORECASE,
)
EXCERPT_CHARS = 300  # of the main text, kept for display and tests
_LABEL_CHARS = 500  # of a title or heading
#: whitespace runs, folded with one regex pass: ``str.split()`` of 64 KiB of words makes a
#: list of 11,000 strings, 1 MiB, ten times the text
_SPACES = re.compile(r"\s+")
_FOLD_CHARS = 4096  # and even one pass holds a list of its pieces: fold this much at a time
Headers = Mapping[str, str]  # case-insensitive in practice (aiohttp's CIMultiDictProxy)


@dataclass(frozen=True, slots=True)
class Page:
    """What a body told us."""

    title: str | None
    heading: str | None
    #: length of the main text (whitespace folded) and its first ``EXCERPT_CHARS``
    text_chars: int
    excerpt: str
    content_hash: str
    #: a SimHash of the start of the main text (``sketch``): close for a page edited,
    #: far for a page replaced; None for too little text to tell
    sketch: str | None = None
    #: the page is a domain parking / "this domain is for sale" page
    parked: bool = False

    @property
    def says_not_found(self) -> bool:
        """The page itself announces 'not found' (in its title or first heading) and has
        little else to say: an article headed "404 Not Found: how the web forgets" is a
        page, not an error page."""
        if self.text_chars >= SHORT_PAGE_CHARS:
            return False
        return any(text and NOT_FOUND.search(text) for text in (self.heading, self.title))


def sketch(text: str) -> str | None:
    """A 64-bit SimHash (simhash) of the word 3-shingles of ``text``, as 16 hex digits."""
    words = text.split()
    if len(words) < SKETCH_MIN_WORDS:
        return None
    shingles = (" ".join(words[i : i + 3]) for i in range(len(words) - 2))
    return f"{Simhash(shingles).value:016x}"


def similarity(first: str | None, now: str | None) -> float | None:
    """How alike two sketches are: 1.0 the same text, ~0.5 unrelated texts."""
    if not first or not now:
        return None
    try:
        distance = (int(first, 16) ^ int(now, 16)).bit_count()
    except ValueError:
        return None
    return round(1 - distance / 64, 3)


class _Inflater:
    def __init__(self, encoding: str) -> None:
        enc = encoding.strip().lower()
        self.passthrough = enc in ("", "identity", "none")
        self.supported = self.passthrough or enc in ("gzip", "x-gzip", "deflate")
        self._raw_deflate = False
        self._obj = zlib.decompressobj(47) if self.supported and not self.passthrough else None

    def pieces(self, chunk: bytes, room: int) -> Iterator[bytes]:
        """``chunk`` inflated, at most ``room`` bytes in all, ``PIECE_BYTES`` at a time."""
        if self.passthrough:
            for start in range(0, min(len(chunk), room), PIECE_BYTES):
                yield chunk[start : min(start + PIECE_BYTES, room)]
            return
        data = chunk
        while room > 0 and data:
            piece = self._decompress(data, min(room, PIECE_BYTES))
            data = self._tail()
            if not piece:
                return
            room -= len(piece)
            yield piece

    def _decompress(self, data: bytes, limit: int) -> bytes:
        assert self._obj is not None
        try:
            return self._obj.decompress(data, limit)
        except zlib.error:
            if self._raw_deflate:
                raise
            # some servers send raw deflate for "deflate"
            self._raw_deflate = True
            self._obj = zlib.decompressobj(-15)
            return self._obj.decompress(data, limit)

    def _tail(self) -> bytes:
        assert self._obj is not None
        return self._obj.unconsumed_tail


async def _inflated(
    chunks: AsyncIterable[bytes], inflater: _Inflater, max_raw: int, max_decoded: int
) -> AsyncIterator[bytes]:
    if inflater.passthrough:
        max_decoded = min(max_decoded, max_raw)
    raw = decoded = 0
    async for chunk in chunks:
        raw += len(chunk)
        for piece in inflater.pieces(chunk, max_decoded - decoded):
            decoded += len(piece)
            yield piece
        if decoded >= max_decoded or raw >= max_raw:
            return


async def read_body(
    chunks: AsyncIterable[bytes], content_encoding: str, max_raw: int, max_decoded: int
) -> bytes | None:
    """At most ``max_decoded`` inflated bytes from at most ``max_raw`` raw bytes of the
    body arriving in ``chunks`` (sent with ``content_encoding``), whole: for small bodies
    (robots.txt).

    ``None`` when the body cannot be read safely (unknown encoding, corrupt stream).
    """
    inflater = _Inflater(content_encoding)
    if not inflater.supported:
        return None
    out = bytearray()
    try:
        async for piece in _inflated(chunks, inflater, max_raw, max_decoded):
            out += piece
    except zlib.error:
        return bytes(out) if out else None
    return bytes(out)


async def read_page(
    chunks: AsyncIterable[bytes],
    headers: Headers,
    max_raw: int,
    max_decoded: int,
    drop: tuple[str, ...] = (),
) -> Page | None:
    """The fingerprint of the HTML body arriving in ``chunks``, read as ``read_body`` reads
    but never held whole. ``None`` when the body cannot be read safely."""
    inflater = _Inflater(headers.get("content-encoding", ""))
    if not inflater.supported:
        return None
    reader = PageReader(headers, drop)
    try:
        async for piece in _inflated(chunks, inflater, max_raw, max_decoded):
            reader.feed(piece)
    except zlib.error:
        if not reader.fed:
            return None
    return reader.close()


def is_html(headers: Headers) -> bool:
    ctype = headers.get("content-type", "").lower()
    return not ctype or "html" in ctype


def _charset(headers: Headers, head: bytes) -> str:
    found = _CONTENT_CHARSET.search(headers.get("content-type", ""))
    declared = found.group(1) if found else None
    if not declared:
        m = _CHARSET.search(head[:_SNIFF_BYTES])
        declared = m.group(1).decode("ascii") if m else "utf-8"
    try:
        name = codecs.lookup(declared).name
    except LookupError:
        return "utf-8-sig"
    return "utf-8-sig" if name == "utf-8" else name


def _clean(parts: list[str] | None) -> str | None:
    if not parts:
        return None
    value = " ".join("".join(parts).split())  # whitespace runs as one space, trimmed
    return value[:_LABEL_CHARS] or None


class _Dropped:
    """``str.replace(token, "")`` on text that arrives in pieces (same result, whatever
    the pieces), passed on to ``sink``."""

    def __init__(self, token: str, sink: Callable[[str], None]) -> None:
        self._token = token
        self._sink = sink
        self._buf = ""

    def __call__(self, text: str) -> None:
        self._buf += text
        if len(self._buf) >= PIECE_BYTES:
            self._flush(final=False)

    def _flush(self, final: bool) -> None:
        buf, token = self._buf, self._token
        safe = len(buf) if final else len(buf) - len(token) + 1  # a match may start later
        kept: list[str] = []
        at = 0
        while (found := buf.find(token, at)) != -1 and found < safe:
            kept.append(buf[at:found])
            at = found + len(token)
        cut = max(at, safe)
        kept.append(buf[at:cut])
        self._buf = buf[cut:]
        self._sink("".join(kept))

    def close(self) -> None:
        self._flush(final=True)
        if isinstance(self._sink, _Dropped):
            self._sink.close()


class _Text:
    """One text stream, folded as ``" ".join(text.split()).lower()`` and hashed as it
    arrives, in batches: the same result however the text is cut."""

    def __init__(self, drop: tuple[str, ...]) -> None:
        self._sha = hashlib.sha256()
        self.chars = 0
        self._excerpt: list[str] = []
        self._space = False
        sink: Callable[[str], None] = self._hash
        for token in reversed(drop):
            sink = _Dropped(token, sink)
        self._sink = sink

    def _hash(self, text: str) -> None:
        self._sha.update(text.encode("utf-8", errors="replace"))

    def add(self, text: str) -> None:
        for start in range(0, len(text), _FOLD_CHARS):
            self._add(text[start : start + _FOLD_CHARS])

    def _add(self, text: str) -> None:
        if text.isspace():
            self._space = True
            return
        folded = _SPACES.sub(" ", text).strip(" ").lower()
        if not folded:
            self._space = self._space or bool(text)
            return
        if self.chars and (self._space or text[0].isspace()):
            folded = " " + folded
        self._space = text[-1].isspace()
        if self.chars < SAMPLE_CHARS:
            self._excerpt.append(folded[: SAMPLE_CHARS - self.chars])
        self.chars += len(folded)
        self._sink(folded)

    def finish(self) -> tuple[str, str]:
        """The first ``SAMPLE_CHARS`` of the text, and the hash of all of it."""
        if isinstance(self._sink, _Dropped):
            self._sink.close()
        return "".join(self._excerpt), self._sha.hexdigest()


_MARKED = frozenset(["title", "h1", "main", "article"])
_BATCH = 512  # texts and boundaries gathered before they are folded and hashed...
_BATCH_CHARS = 16 * 1024  # ...or this many characters of them


class _Fingerprint:
    """lxml parser target: routes the text of a page to its title, heading and text
    streams (all text; the first ``<main>``; the first ``<article>``). A tag is a word
    boundary (a space), a text cut into several calls by the parser is not. libxml2 sends
    balanced start and end events, implied ones included. No ``comment`` method: lxml
    then never builds a comment's text (a 1 MiB comment would be one 1 MiB string)."""

    def __init__(self) -> None:
        self.reset(())

    def reset(self, drop: tuple[str, ...]) -> None:
        """Ready for the next page."""
        self._drop = tuple(t.lower() for t in drop if len(t) >= 4)  # dropping "a" mangles
        self._depth = 0
        self._noise = 0
        self._labels: dict[str, list[str]] = {}  # "title", "h1" -> its texts
        self._open: dict[str, int] = {}  # a marked element still open -> its depth
        self._pending: list[str] = []
        self._pending_chars = 0
        self.all = _Text(self._drop)
        self._streams: dict[str, _Text] = {}  # "main", "article" -> its text
        self._active = [self.all]

    def _flush(self) -> None:
        if self._pending:
            text = "".join(self._pending)
            self._pending.clear()
            self._pending_chars = 0
            for stream in self._active:
                stream.add(text)

    def start(self, tag: str, attrib: object) -> None:
        self._depth += 1
        self._pending.append(" ")
        if tag in _NOISE:
            self._noise += 1
        elif tag in _MARKED and not self._noise and not self._seen(tag):  # the first one
            self._open[tag] = self._depth
            if tag in ("title", "h1"):
                self._labels[tag] = []
            else:
                self._flush()  # what came before is not in this element's text
                self._streams[tag] = stream = _Text(self._drop)
                self._active.append(stream)

    def _seen(self, tag: str) -> bool:
        return tag in self._labels or tag in self._streams

    def end(self, tag: str) -> None:
        if tag in _NOISE:
            self._noise = max(0, self._noise - 1)
        elif self._open.get(tag) == self._depth:
            del self._open[tag]
            if tag in self._streams:
                self._flush()
                self._active.remove(self._streams[tag])
        self._depth -= 1
        self._pending.append(" ")

    def data(self, text: str) -> None:
        if self._noise:
            return
        if "title" in self._open:
            _collect(self._labels["title"], text)
            return
        if "h1" in self._open:
            _collect(self._labels["h1"], text)
        self._pending.append(text)
        self._pending_chars += len(text)
        if len(self._pending) >= _BATCH or self._pending_chars >= _BATCH_CHARS:
            self._flush()

    def close(self) -> Page:
        self._flush()
        chosen = self._streams.get("main") or self._streams.get("article") or self.all
        sample, digest = chosen.finish()
        title = _clean(self._labels.get("title"))
        return Page(
            title=title,
            heading=_clean(self._labels.get("h1")),
            text_chars=chosen.chars,
            excerpt=sample[:EXCERPT_CHARS],
            content_hash=digest,
            sketch=sketch(sample),
            parked=bool(PARKED.search(f"{title or ''} {sample[:PARKED_CHARS]}")),
        )


def _collect(parts: list[str] | None, text: str) -> None:
    if parts is not None and sum(map(len, parts)) < 4 * _LABEL_CHARS:
        parts.append(text)


class _Parsers:
    """libxml2 push parsers with their targets, kept for reuse: making one costs ~30 µs,
    more than parsing a small page. A parser goes back only after a clean ``close()``
    (libxml2 then resets it for the next document)."""

    KEEP = 64

    def __init__(self) -> None:
        self._free: list[tuple[etree.HTMLParser, _Fingerprint]] = []
        self._lock = threading.Lock()

    def take(self, drop: tuple[str, ...]) -> tuple[etree.HTMLParser, _Fingerprint]:
        with self._lock:
            pair = self._free.pop() if self._free else None
        if pair is None:
            target = _Fingerprint()
            # lxml calls only the target methods that exist (the stubs' protocol wants all)
            parser = etree.HTMLParser(
                target=cast(Any, target), encoding="utf-8", recover=True, no_network=True
            )
            pair = (parser, target)
        pair[1].reset(drop)
        return pair

    def give_back(self, pair: tuple[etree.HTMLParser, _Fingerprint]) -> None:
        with self._lock:
            if len(self._free) < self.KEEP:
                self._free.append(pair)


_PARSERS = _Parsers()


class PageReader:
    """Feed an HTML body in pieces, ``close()`` for its ``Page``."""

    def __init__(self, headers: Headers, drop: tuple[str, ...] = ()) -> None:
        self._headers = headers
        self._drop = drop
        self._head = b""
        self._decoder: codecs.IncrementalDecoder | None = None
        self._pair: tuple[etree.HTMLParser, _Fingerprint] | None = None
        self._broken = False
        self.fed = False

    def feed(self, data: bytes) -> None:
        self.fed = self.fed or bool(data)
        if self._decoder is None:
            self._head += data
            if len(self._head) < _SNIFF_BYTES:
                return
            data, self._head = self._head, b""
            self._begin(data)
        self._parse(data)

    def _begin(self, head: bytes) -> None:
        self._decoder = codecs.getincrementaldecoder(_charset(self._headers, head))("replace")
        self._pair = _PARSERS.take(self._drop)

    def _parse(self, data: bytes, final: bool = False) -> None:
        assert self._decoder is not None and self._pair is not None
        text = self._decoder.decode(data, final)
        if text and not self._broken:
            try:
                self._pair[0].feed(text.encode("utf-8", errors="replace"))
            except etree.LxmlError:
                self._broken = True  # libxml2 gave up: the page is what came before

    def close(self) -> Page:
        if self._decoder is None:
            self._begin(self._head)
            self._parse(self._head, final=True)
        else:
            self._parse(b"", final=True)
        assert self._pair is not None
        parser, target = self._pair
        try:
            page = parser.close()
        except etree.LxmlError:
            self._broken = True
            page = None
        if not isinstance(page, Page):
            return target.close()
        if not self._broken:
            _PARSERS.give_back(self._pair)
        return page


def parse_page(data: bytes, headers: Headers | None = None, drop: tuple[str, ...] = ()) -> Page:
    """The fingerprint of a whole body (fed as the network would, piece by piece)."""
    reader = PageReader(headers or {}, drop)
    for start in range(0, len(data), PIECE_BYTES):
        reader.feed(data[start : start + PIECE_BYTES])
    return reader.close()
