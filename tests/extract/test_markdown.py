"""Markdown: CommonMark links, images, references, autolinks; GFM bare URLs; no code."""

from __future__ import annotations

import pytest

from linkwatch.extract import extract_document
from linkwatch.model import DocFormat
from tests.extract.conftest import by_url, urls


@pytest.mark.parametrize(
    ("url", "source", "text"),
    [
        ("https://md.example.org/inline", "markdown:link", "inline link"),
        ("https://md.example.org/image.png", "markdown:image", "image"),
        ("https://md.example.org/with%20space/doc.pdf", "markdown:link", "spaced destination"),
        ("https://en.wikipedia.org/wiki/Foo_(bar)", "markdown:link", "balanced parentheses"),
        ("https://md.example.org/autolink", "markdown:autolink", ""),
        ("https://md.example.org/nested", "markdown:link", "nested [bracket] text"),
        ("https://md.example.org/reference", "markdown:reference", "ref"),
        ("https://md.example.org/ref%20with%20space", "markdown:reference", "spaced"),
    ],
    ids=[
        "inline",
        "image",
        "angle-brackets-with-space",
        "balanced-parens",
        "autolink",
        "nested-brackets",
        "reference",
        "reference-angle-brackets",
    ],
)
def test_markdown_link_forms(extract_fixture, url, source, text) -> None:
    result = extract_fixture("markdown_links.md")
    assert result.format is DocFormat.MARKDOWN
    (citation,) = by_url(result)[url]
    assert (citation.source, citation.text) == (source, text)


def test_markdown_raw_keeps_the_destination_as_written(extract_fixture) -> None:
    found = by_url(extract_fixture("markdown_links.md"))
    assert found["https://md.example.org/with%20space/doc.pdf"][0].raw == (
        "https://md.example.org/with space/doc.pdf"
    )


def test_escaped_brackets_are_not_a_link(extract_fixture) -> None:
    assert len(extract_fixture("markdown_links.md").citations) == 8


def test_markdown_positions(extract_fixture) -> None:
    found = by_url(extract_fixture("markdown_links.md"))
    inline = found["https://md.example.org/inline"][0]
    reference = found["https://md.example.org/reference"][0]
    assert (inline.line, inline.column) == (3, 18)
    assert (reference.line, reference.column) == (9, 8)


def test_links_in_code_are_not_citations(extract_fixture) -> None:
    assert urls(extract_fixture("markdown_code_blocks.md")) == [
        "https://code.example.org/real",
        "https://code.example.org/list-continuation",
        "https://code.example.org/after",
    ]


@pytest.mark.parametrize(
    "url",
    [
        "https://gfm.example.org/a",
        "https://gfm.example.org/b",
        "https://gfm.example.org/c",
        "http://www.gfm.example.org/d",
        "https://gfm.example.org/e",
        "https://gfm.example.org/f?q=1",
        "https://en.wikipedia.org/wiki/Foo_(bar)",
        "https://gfm.example.org/g",
        "https://gfm.example.org/h",
        "https://gfm.example.org/i",
    ],
)
def test_gfm_trailing_punctuation_rules(extract_fixture, url) -> None:
    assert url in urls(extract_fixture("markdown_gfm_autolinks.md"))


def test_gfm_autolinks_fixture_has_no_other_urls(extract_fixture) -> None:
    assert len(extract_fixture("markdown_gfm_autolinks.md").citations) == 10


def test_html_blocks_in_markdown_are_read_as_html() -> None:
    body = b'# T\n\n<div>\n<a href="https://block.example.org/">x</a>\n</div>\n\n[y](https://md.example.org/)\n'
    result = extract_document("x.md", body)
    assert [(c.url, c.source, c.line) for c in result.citations] == [
        ("https://block.example.org/", "a@href", 4),
        ("https://md.example.org/", "markdown:link", 7),
    ]


def test_inline_html_at_a_line_start_does_not_end_the_paragraph() -> None:
    body = b'Text\n<a href="https://tag.example.org/">x</a> and\n[y](https://md.example.org/)\n'
    result = extract_document("x.md", body)
    assert [(c.url, c.source) for c in result.citations] == [
        ("https://tag.example.org/", "a@href"),
        ("https://md.example.org/", "markdown:link"),
    ]


def test_angle_bracket_text_that_is_not_a_tag_keeps_its_links() -> None:
    body = b"Licensed under <LICENSE-APACHE or\n[the licence](https://lic.example.org/)> or MIT.\n"
    result = extract_document("x.md", body)
    assert [(c.url, c.source) for c in result.citations] == [
        ("https://lic.example.org/", "markdown:link")
    ]


