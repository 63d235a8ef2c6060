"""URL parsing and canonical keys. Pure functions; never raise for bad input except
``InvalidURL`` from ``canonicalize``.

The canonical key of a link: scheme and host lower-cased, IDN host to punycode, default
port dropped, fragment dropped (it stays on the citation), empty path -> ``/``, everything
else (path, query) kept byte for byte except for percent-encoding of characters that may
not appear raw in a URL. ``canonicalize(canonicalize(u)) == canonicalize(u)``.

A URL is invalid (``InvalidURL`` with the reason) when it has no host, a bad host name or
IP literal, a port outside 1-65535, control characters (CR, LF, NUL, ...), an unpaired
surrogate, a scheme other than http/https, or more than ``max_length`` characters.
"""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import urlsplit, urlunsplit

import idna

from linkwatch.config import DEFAULT_MAX_URL_LENGTH

ALLOWED_SCHEMES = frozenset({"http", "https"})
DEFAULT_PORTS = {"http": 80, "https": 443}
MAX_URL_LENGTH = DEFAULT_MAX_URL_LENGTH

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_SURROGATE = re.compile("[\ud800-\udfff]")
# characters that must be percent-encoded when they appear raw in userinfo/path/query
_UNSAFE = re.compile(r"[^\x21-\x7e]|[\"<>\\^`{|}]")
_HOST_OK = re.compile(r"^[a-z0-9_.-]+$")
_SCHEME_SLASHES = re.compile(r"^(https?):/*", re.IGNORECASE)

# Archive URL forms: web.archive.org/web/<ts>[modifier]/<original>, archive.today, etc.
_WAYBACK = re.compile(
    r"^https?://(?:web\.|wayback\.)?archive\.org/web/(\d{1,14})?(?:[a-z]{2}_|\*)?/(.+)$",
    re.IGNORECASE,
)
_ARCHIVE_TODAY_HOSTS = frozenset(
    {"archive.today", "archive.ph", "archive.is", "archive.md", "archive.li", "archive.vn",
     "archive.fo"}
)
# <archive prefix>/<14-digit timestamp>[modifier]/<original>
_OTHER_ARCHIVES = re.compile(
    r"^https?://(?:www\.)?(?:webcitation\.org|ghostarchive\.org/archive|arquivo\.pt/wayback|"
    r"webarchive\.nationalarchives\.gov\.uk(?:/ukgwa)?|webarchive\.org\.uk/wayback/archive|"
    r"webarchive\.loc\.gov/(?:all|legacy/[^/]+)|wayback\.archive-it\.org/\d+|"
    r"archive-it\.org/\d+|webarchive\.proni\.gov\.uk|swap\.stanford\.edu|"
    r"wayback\.vefsafn\.is/wayback|archive\.org/wayback/available\?url=)"
    r"/?(?:(\d{8,14})(?:[a-z]{2}_)?/)?(https?:/{1,2}.+)$",
    re.IGNORECASE,
)
# every archive host below names itself so: a cheap test before the real patterns
_ARCHIVE_HINTS = ("archiv", "webcitation", "arquivo", "stanford", "vefsafn")
# WebCite's query form: https://www.webcitation.org/6AbCdEf?url=http://example.com/
_WEBCITE_QUERY = re.compile(
    r"^https?://(?:www\.)?webcitation\.org/[^?]*\?(?:.*&)?url=(https?(?::|%3A).+?)(?:&|$)",
    re.IGNORECASE,
)


# the common case, canonicalised without urlsplit: ASCII host, no userinfo, safe characters
_SIMPLE = re.compile(
    r"(https?)://((?:[a-z0-9_-]{1,63}\.)*[a-z0-9_-]{1,63})\.?(?::(\d{1,5}))?"
    r"([/?][!$-;=?-\[\]_a-z~]*)?(?:#[\x21-\x7e]*)?\Z",
    re.IGNORECASE,
)


class InvalidURL(ValueError):
    """A URL that can never be checked; the message is the reason."""


def _encode_ip6(host: str) -> str:
    try:
        return f"[{ipaddress.IPv6Address(host.split('%', 1)[0]).compressed}]"
    except ValueError:
        raise InvalidURL(f"bad IPv6 literal {host!r}") from None


def _encode_host(host: str) -> str:
    host = host.strip().rstrip(".").lower()
    if not host:
        raise InvalidURL("no host")
    if ":" in host:
        return _encode_ip6(host)
    if host.isascii():
        labels = host.split(".")
    else:
        try:
            labels = [
                label if label.isascii() else idna.encode(label, uts46=True).decode("ascii")
                for label in host.split(".")
            ]
        except (idna.IDNAError, UnicodeError) as exc:
            raise InvalidURL(f"bad international host name: {exc}") from None
    if any(not label for label in labels):
        raise InvalidURL(f"empty label in host {host!r}")
    result = ".".join(labels)
    if not _HOST_OK.match(result) or len(result) > 253 or any(len(x) > 63 for x in labels):
        raise InvalidURL(f"bad host {host!r}")
    return result


def _quote_unsafe(part: str) -> str:
    return _UNSAFE.sub(lambda m: "".join(f"%{b:02X}" for b in m.group().encode("utf-8")), part)


