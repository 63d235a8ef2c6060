"""URL parsing and canonical keys. Pure functions; never raise for bad input except
``InvalidURL`` from ``canonicalize``.

The canonical key of a link: scheme and host lower-cased, IDN host to punycode, default
port dropped, fragment dropped (it stays on the citation), empty path -> ``/``, everything
else (path, query) kept byte for byte except for percent-encoding of characters that may
not appear raw in a URL. ``canonicalize(canonicalize(u)) == canonicalize(u)``.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit, urlunsplit

import idna

ALLOWED_SCHEMES = frozenset({"http", "https"})
DEFAULT_PORTS = {"http": 80, "https": 443}
MAX_URL_LENGTH = 8192

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# characters that must be percent-encoded when they appear raw in path/query
_UNSAFE = re.compile(r"[^\x21-\x7e]|[\"<>\\^`{|}]")
_HOST_OK = re.compile(r"^[a-z0-9.-]+$|^\[[0-9a-f:.]+\]$")

# Archive URL forms: web.archive.org/web/<ts>[modifier]/<original>, archive.today, etc.
_WAYBACK = re.compile(
    r"^https?://(?:web\.)?archive\.org/web/(\d{1,14})(?:[a-z]{2}_)?/(.+)$", re.IGNORECASE
)
_ARCHIVE_TODAY_HOSTS = frozenset(
    {"archive.today", "archive.ph", "archive.is", "archive.md", "archive.li", "archive.vn",
     "archive.fo"}
)
_OTHER_ARCHIVES = re.compile(
    r"^https?://(?:webcitation\.org|www\.webcitation\.org|ghostarchive\.org|"
    r"arquivo\.pt/wayback|webarchive\.nationalarchives\.gov\.uk|"
    r"wayback\.archive-it\.org/\d+)/(?:[^/]*/)?(\d{14})?/?(https?://.+)$",
    re.IGNORECASE,
)


class InvalidURL(ValueError):
    """A URL that can never be checked; the message is the reason."""


def _encode_host(host: str) -> str:
    host = host.strip().rstrip(".").lower() if host.strip() != "." else ""
    if not host:
        raise InvalidURL("no host")
    if host.startswith("["):
        if not _HOST_OK.match(host):
            raise InvalidURL(f"bad IPv6 literal {host!r}")
        return host
    if host.isascii():
        labels = host.split(".")
    else:
        try:
            labels = [
                idna.encode(label, uts46=True).decode("ascii") if not label.isascii() else label
                for label in host.split(".")
            ]
        except idna.IDNAError as exc:
            raise InvalidURL(f"bad international host name: {exc}") from None
    if any(not label for label in labels):
        raise InvalidURL(f"empty label in host {host!r}")
    result = ".".join(labels)
    if not _HOST_OK.match(result) or len(result) > 253:
        raise InvalidURL(f"bad host {host!r}")
    return result


def _quote_unsafe(part: str) -> str:
    return _UNSAFE.sub(lambda m: "".join(f"%{b:02X}" for b in m.group().encode("utf-8")), part)


def canonicalize(url: str, *, max_length: int = MAX_URL_LENGTH) -> str:
    """The canonical key of an absolute http(s) URL. Raises ``InvalidURL`` with a reason."""
    if not isinstance(url, str):
        raise InvalidURL("not a string")
    text = url.strip()
    if len(text) > max_length:
        raise InvalidURL(f"longer than {max_length} characters")
    if _CONTROL.search(text):
        raise InvalidURL("contains control characters (CR, LF, NUL, ...)")
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError as exc:
        raise InvalidURL(str(exc)) from None
    scheme = parts.scheme.lower()
    if scheme not in ALLOWED_SCHEMES:
        raise InvalidURL(f"scheme {scheme or '(none)'!r} is not http or https")
    if parts.username is not None or parts.password is not None:
        userinfo = parts.netloc.rpartition("@")[0] + "@"
    else:
        userinfo = ""
    host = _encode_host(parts.hostname or "")
    if port is not None and not 1 <= port <= 65535:
        raise InvalidURL(f"port {port} out of range")
    netloc = userinfo + host
    if port is not None and port != DEFAULT_PORTS[scheme]:
        netloc += f":{port}"
    path = _quote_unsafe(parts.path) or "/"
    query = _quote_unsafe(parts.query)
    return urlunsplit((scheme, netloc, path, query, ""))


def try_canonicalize(url: str) -> tuple[str | None, str | None]:
    """``(key, None)`` or ``(None, reason)``."""
    try:
        return canonicalize(url), None
    except InvalidURL as exc:
        return None, str(exc)


def host_of(url: str) -> str:
    """The lower-cased host (punycode) of a canonical URL, or ``""``."""
    try:
        return (urlsplit(url).hostname or "").lower()
    except ValueError:
        return ""


def fragment_of(url: str) -> str:
    return url.partition("#")[2]


def archived_original(url: str) -> tuple[str, str | None] | None:
    """If ``url`` is an archived copy, ``(original_url, timestamp_or_None)``; else ``None``.

    Recognises the Wayback Machine (``/web/<ts>[id_]/<original>``), archive.today's
    ``/<ts>/<original>`` form, WebCite, Ghostarchive, Arquivo.pt, the UK Web Archive and
    Archive-It.
    """
    m = _WAYBACK.match(url)
    if m:
        original = m.group(2)
        if not re.match(r"^https?://", original, re.IGNORECASE):
            original = "http://" + original.lstrip("/")
        return original, m.group(1).ljust(14, "0") if m.group(1) else None
    host = host_of(url)
    if host.removeprefix("www.") in _ARCHIVE_TODAY_HOSTS:
        path = url.split(host, 1)[-1]
        am = re.match(r"^/(?:(\d{14})/)?(https?://.+)$", path, re.IGNORECASE)
        if am:
            return am.group(2), am.group(1)
        return None
    om = _OTHER_ARCHIVES.match(url)
    if om:
        return om.group(2), om.group(1)
    return None


def wayback_url(timestamp: str, original: str) -> str:
    """The public replay URL of a Wayback capture."""
    return f"https://web.archive.org/web/{timestamp}/{original}"
