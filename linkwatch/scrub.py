"""Removing secrets from text that came back from a remote server (pure).

Real proxies and the archive's own error pages echo the request ("You sent: ...;
Authorization: LOW ACCESS:SECRET; ..."). Every such text that linkwatch keeps or shows
(queue errors in the database, the report, logs, JSON output) passes ``scrub`` first: the
configured keys go, in any letter case and URL-encoded (``%3A``, ``+``), and so does the
value of every ``Authorization:`` header, whatever it holds.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import quote, quote_plus, urlsplit, urlunsplit

MASK = "***"
#: an Authorization header's value: up to the end of the line, a ';', a quote or a '<'
_AUTHORIZATION = re.compile(r"(authorization\s*(?::|%3A|=)\s*)[^;\r\n\"'<&,}]+", re.IGNORECASE)
MIN_SECRET = 4  # shorter values would mask ordinary words


def scrub(text: str | None, secrets: Iterable[str] = ()) -> str | None:
    """``text`` without ``secrets`` (any case, URL-encoded too) or Authorization values."""
    if not text:
        return text
    cleaned = _AUTHORIZATION.sub(lambda m: m.group(1) + MASK, text)
    for secret in secrets:
        if len(secret) < MIN_SECRET:
            continue
        for form in {secret, quote(secret, safe=""), quote_plus(secret)}:
            cleaned = re.sub(re.escape(form), MASK, cleaned, flags=re.IGNORECASE)
    return cleaned


def redact_password(url: str) -> str:
    """A database URL without its password, for messages and ``status``."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port:
        host += f":{parts.port}"
    user = f"{parts.username}:{MASK}@" if parts.username else f":{MASK}@"
    return urlunsplit(parts._replace(netloc=user + host))
