"""The filters that make untrusted values safe to show and to link."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from linkwatch.report.filters import (
    clean_text,
    display_host,
    safe_href,
    safe_snapshot_href,
    truncate,
)
from linkwatch.urls import try_canonicalize

NOT_LINKS = {
    "javascript": "javascript:alert(1)",
    "javascript-mixed-case": "JaVaScRiPt:alert(document.cookie)",
    "javascript-leading-space": "  javascript:alert(1)",
    "javascript-tab-inside": "java\tscript:alert(1)",
    "javascript-entity-like": "javascript&colon;alert(1)",
    "data": "data:text/html,<script>alert(1)</script>",
    "data-base64": "data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==",
    "vbscript": "vbscript:msgbox(1)",
    "file": "file:///etc/passwd",
    "mailto": "mailto:desk@example.org",
    "relative": "week-11",
    "protocol-relative": "//evil.example/",
    "no-host": "http://",
    "space-in-host": "http://exa mple.com/",
    "empty": "",
    "not-a-string": None,
}


@pytest.mark.parametrize("value", NOT_LINKS.values(), ids=NOT_LINKS.keys())
def test_only_http_and_https_urls_become_hrefs(value: object) -> None:
    assert safe_href(value) is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("https://example.org/a?b=c", "https://example.org/a?b=c"),
        ("HTTPS://WWW.Example.ORG:443/x", "https://www.example.org/x"),
        (
            'https://example.org/"onmouseover="alert(1)',
            "https://example.org/%22onmouseover=%22alert(1)",
        ),
        ("https://example.org/<script>", "https://example.org/%3Cscript%3E"),
        ("http://bücher.example/katalog", "http://xn--bcher-kva.example/katalog"),
        ("https://example.org/\u202etxt.exe", "https://example.org/%E2%80%AEtxt.exe"),
        ("http://exa\nmple.com/", "http://example.com/"),
        ("http://evil.example\\@good.example/", "http://evil.example/@good.example/"),
    ],
    ids=[
        "plain",
        "normalised",
        "quote-encoded",
        "angle-brackets-encoded",
        "idn-punycode",
        "bidi-encoded",
        "newline-dropped-as-a-browser-does",
        "backslash-is-a-slash",
    ],
)
def test_hrefs_are_reserialised(value: str, expected: str) -> None:
    assert safe_href(value) == expected


def test_fragment_is_dropped_from_href() -> None:
    assert safe_href("https://example.org/page#x") == "https://example.org/page"


SNAPSHOTS_REFUSED = {
    "javascript": "javascript:alert(1)",
    "look-alike-host": "https://web.archive.org.evil.example/web/20200101000000/http://x.org/",
    "short-timestamp": "https://web.archive.org/web/2020/http://x.org/",
    "not-wayback": "https://evil.example/web/20200101000000/http://x.org/",
    "wayback-in-query": "https://evil.example/?u=https://web.archive.org/web/20200101000000/x",
    "plain-http": "http://web.archive.org/web/20200101000000/http://x.org/",
    "no-original": "https://web.archive.org/web/20200101000000/",
    "userinfo-trick": "https://web.archive.org@evil.example/web/20200101000000/http://x.org/",
}


@pytest.mark.parametrize("value", SNAPSHOTS_REFUSED.values(), ids=SNAPSHOTS_REFUSED.keys())
def test_snapshot_links_only_for_real_wayback_urls(value: str) -> None:
    assert safe_snapshot_href(value) is None


@pytest.mark.parametrize(
    "value",
    [
        "https://web.archive.org/web/20240101000000/https://www.loc.gov/programs/",
        "https://web.archive.org/web/20240101000000id_/http://example.org/",
    ],
    ids=["replay", "identity-modifier"],
)
def test_real_wayback_urls_are_snapshot_links(value: str) -> None:
    assert safe_snapshot_href(value) == value


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("аррӏе.com", "xn--80ak6aa92e.com"),
        ("bücher.example", "xn--bcher-kva.example"),
        ("Example.ORG", "example.org"),
        ("xn--bcher-kva.example", "xn--bcher-kva.example"),
    ],
    ids=["cyrillic-homograph", "idn", "ascii-lowercased", "already-punycode"],
)
def test_hosts_are_shown_as_punycode(value: str, expected: str) -> None:
    assert display_host(value) == expected


def test_undecodable_host_is_shown_ascii_escaped() -> None:
    shown = display_host("a\u0000b\u2603\u2603.\u0301x")
    assert shown.isascii()


@pytest.mark.parametrize(
    "char",
    [
        "\u202a",
        "\u202b",
        "\u202c",
        "\u202d",
        "\u202e",
        "\u2066",
        "\u2067",
        "\u2068",
        "\u2069",
        "\u200b",
        "\u200c",
        "\u200d",
        "\u200e",
        "\u200f",
        "\ufeff",
        "\u2028",
        "\u2029",
        "\u00ad",
        "\U000e0041",
    ],
    ids=lambda c: f"U+{ord(c):04X}",
)
def test_bidi_and_invisible_characters_become_visible_markers(char: str) -> None:
    cleaned = clean_text(f"safe{char}txt.exe")
    assert char not in cleaned
    assert f"[U+{ord(char):04X}]" in cleaned


def test_control_characters_become_spaces() -> None:
    assert clean_text("a\x00b\x1bc\x85d\ne") == "a b c d e"


def test_ordinary_unicode_text_is_kept() -> None:
    text = "Über die Grenze — الحدود · 边界 😀"
    assert clean_text(text) == text


def test_long_text_is_truncated_with_an_ellipsis() -> None:
    out = truncate("x" * 500, 50)
    assert len(out) == 50 and out.endswith("…")


def test_short_text_is_not_truncated() -> None:
    assert truncate("short", 50) == "short"


URLISH = st.text(alphabet="hts:/.-_~%?=&#@[]!'()*+,;ABCxyz019 <>\"\\^`{|}\u00e9\u202e", max_size=40)


@given(
    st.sampled_from(["http://", "https://", "HTTP://", "javascript:", ""]),
    st.sampled_from(
        [
            "example.org",
            "a.b",
            "Example.ORG",
            "xn--bcher-kva.example",
            "b\u00fccher.example",
            "a..b",
            "a.b.",
            "x:80",
            "x:443",
            "x:0",
            "x:65536",
            "x:8080",
            "u@x",
            "",
        ]
    ),
    URLISH,
)
@settings(max_examples=500, deadline=None)
def test_href_fast_path_agrees_with_the_full_parse(scheme: str, host: str, rest: str) -> None:
    value = scheme + host + ("/" + rest if rest and not rest.startswith("/") else rest)
    key, _reason = try_canonicalize(value)
    assert safe_href(value) == (key if key is not None and key.isascii() else None)
