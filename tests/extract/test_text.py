"""Plain text: bare and www. URLs, punctuation around them excluded, IDN kept, no e-mail."""

from __future__ import annotations

import pytest

from linkwatch.extract import extract_document
from linkwatch.extract.text import trim_url
from linkwatch.urls import canonicalize, cited_scheme, scheme_key
from tests.extract.conftest import urls

EXPECTED = [
    "https://txt.example.org/quoted",
    "https://txt.example.org/paren",
    "https://txt.example.org/bracket",
    "https://txt.example.org/sentence",
    "https://txt.example.org/comma",
    "https://txt.example.org/q",
    "https://txt.example.org/curly",
    "https://txt.example.org/single",
    "https://txt.example.org/guillemets",
    "http://www.txt.example.org/www",
    "https://txt.example.org/Foo_(bar)",
]


def test_punctuation_quotes_and_brackets_are_not_part_of_the_url(extract_fixture) -> None:
    assert urls(extract_fixture("plain_text_punctuation.txt")) == EXPECTED


def test_e_mail_addresses_are_not_links(extract_fixture) -> None:
    assert not [u for u in urls(extract_fixture("plain_text_punctuation.txt")) if "@" in u]


def test_idn_hosts_are_kept_and_share_a_key_with_punycode(extract_fixture) -> None:
    found = urls(extract_fixture("idn_hosts.txt"))
    assert found[0] == "http://bücher.example/katalog"
    assert canonicalize(found[0]) == canonicalize(found[1])
    assert found[2] == "https://παράδειγμα.δοκιμή/σελίδα"


def test_other_schemes_are_cited_as_written_and_only_http_is_resolved(extract_fixture) -> None:
    assert urls(extract_fixture("non_http_schemes.md")) == [
        "mailto:editor@example.org",
        "tel:+15555550100",
        "javascript:alert(1)",
        "data:text/html;base64,PHNjcmlwdD4=",
        "ftp://ftp.example.org/file",
        "https://scheme.example.org/only",
    ]


def test_a_huge_inline_data_url_is_one_short_link_key() -> None:
    image = "data:image/png;base64," + "A" * 100_000
    key = scheme_key(image)
    assert len(key) < 400 and key.startswith("data:image/png;base64,AAAA")
    assert key != scheme_key(image + "B")  # distinct images stay distinct links
    assert cited_scheme("MAILTO:x@example.org") == "mailto"
    assert cited_scheme("c:\\windows\\file") is None  # not a scheme a document cites


@pytest.mark.parametrize(
    ("raw", "trimmed"),
    [
        ("https://x.org/a.", "https://x.org/a"),
        ("https://x.org/a).", "https://x.org/a"),
        ("https://x.org/(a)", "https://x.org/(a)"),
        ("https://x.org/a'", "https://x.org/a"),
        ("https://x.org/a&amp;", "https://x.org/a"),
        ("https://x.org/a?!", "https://x.org/a"),
        ("https://x.org/a]", "https://x.org/a"),
    ],
)
def test_trim_url(raw, trimmed) -> None:
    assert trim_url(raw) == trimmed


def test_text_positions_and_context() -> None:
    (c,) = extract_document("t.txt", b"line one\n  see https://ctx.example.org/x now\n").citations
    assert (c.line, c.column) == (2, 7)
    assert c.text == "see https://ctx.example.org/x now"


@pytest.mark.parametrize(
    "text",
    ["see http://.example.com now", "see http://-example.com/ now", "see http://example-.com/x"],
)
def test_bare_urls_with_impossible_hosts_are_not_citations(text: str) -> None:
    assert urls(extract_document("t.txt", text.encode())) == []


def test_a_scheme_url_after_an_at_sign_is_a_link_but_an_email_domain_is_not() -> None:
    text = "Ask name@http://vk.com/page or write to press@www.example.org today.\n"
    found = [c.url for c in extract_document("t.txt", text.encode()).citations]
    assert "http://vk.com/page" in found
    assert not any("www.example.org" in url for url in found)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('He wrote "http://q.example.org/said" here', ["http://q.example.org/said"]),
        ('see http://q.example.org/blah_"quoted" now', ['http://q.example.org/blah_"quoted"']),
        (
            '["http://q.example.org/a","http://q.example.org/b"]',
            ["http://q.example.org/a", "http://q.example.org/b"],
        ),
        ("http://q.example.org/page_{id}.", ["http://q.example.org/page_{id}"]),
        ("{http://q.example.org/in-braces}", ["http://q.example.org/in-braces"]),
        ("\uff5cwww.q.example.org/path\uff5cmore", ["http://www.q.example.org/path"]),
    ],
    ids=[
        "quotation-around",
        "quoted-part-of-a-path",
        "json-array",
        "balanced-braces",
        "unbalanced-brace",
        "fullwidth-bar",
    ],
)
def test_quotes_braces_and_bars_around_and_in_a_bare_url(text: str, expected: list[str]) -> None:
    assert [c.raw for c in extract_document("t.txt", text.encode()).citations] == [
        e.removeprefix("http://") if e.startswith("http://www") else e for e in expected
    ]
