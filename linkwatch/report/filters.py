"""Turning untrusted values into safe display text and safe hrefs. Pure functions.

Every string in the report came from the corpus or from the web: URLs, anchor text,
document paths, titles, error messages, snapshot URLs. Autoescaping stops markup; these
filters stop the rest:

- ``safe_href``: only http(s) URLs, parsed and re-serialised (punycode host, unsafe
  characters percent-encoded) become an ``href``; anything else (``javascript:``,
  ``data:``, ``vbscript:``, relative, malformed) gives ``None`` and renders as text.
- ``safe_snapshot_href``: only real Wayback replay URLs (or another archive's http(s) copy)
  (``https://web.archive.org/web/<14 digits>/...``).
- ``display_host``: hosts as punycode, so an IDN homograph cannot pass for a known site.
- ``clean_text``: bidi overrides/isolates and invisible characters become visible
  ``[U+202E]`` markers; other control characters become spaces.
- ``truncate``: long strings shortened for display (the template keeps the full value in
  ``title=``).
"""

from __future__ import annotations

import re

import idna

from linkwatch.model import WAYBACK
from linkwatch.urls import try_canonicalize

DEFAULT_TRUNCATE = 120
ELLIPSIS = "…"

# Bidi embeddings/overrides/isolates, zero-width and other invisible format characters,
# line/paragraph separators, the BOM, interlinear annotations and tag characters.
_INVISIBLE = re.compile(
    "[\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180b-\u180f\u200b-\u200f\u2028-\u202e"
    "\u2060-\u206f\u3164\ufeff\uffa0\ufff9-\ufffb\U0001d173-\U0001d17a\U000e0000-\U000e0fff]"
)
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")
# A canonical http(s) URL (``linkwatch.urls.canonicalize`` returns it unchanged): lower-case
# scheme and host (ASCII labels, no trailing dot), no user info, an optional non-default
# port, a path, and only printable ASCII that needs no percent-encoding, no fragment.
_CANONICAL = re.compile(
    r"^(?:http|https)://(?:[a-z0-9-]+\.)*[a-z0-9-]+(?::([1-9][0-9]{0,4}))?"
    r"/[!$%&()*+,\-./0-9:;=?@A-Z\[\]_a-z~]*$"  # no "'": the URL standard encodes it in queries
)
_DEFAULT_PORT_TEXT = frozenset({"80", "443"})
_WAYBACK_REPLAY = re.compile(
    r"^https://web\.archive\.org/web/\d{14}(?:[a-z]{2}_)?/https?(?::|%3A)[\x21-\x7e]+$",
    re.IGNORECASE,
)


def clean_text(value: object) -> str:
    """Display text with invisible and bidi control characters made visible and harmless."""
    text = "" if value is None else str(value)
    if text.isascii():
        return _CONTROL.sub(" ", text) if not text.isprintable() else text
    text = _INVISIBLE.sub(lambda m: f"[U+{ord(m.group()):04X}]", text)
    return _CONTROL.sub(" ", text)


def truncate(value: object, limit: int = DEFAULT_TRUNCATE) -> str:
    """``value`` cleaned and cut to ``limit`` characters (ending in an ellipsis)."""
    text = clean_text(value)
    if len(text) <= limit:
        return text
    return text[: max(limit - 1, 0)] + ELLIPSIS


def safe_href(value: object) -> str | None:
    """The URL re-serialised if it is an absolute http(s) URL with a host, else ``None``.

    A URL already in canonical form (what the store holds) is its own serialisation: the
    fast path recognises it without the full parse.
    """
    if not isinstance(value, str) or not value:
        return None
    fast = _CANONICAL.match(value)
    if fast and "/." not in value and (fast.group(1) is None or int(fast.group(1)) <= 65535):
        query_at = value.find("?")
        if fast.group(1) not in _DEFAULT_PORT_TEXT and query_at != len(value) - 1:
            return value  # (an empty query "...?" is dropped by the full parse)
    key, _reason = try_canonicalize(value)
    if key is None or not key.isascii():
        return None
    return key


def safe_snapshot_href(value: object, archive: str = WAYBACK) -> str | None:
    """A Wayback replay URL (``https://web.archive.org/web/<14 digits>/http...``), or for
    another archive (a memento its TimeMap listed and that replayed 2xx) an http(s) URL;
    ``None`` otherwise."""
    href = safe_href(value)
    if href is None or (archive == WAYBACK and not _WAYBACK_REPLAY.match(href)):
        return None
    return href


def display_host(value: object) -> str:
    """A host name as punycode (``xn--...``); anything undecodable shown escaped."""
    host = clean_text(value).strip().lower()
    if host.isascii():
        return host
    try:
        return ".".join(
            label if label.isascii() else idna.encode(label, uts46=True).decode("ascii")
            for label in host.split(".")
        )
    except (idna.IDNAError, UnicodeError):
        return host.encode("ascii", "backslashreplace").decode("ascii")


def as_int(value: object) -> int:
    """An integer from the database (line, id), or 0 when it is not one."""
    try:
        return int(value)  # type: ignore[call-overload,no-any-return]
    except (TypeError, ValueError):
        return 0


def when(value: object) -> str:
    """``2026-01-02T03:04:05+00:00`` -> ``2026-01-02 03:04``; other text cleaned; ``–`` if none."""
    if not value:
        return "–"
    text = clean_text(value)
    if len(text) >= 16 and text[10] == "T":
        return text[:10] + " " + text[11:16]
    return truncate(text, 40)
