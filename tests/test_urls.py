"""Canonical link keys, validity reasons and archive-URL recognition."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from linkwatch import urls
from linkwatch.urls import (
    InvalidURL,
    archived_original,
    canonicalize,
    fragment_of,
    host_of,
    try_canonicalize,
    wayback_url,
)


@pytest.mark.parametrize(
    ("url", "key"),
    [
        ("HTTPS://WWW.Treasury.GOV:443/x#a", "https://www.treasury.gov/x"),
        ("https://www.treasury.gov/x", "https://www.treasury.gov/x"),
        ("http://example.org:80", "http://example.org/"),
        ("http://example.org:8080/a?b=c", "http://example.org:8080/a?b=c"),
        ("http://bücher.example/katalog", "http://xn--bcher-kva.example/katalog"),
        ("http://xn--bcher-kva.example/katalog", "http://xn--bcher-kva.example/katalog"),
        ("http://example.org/a b", "http://example.org/a%20b"),
        ("http://example.org/café", "http://example.org/caf%C3%A9"),
        ("http://example.org./x", "http://example.org/x"),
        ("http://[::1]:9000/x", "http://[::1]:9000/x"),
        ("http://example.org/?", "http://example.org/"),
        ("http://example.org?q=1", "http://example.org/?q=1"),
        ("  http://example.org/pad  ", "http://example.org/pad"),
        ("http://user@example.org/x", "http://user@example.org/x"),
    ],
    ids=[
        "upper-default-port-fragment",
        "same-key",
        "default-http-port",
        "other-port",
        "idn",
        "punycode",
        "space-in-path",
        "non-ascii-path",
        "trailing-dot",
        "ipv6",
        "empty-query",
        "query-without-path",
        "surrounding-space",
        "userinfo",
    ],
)
def test_canonical_keys(url, key) -> None:
    assert canonicalize(url) == key


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("mailto:a@example.org", "not http or https"),
        ("javascript:alert(1)", "not http or https"),
        ("http://", "no host"),
        ("http://exa mple.com/", "bad host"),
        ("http://example.com:99999/", "out of range"),
        ("http://example.com:0/", "out of range"),
        ("http://[::g]/", "IPv6"),
        ("http://\ud800.example/", "surrogate"),
        ("http://example.com/" + "a" * 9000, "longer than"),
    ],
    ids=[
        "mailto",
        "javascript",
        "no-host",
        "space-in-host",
        "port-too-big",
        "port-zero",
        "bad-ipv6",
        "surrogate",
        "too-long",
    ],
)
def test_invalid_urls_have_a_reason(url, reason) -> None:
    key, why = try_canonicalize(url)
    assert key is None
    assert reason in (why or "")


def test_fragment_is_kept_for_the_citation() -> None:
    assert fragment_of("https://x.org/a#sec-2") == "sec-2"


def test_host_of() -> None:
    assert host_of("https://www.treasury.gov/x") == "www.treasury.gov"
    assert host_of("http://[::1]:9000/") == "[::1]"
    assert host_of("not a url") == ""


@given(st.text(max_size=200))
@settings(max_examples=400, deadline=None)
def test_canonicalize_raises_only_invalid_url(text) -> None:
    try:
        canonicalize(text)
    except InvalidURL:
        pass


_url_text = st.builds(
    lambda scheme, host, port, path, query: f"{scheme}://{host}{port}{path}{query}",
    st.sampled_from(["http", "https", "HTTP", "hTTps"]),
    st.one_of(
        st.from_regex(r"[A-Za-z0-9-]{1,12}(\.[A-Za-z0-9_-]{1,12}){0,3}\.?", fullmatch=True),
        st.text(min_size=1, max_size=20),
    ),
    st.one_of(st.just(""), st.integers(0, 70000).map(lambda p: f":{p}")),
    st.one_of(st.just(""), st.text(max_size=30).map(lambda t: "/" + t)),
    st.one_of(st.just(""), st.text(max_size=20).map(lambda t: "?" + t)),
)


@given(_url_text)
@settings(max_examples=400, deadline=None)
def test_canonicalize_is_idempotent(url) -> None:
    key, _ = try_canonicalize(url)
    if key is not None:
        assert canonicalize(key) == key


@given(_url_text)
@settings(max_examples=400, deadline=None)
def test_fast_path_agrees_with_the_general_path(url) -> None:
    fast = try_canonicalize(url)
    saved = urls._SIMPLE
    urls._SIMPLE = re.compile(r"(?!)")
    try:
        slow = try_canonicalize(url)
    finally:
        urls._SIMPLE = saved
    assert fast[0] == slow[0]
    assert (fast[1] is None) == (slow[1] is None)


@pytest.mark.parametrize(
    ("url", "original", "timestamp"),
    [
        (
            "https://web.archive.org/web/20200102030405/https://gone.example.org/page",
            "https://gone.example.org/page",
            "20200102030405",
        ),
        (
            "http://web.archive.org/web/2019id_/http://gone.example.org/",
            "http://gone.example.org/",
            "20190000000000",
        ),
        (
            "https://web.archive.org/web/20200102030405/gone.example.org/bare",
            "http://gone.example.org/bare",
            "20200102030405",
        ),
        (
            "https://archive.ph/20210101000000/https://gone.example.org/other",
            "https://gone.example.org/other",
            "20210101000000",
        ),
        ("https://archive.today/https://gone.example.org/x", "https://gone.example.org/x", None),
        (
            "https://arquivo.pt/wayback/20200101000000/https://x.pt/",
            "https://x.pt/",
            "20200101000000",
        ),
        (
            "https://www.webarchive.org.uk/wayback/archive/20200101000000/http://x.uk/",
            "http://x.uk/",
            "20200101000000",
        ),
        (
            "https://webarchive.nationalarchives.gov.uk/ukgwa/20200101000000/https://x.gov.uk/",
            "https://x.gov.uk/",
            "20200101000000",
        ),
        (
            "https://wayback.archive-it.org/1234/20200101000000/https://x.org/",
            "https://x.org/",
            "20200101000000",
        ),
        ("https://www.webcitation.org/6AbCdEf?url=http://x.org/a", "http://x.org/a", None),
    ],
    ids=[
        "wayback",
        "wayback-id-modifier-short-ts",
        "wayback-no-scheme",
        "archive-today",
        "archive-today-no-ts",
        "arquivo",
        "uk-web-archive",
        "uk-government-web-archive",
        "archive-it",
        "webcite-query",
    ],
)
def test_archived_original(url, original, timestamp) -> None:
    assert archived_original(url) == (original, timestamp)


@pytest.mark.parametrize(
    "url", ["https://example.org/web/2020/x", "https://archive.org/details/item", "http://x.org/"]
)
def test_not_archive_urls(url) -> None:
    assert archived_original(url) is None


def test_wayback_url() -> None:
    assert wayback_url("20200101000000", "https://x.org/") == (
        "https://web.archive.org/web/20200101000000/https://x.org/"
    )


@pytest.mark.parametrize(
    ("url", "key"),
    [
        # what a browser opens, not what a lenient parser guesses
        ("http://evil.com\\@good.com/", "http://evil.com/@good.com/"),
        ("http://0177.0.0.1/", "http://127.0.0.1/"),
        ("http://0x7f.1/", "http://127.0.0.1/"),
        ("http://2130706433/", "http://127.0.0.1/"),
        ("http://✪df.ws/", "http://xn--df-oiy.ws/"),
        ("http://👍.example/", "http://xn--yp8h.example/"),
        ("http:///nohost", "http://nohost/"),
        ("http://example.com/\r\nSet-Cookie: x", "http://example.com/Set-Cookie:%20x"),
        ("\t http://example.com/a\tb\n", "http://example.com/ab"),
        ("http://example.com/a/./b/../c", "http://example.com/a/c"),
    ],
    ids=[
        "backslash-userinfo",
        "octal-ipv4",
        "hex-ipv4",
        "integer-ipv4",
        "symbol-idn",
        "emoji-idn",
        "extra-slashes",
        "crlf-stripped",
        "tab-and-newline",
        "dot-segments",
    ],
)
def test_the_url_standard_decides_what_a_url_means(url: str, key: str) -> None:
    assert canonicalize(url) == key