def test_inline_html_comments_hide_their_urls() -> None:
    body = b"# T\n\nText <!-- https://hidden.example.org/ --> and https://shown.example.org/.\n"
    assert urls(extract_document("x.md", body)) == ["https://shown.example.org/"]


def test_link_text_that_is_a_url_is_not_a_second_citation() -> None:
    result = extract_document("x.md", b"See [https://a.example.org/](https://b.example.org/).\n")
    assert urls(result) == ["https://b.example.org/"]


def test_html_in_link_text_becomes_plain_text() -> None:
    body = b"[<b>Bold</b> <script>alert(1)</script>claim](https://t.example.org/)\n"
    (citation,) = extract_document("x.md", body).citations
    assert citation.text == "Bold claim"


def test_unclosed_fence_hides_the_rest() -> None:
    body = b"[a](https://before.example.org/)\n\n```\nhttps://inside.example.org/\n"
    assert urls(extract_document("x.md", body)) == ["https://before.example.org/"]


def test_private_and_loopback_urls_are_extracted_for_the_checker_to_judge(extract_fixture) -> None:
    assert urls(extract_fixture("private_urls.md")) == [
        "http://127.0.0.1:8080/admin",
        "http://169.254.169.254/latest/meta-data/",
        "http://192.168.1.1/",
        "http://[::1]:9000/",
    ]


def test_a_footnote_is_no_reference_definition() -> None:
    body = (
        b"---\nlink: https://self.example.org/post/\n---\n# T\n\nClaim.[^1]\n\n"
        b"[^1]: Reported by https://source.example.org/a in 2020.\n"
    )
    result = extract_document("x.md", body)
    assert [(c.url, c.source) for c in result.citations] == [
        ("https://self.example.org/post/", "frontmatter:link"),
        ("https://source.example.org/a", "text"),
    ]


def test_indented_code_in_a_list_item_is_not_a_citation() -> None:
    body = (
        b"# Steps\n\n1. Fetch the data:\n\n       curl -O https://code.example.org/data.csv\n\n"
        b"   Then read https://docs.example.org/ for more.\n"
    )
    assert urls(extract_document("x.md", body)) == ["https://docs.example.org/"]


def test_a_linked_image_gives_its_alt_text_as_the_link_text() -> None:
    body = b"[![Build status](https://ci.example.org/badge.svg)](https://ci.example.org/job)\n"
    assert [(c.url, c.source, c.text) for c in extract_document("x.md", body).citations] == [
        ("https://ci.example.org/badge.svg", "markdown:image", "Build status"),
        ("https://ci.example.org/job", "markdown:link", "Build status"),
    ]


def test_a_literal_backslash_in_a_destination_is_percent_encoded() -> None:
    """CommonMark renders [x](foo\\bar) as href="foo%5Cbar": a backslash that escapes
    nothing stays a backslash, never the slash a raw one would be to the URL standard."""
    body = b"---\nurl: https://base.example.org/dir/page\n---\n[x](foo\\bar) [y](\\*z)\n"
    found = [c.url for c in extract_document("b.md", body).citations if c.source == "markdown:link"]
    assert found == ["https://base.example.org/dir/foo%5Cbar", "https://base.example.org/dir/*z"]


def _md_urls(body: str) -> list[str]:
    doc = "---\nurl: https://site.example/dir/page\n---\n" + body
    found = extract_document("doc.md", doc.encode()).citations
    return [c.url for c in found if c.source == "markdown:reference"]


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("[ref]: /kept\n[ref2]: /also 'title'\n  \n[ref] [ref2]\n", ["/kept", "/also"]),
        ("Some words\n[ref]: /inside-a-paragraph\n\n[ref]\n", []),
        ("## Heading\n[ref]: /after-a-heading\n\n[ref]\n", ["/after-a-heading"]),
        ("[ref]: /url 'unclosed\n\nafter a blank line'\n\n[ref]\n", []),
        ("[ref]: /url 'title' and more\n\n[ref]\n", []),
        ("[ref]: <dest>(no-space)\n\n[ref]\n", []),
        (
            "[a]: /one\n[b]: /two\n  'its title on the next line'\n[c]: /three\n",
            ["/one", "/two", "/three"],
        ),
        ("[la[bel]: /bracket-in-label\n\n[la[bel]\n", []),
    ],
    ids=[
        "definitions-in-a-row",
        "cannot-interrupt-a-paragraph",
        "after-a-heading",
        "title-with-a-blank-line",
        "text-after-the-title",
        "title-not-set-off",
        "title-on-the-next-line",
        "unescaped-bracket-in-label",
    ],
)
def test_link_reference_definitions_follow_commonmark(body: str, expected: list[str]) -> None:
    assert _md_urls(body) == [f"https://site.example{p}" for p in expected]
