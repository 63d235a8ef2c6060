"""``parse_url(url) -> httpx.URL``, quickly for the plain URLs a checker sends.

``httpx.URL(text)`` validates and percent-encodes every component, about a tenth of the
checker's CPU. The canonical keys linkwatch stores are already in the form httpx would
produce, so a URL that matches ``_PLAIN`` (lower-case http(s) scheme and host name or valid
dotted-quad IPv4 address, optional port, a path and query of characters httpx leaves as
they are, no dot segments, no fragment) gets the very ``ParseResult`` httpx would have
built; anything else goes through ``httpx.URL`` unchanged. httpx is pinned to 0.28.x
(``pyproject.toml``); ``tests/check/test_http11.py`` checks the fast path against httpx's
own parser on every form it accepts.
"""

from __future__ import annotations

import re

import httpx
from httpx._urlparse import ParseResult

_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_IPV4 = re.compile(rf"{_OCTET}\.{_OCTET}\.{_OCTET}\.{_OCTET}")
_IPV4_STYLE = re.compile(r"[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+")  # what httpx validates as IPv4
_PCHAR = r"(?:[A-Za-z0-9\-._~!$&'()*+,;=:@/]|%[0-9A-Fa-f]{2})"
_PLAIN = re.compile(
    rf"(https?)://([a-z0-9.-]+)(?::([1-9][0-9]{{0,4}}))?(/{_PCHAR}*)?(?:\?((?:{_PCHAR}|\?)*))?"
)
_DEFAULT_PORTS = {"http": 80, "https": 443}


def parse_url(url: str) -> httpx.URL:
    """``httpx.URL(url)``, without re-validating a URL that is plain already."""
    found = _PLAIN.fullmatch(url)
    if found is None:
        return httpx.URL(url)
    scheme, host, port_text, path, query = found.groups()
    if _IPV4_STYLE.fullmatch(host) and not _IPV4.fullmatch(host):
        return httpx.URL(url)  # httpx decides what is wrong with it
    path = path or ""
    if "." in path and ("." in path.split("/") or ".." in path.split("/")):
        return httpx.URL(url)  # dot segments: httpx normalises them
    port = int(port_text) if port_text else None
    if port == _DEFAULT_PORTS[scheme]:
        port = None
    result = httpx.URL.__new__(httpx.URL)
    result._uri_reference = ParseResult(scheme, "", host, port, path, query, None)
    return result
