"""URL parsing and canonical keys. Pure functions; never raise for bad input except
``InvalidURL`` from ``canonicalize``.

One parser for every URL linkwatch reads: the WHATWG URL standard's, the one browsers use
(``ada_url``), for canonical keys, for resolving relative links in extraction and for the
URL the checker requests. So the host linkwatch checks is the host a reader's browser
opens.

The canonical key of a link is the standard's serialisation (scheme and host lower-cased,
international hosts in punycode, IPv4 in any notation as a dotted quad, default port and
dot segments gone, unsafe characters percent-encoded) without the fragment (it stays on the
citation) and without an empty query. ``canonicalize(canonicalize(u)) == canonicalize(u)``.

A URL is invalid (``InvalidURL`` with the reason) when the standard cannot parse it (no or
a bad host, a port outside 0-65535, ...), it contains an unpaired surrogate, its scheme is
not http/https, or it is longer than ``max_length`` characters.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import ada_url

from linkwatch.config import DEFAULT_MAX_URL_LENGTH
from linkwatch.model import WAYBACK

ALLOWED_SCHEMES = frozenset({"http", "https"})
#: schemes a document may cite that are never requested (mail, phone, inline data, script,
#: other protocols): recorded as ``skipped_scheme`` links so a curator sees them cited
CITED_SCHEMES = frozenset(
    {
        "mailto", "tel", "sms", "data", "javascript", "vbscript", "ftp", "ftps", "sftp",
        "file", "news", "nntp", "irc", "ircs", "ssh", "git", "magnet", "xmpp", "geo",
        "callto", "skype",
    }
)  # fmt: skip
MAX_SCHEME_KEY_CHARS = 300
DEFAULT_PORTS = {"http": 80, "https": 443}
MAX_URL_LENGTH = DEFAULT_MAX_URL_LENGTH

_SURROGATE = re.compile("[\ud800-\udfff]")
_SCHEME_SLASHES = re.compile(r"^(https?):/*", re.IGNORECASE)
#: what the URL standard strips from both ends of an input (C0 controls and space)
_C0_SPACE = "".join(chr(c) for c in range(0x21))

# Archive URL forms: web.archive.org/web/<ts>[modifier]/<original>, archive.today, etc.
_WAYBACK = re.compile(
    r"^https?://(?:web\.|wayback\.)?archive\.org/web/(\d{1,14})?(?:[a-z]{2}_|\*)?/(.+)$",
    re.IGNORECASE,
)
_ARCHIVE_TODAY_HOSTS = frozenset(
    {
        "archive.today",
        "archive.ph",
        "archive.is",
        "archive.md",
        "archive.li",
        "archive.vn",
        "archive.fo",
    }
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


def resolve(url: str, base: str | None = None) -> str | None:
    """``url`` (resolved against ``base`` when given) serialised by the URL standard, or
    None when the standard cannot parse it. Leading/trailing C0 controls and spaces and
    every ASCII tab and newline are dropped first, as the standard does."""
    text = url.strip(_C0_SPACE)
    if _SURROGATE.search(text) or (base is not None and _SURROGATE.search(base)):
        return None
    try:
        return ada_url.join_url(base, text) if base else ada_url.normalize_url(text)
    except ValueError:
        return None


def canonicalize(url: str, *, max_length: int = MAX_URL_LENGTH) -> str:
    """The canonical key of an absolute http(s) URL. Raises ``InvalidURL`` with a reason.

    The URL standard's parser (ada, what browsers do) decides what the URL means: the
    host a browser would contact (``http://evil.com\\@good.com/`` is evil.com), IPv4 in
    any notation as a dotted quad, international hosts in punycode, default ports and
    dot segments gone. On top of that the fragment and an empty query are dropped.
    """
    if not isinstance(url, str):
        raise InvalidURL("not a string")
    if len(url) > max_length:
        raise InvalidURL(f"longer than {max_length} characters")
    href = resolve(url)
    if href is None:
        if _SURROGATE.search(url):
            raise InvalidURL("contains an unpaired surrogate (not valid Unicode)")
        raise InvalidURL(_why_unparsable(url))
    scheme = href[: href.find(":")]
    if scheme not in ALLOWED_SCHEMES:
        raise InvalidURL(f"scheme {scheme or '(none)'!r} is not http or https")
    cut = href.find("#")
    if cut >= 0:
        href = href[:cut]
    if href.endswith("?") and href.find("?") == len(href) - 1:
        href = href[:-1]
    host = host_of(href)
    if href.startswith(host + ":0/", len(scheme) + 3) or href.endswith(host + ":0"):
        raise InvalidURL("port 0 out of range 1-65535")
    if host.endswith("."):  # "example.org." names the same host as "example.org"
        if host.strip(".") == "":
            raise InvalidURL("no host")
        at = href.find(host, len(scheme) + 3)
        href = href[: at + len(host) - 1] + href[at + len(host) :]
    if len(href) > max_length:
        raise InvalidURL(f"longer than {max_length} characters")
    return href


def _why_unparsable(url: str) -> str:
    """A reason a person can act on for a URL the standard refuses."""
    text = url.strip(_C0_SPACE)
    found = re.match(r"([A-Za-z][A-Za-z0-9+.\-]*):", text)
    if found and found.group(1).lower() not in ALLOWED_SCHEMES:
        return f"scheme {found.group(1).lower()!r} is not http or https"
    port = re.match(r"[A-Za-z]+://[^/?#]*:(\d+)(?:[/?#]|$)", text)
    if port and int(port.group(1)) > 65535:
        return f"port {int(port.group(1))} out of range 1-65535"
    if not found:
        return "not an absolute URL (no scheme)"
    host = re.match(r"[A-Za-z]+:/*(?:[^/?#]*@)?(\[[^\]/?#]*\]?|[^/?#:]*)", text)
    if host and host.group(1).startswith("["):
        return f"bad IPv6 literal {host.group(1)[:100]!r}"
    if host and host.group(1):
        return f"bad host {host.group(1)[:100]!r}"
    if host:
        return "no host"
    return "not a valid URL: the host or another part cannot be parsed (URL standard)"


def try_canonicalize(
    url: str, *, max_length: int = MAX_URL_LENGTH
) -> tuple[str | None, str | None]:
    """``(key, None)`` or ``(None, reason)``."""
    try:
        return canonicalize(url, max_length=max_length), None
    except InvalidURL as exc:
        return None, str(exc)


def cited_scheme(url: str) -> str | None:
    """The scheme of ``url`` when it is one a document cites but linkwatch never requests
    (``mailto``, ``tel``, ``data``, ``javascript``, ...), else ``None``."""
    colon = url.find(":", 0, 12)
    if colon <= 0:
        return None
    scheme = url[:colon].lower()
    return scheme if scheme in CITED_SCHEMES else None


def scheme_key(url: str) -> str:
    """The link key of a ``cited_scheme`` URL: as written, scheme lower-cased, whitespace
    removed, long ones (inline ``data:`` images) cut with a digest so each stays one link."""
    scheme, _, rest = url.partition(":")
    key = scheme.lower() + ":" + re.sub(r"[\t\n\r]", "", rest)
    if len(key) <= MAX_SCHEME_KEY_CHARS:
        return key
    import hashlib

    digest = hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()[:16]
    return f"{key[:MAX_SCHEME_KEY_CHARS]}…#{digest}"


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


#: who holds an archived copy, by the host of its URL
ARCHIVE_NAMES = {
    "web.archive.org": WAYBACK,
    "wayback.archive.org": WAYBACK,
    **dict.fromkeys(_ARCHIVE_TODAY_HOSTS, "archive.today"),
    "arquivo.pt": "Arquivo.pt",
    "webarchive.org.uk": "UK Web Archive",
    "webarchive.nationalarchives.gov.uk": "UK Government Web Archive",
    "webarchive.loc.gov": "Library of Congress",
    "wayback.archive-it.org": "Archive-It",
    "ghostarchive.org": "Ghostarchive",
    "webcitation.org": "WebCite",
    "perma.cc": "Perma.cc",
    "perma-archives.org": "Perma.cc",
    "wayback.vefsafn.is": "Icelandic Web Archive",
    "swap.stanford.edu": "Stanford Web Archive",
}


def archive_name(url: str, fallback: str) -> str:
    """The archive that holds the copy at ``url`` (``fallback`` for a host we do not
    know: the name of the source that listed it)."""
    host = host_of(url).removeprefix("www.")
    return ARCHIVE_NAMES.get(host, fallback)


def wayback_url(timestamp: str, original: str) -> str:
    """The public replay URL of a Wayback capture."""
    return f"https://web.archive.org/web/{timestamp}/{original}"