def canonicalize(url: str, *, max_length: int = MAX_URL_LENGTH) -> str:
    """The canonical key of an absolute http(s) URL. Raises ``InvalidURL`` with a reason."""
    if not isinstance(url, str):
        raise InvalidURL("not a string")
    simple = _SIMPLE.match(url) if len(url) <= max_length else None
    if simple is not None:
        key = _canonicalize_simple(simple)
        if key is not None:
            return key
    text = url.strip(" \t\n\r\f")
    if len(text) > max_length:
        raise InvalidURL(f"longer than {max_length} characters")
    if _CONTROL.search(text):
        raise InvalidURL("contains control characters (CR, LF, NUL, ...)")
    if _SURROGATE.search(text):
        raise InvalidURL("contains an unpaired surrogate (not valid Unicode)")
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError as exc:
        raise InvalidURL(str(exc)) from None
    scheme = parts.scheme.lower()
    if scheme not in ALLOWED_SCHEMES:
        raise InvalidURL(f"scheme {scheme or '(none)'!r} is not http or https")
    userinfo, _, _ = parts.netloc.rpartition("@")
    host = _encode_host(parts.hostname or "")
    if port is not None and not 1 <= port <= 65535:
        raise InvalidURL(f"port {port} out of range 1-65535")
    netloc = (_quote_unsafe(userinfo) + "@" if "@" in parts.netloc else "") + host
    if port is not None and port != DEFAULT_PORTS[scheme]:
        netloc += f":{port}"
    path = _quote_unsafe(parts.path) or "/"
    query = _quote_unsafe(parts.query)
    return urlunsplit((scheme, netloc, path, query, ""))


def _canonicalize_simple(m: re.Match[str]) -> str | None:
    """The key of a URL ``_SIMPLE`` matched, or None to take the general path."""
    scheme, host, port, rest = m.group(1).lower(), m.group(2).lower(), m.group(3), m.group(4)
    if len(host) > 253:
        return None
    netloc = host
    if port is not None:
        number = int(port)
        if not 1 <= number <= 65535:
            return None
        if number != DEFAULT_PORTS[scheme]:
            netloc = f"{host}:{number}"
    rest = rest or "/"
    if rest.endswith("?") and rest.find("?") == len(rest) - 1:
        rest = rest[:-1] or "/"
    if rest[0] == "?":
        rest = "/" + rest
    return f"{scheme}://{netloc}{rest}"


def try_canonicalize(
    url: str, *, max_length: int = MAX_URL_LENGTH
) -> tuple[str | None, str | None]:
    """``(key, None)`` or ``(None, reason)``."""
    try:
        return canonicalize(url, max_length=max_length), None
    except InvalidURL as exc:
        return None, str(exc)


def host_of(url: str) -> str:
    """The lower-cased host (punycode) of a canonical URL, or ``""``."""
    scheme, sep, rest = url.partition("://")
    if sep and scheme in ALLOWED_SCHEMES:
        netloc = rest.split("/", 1)[0].split("?", 1)[0].split("#", 1)[0]
        host = netloc.rpartition("@")[2]
        if host.startswith("["):
            return host[: host.find("]") + 1].lower() if "]" in host else ""
        return host.partition(":")[0].lower()
    try:
        host = (urlsplit(url).hostname or "").lower()
    except ValueError:
        return ""
    return f"[{host}]" if ":" in host else host


def fragment_of(url: str) -> str:
    return url.partition("#")[2]


def _fix_scheme(original: str) -> str:
    """Archives print originals as ``http:/x`` or without a scheme; make them absolute."""
    if _SCHEME_SLASHES.match(original):
        return _SCHEME_SLASHES.sub(lambda m: m.group(1) + "://", original, count=1)
    return "http://" + original.lstrip("/")


def archived_original(url: str) -> tuple[str, str | None] | None:
    """If ``url`` is an archived copy, ``(original_url, timestamp_or_None)``; else ``None``.

    Recognises the Wayback Machine (``/web/<ts>[id_]/<original>``), archive.today's
    ``/<ts>/<original>`` form, WebCite, Ghostarchive, Arquivo.pt, the UK Web Archive and
    UK Government Web Archive, the Library of Congress and Archive-It.
    """
    head = url[:64].lower()
    if not any(hint in head for hint in _ARCHIVE_HINTS):
        return None
    m = _WAYBACK.match(url)
    if m:
        ts = m.group(1)
        return _fix_scheme(m.group(2)), ts.ljust(14, "0") if ts else None
    host = host_of(url)
    if host.removeprefix("www.") in _ARCHIVE_TODAY_HOSTS:
        path = url.split(host, 1)[-1]
        am = re.match(r"^/(?:(\d{14})/)?(https?:/{1,2}.+)$", path, re.IGNORECASE)
        if am:
            return _fix_scheme(am.group(2)), am.group(1)
        return None
    om = _OTHER_ARCHIVES.match(url)
    if om:
        ts = om.group(1)
        return _fix_scheme(om.group(2)), ts.ljust(14, "0") if ts else None
    wm = _WEBCITE_QUERY.match(url)
    if wm:
        from urllib.parse import unquote

        return unquote(wm.group(1)), None
    return None


def wayback_url(timestamp: str, original: str) -> str:
    """The public replay URL of a Wayback capture."""
    return f"https://web.archive.org/web/{timestamp}/{original}"
