"""Recognising a document's format from its content (never from its file name) and
decoding its bytes to text.

Order: PDF magic -> other binary (magic numbers, NUL/control-byte density) -> text, decoded
as UTF-8 (BOM honoured; UTF-16 with a BOM too), invalid bytes replaced with a warning. A
text body is HTML when it starts with a tag or is dominated by HTML tags, Markdown when it
has Markdown link, heading, list or code syntax, plain text otherwise.
"""

from __future__ import annotations

import re

from linkwatch.model import DocFormat

SNIFF_BYTES = 8192
SNIFF_CHARS = 8192
_MARKDOWN_LINE = re.compile(r"\n(?:#|> |```|~~~|[-*+] )")
MARKDOWN_DESPITE_HTML = 3  # Markdown constructs that make a tag-rich text Markdown

_BINARY_MAGIC = (
    b"\x89PNG",
    b"\xff\xd8\xff",
    b"GIF8",
    b"PK\x03\x04",
    b"\x1f\x8b",
    b"\x7fELF",
    b"BZh",
    b"\xfd7zXZ",
    b"7z\xbc\xaf",
    b"RIFF",
    b"OggS",
    b"ID3",
    b"\x00\x00\x01\x00",
    b"wOF",
    b"\xca\xfe\xba\xbe",
    b"MZ",
    b"SQLite format 3",
    b"\xd0\xcf\x11\xe0",
)
_CONTROL_TABLE = bytes([*range(0x00, 0x09), *range(0x0E, 0x1B), *range(0x1C, 0x20)])
_HTML_DOCUMENT = re.compile(r"\s*(?:<!doctype\s+html|<html[\s>]|<head[\s>]|<body[\s>])", re.I)
_HTML_START = re.compile(
    r"\s*(?:<!--|<(?:a|p|div|span|figure|img|section|article|header|main|nav|h[1-6]|ul|ol|"
    r"table|blockquote|meta|link|title|picture|iframe|video|br|hr|em|strong|b|i|pre|base|"
    r"script|style|template|noscript|code|kbd|samp|form|li|dl|tr|td|source|audio|object|"
    r"embed|svg|time|small|sup|sub|abbr|cite|q|u|s|mark|label|aside|footer)[\s/>])",
    re.IGNORECASE,
)
_HTML_SIGNALS = ("</p>", "</a>", "</div>", "<br", "<img ", "</li>", "</h", "</span>", "</td>")
_MARKDOWN_SIGNALS = ("](", "\n```", "\n~~~", "\n#", "]: ", "\n> ", "\n- ", "\n* ", "**", "](<")


def is_pdf(data: bytes) -> bool:
    return data[:1024].lstrip().startswith(b"%PDF-")


def binary_reason(data: bytes) -> str | None:
    """Why ``data`` looks like a binary file, or None for text."""
    head = data[:SNIFF_BYTES]
    if head.startswith((b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff")):
        return None
    for magic in _BINARY_MAGIC:
        if head.startswith(magic):
            return f"binary file (starts with {magic[:4]!r})"
    if not head:
        return None
    controls = len(head) - len(head.translate(None, _CONTROL_TABLE))
    if controls * 100 > len(head) or head.count(b"\x00") * 200 > len(head):
        return "binary file (control bytes in the first 8 KiB)"
    return None


def decode(data: bytes) -> tuple[str, str | None]:
    """Text and a warning if some bytes could not be decoded as UTF-8."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16", errors="replace"), None
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        return data.decode("utf-8"), None
    except UnicodeDecodeError as exc:
        text = data.decode("utf-8", errors="replace")
        bad = text.count("\ufffd")
        return text, (
            f"invalid UTF-8 at byte {exc.start}: {bad} undecodable byte sequence(s) "
            "replaced with U+FFFD"
        )


def _looks_like_markdown(sample: str) -> bool:
    """Any Markdown construct at all (one regex and a few ``in`` tests: this runs on every
    plain-text document)."""
    if _MARKDOWN_LINE.search(sample) or _MARKDOWN_LINE.match("\n" + sample[:4]):
        return True
    return ("]" in sample and ("](" in sample or "]: " in sample)) or "**" in sample


def body_format(body: str) -> DocFormat:
    """HTML, Markdown or plain text, from the text itself."""
    if _HTML_DOCUMENT.match(body):
        return DocFormat.HTML
    sample = body[:SNIFF_CHARS]
    html_tags = sum(sample.count(s) for s in _HTML_SIGNALS) if "<" in sample else 0
    starts_with_tag = _HTML_START.match(body) is not None
    if not html_tags and not starts_with_tag:
        return DocFormat.MARKDOWN if _looks_like_markdown(sample) else DocFormat.TEXT
    markdown = sum(sample.count(s) for s in _MARKDOWN_SIGNALS) + sample.startswith("#")
    if markdown >= MARKDOWN_DESPITE_HTML:
        # Markdown with HTML in it (a README opening with a <table>): HTML blocks inside
        # Markdown are still read as HTML, while an HTML page rarely looks like Markdown
        return DocFormat.MARKDOWN
    if starts_with_tag or (html_tags >= 3 and html_tags > markdown):
        return DocFormat.HTML
    return DocFormat.MARKDOWN if markdown else DocFormat.TEXT
