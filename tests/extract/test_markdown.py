"""Markdown: CommonMark links, images, references, autolinks; GFM bare URLs; no code."""

from __future__ import annotations

import pytest

from linkwatch.extract import collect, extract_document
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
    found = extract_document("doc.md", doc.encode(), unused_references=True).citations
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


def _links(body: str) -> list[tuple[str, str]]:
    doc = "---\nurl: https://site.example/\n---\n" + body
    found = extract_document("doc.md", doc.encode()).citations  # [0] is the front matter's
    return [(c.url.removeprefix("https://site.example"), c.source) for c in found[1:]]


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("[outer [inner](/in) text](/out)\n", [("/in", "markdown:link")]),
        ("[a [b [c](/c)](/b)](/a)\n", [("/c", "markdown:link")]),
        ("![pic [cap](/cap)](/pic.png)\n", [("/pic.png", "markdown:image")]),
        (
            "[![pic](/pic.png)](/target)\n",
            [("/pic.png", "markdown:image"), ("/target", "markdown:link")],
        ),
        (
            "[![a ![b](/b.png)](/a.png)](/t)\n",
            [("/a.png", "markdown:image"), ("/t", "markdown:link")],
        ),
        ("*[not a link*](/kept)\n", [("/kept", "markdown:link")]),
    ],
    ids=[
        "no-link-inside-a-link",
        "innermost-link-wins",
        "link-in-an-image-description-is-alt-text",
        "image-inside-link-text",
        "image-in-an-image-inside-a-link",
        "emphasis-does-not-split-a-link",
    ],
)
def test_links_inside_links_and_images_give_what_commonmark_renders(body, expected) -> None:
    assert _links(body) == expected


def test_a_no_break_space_is_part_of_a_destination() -> None:
    """Only ASCII space and controls end a bare destination (CommonMark): U+00A0 is
    percent-encoded into the URL, not a boundary."""
    assert _links("[x](/a\u00a0b)\n") == [("/a%C2%A0b", "markdown:link")]


def test_a_reference_label_may_span_lines_but_not_a_blank_line() -> None:
    body = "[two\nlines]: /spans\n\n[two lines]\n\n[blank\n\nline]: /no\n\n[blank line]\n"
    assert _links(body) == [("/spans", "markdown:reference")]


#: enough Markdown for the sniffer to read a tag-rich body as Markdown (never the file name)
_MARKDOWN = "# Notes\n\n- one\n- two\n\n"


def test_an_html_block_starts_only_at_a_whole_tag_on_its_line() -> None:
    """A line with an unknown tag and more text after it is a paragraph, so a Markdown
    link in it stays a link; a line that is only the tag starts an HTML block."""
    inline = f"{_MARKDOWN}<span>see</span> [doc](/inline)\n"
    block = f'{_MARKDOWN}<custom-box>\n[doc](/not-markdown) <a href="/html">x</a>\n</custom-box>\n'
    assert _links(inline) == [("/inline", "markdown:link")]
    assert _links(block) == [("/html", "a@href")]


def test_a_backslash_in_a_raw_html_url_in_markdown_is_flagged_not_guessed() -> None:
    """Browsers read '\\' in an href as '/', CommonMark's HTML output keeps it as '%5C':
    the two name different URLs, so linkwatch records it as written and says why."""
    body = f'{_MARKDOWN}See <a href="https://x.example.org/a\\b">x</a>.\n'
    result = extract_document("b.md", body.encode())
    [cited] = result.citations
    assert cited.url == "https://x.example.org/a\\b"
    assert result.keys[cited.url] == (None, collect.AMBIGUOUS_BACKSLASH)
    assert "backslash" in result.warnings[0].message
    # after the query it is data either way, and the link is checked
    body = f'{_MARKDOWN}<a href="https://x.example.org/a?q=\\d">x</a>\n'
    after = extract_document("q.md", body.encode())
    assert after.keys[after.citations[0].url][0] is not None


def test_a_definition_no_link_uses_is_a_citation_only_when_configured() -> None:
    """CommonMark renders nothing for an unused definition; labels match case-folded with
    whitespace collapsed, through full, collapsed and shortcut references."""
    body = (
        b"# Refs\n\nSee [the report][Annual  Report], [data][] and [notes].\n\n"
        b"[annual report]: https://r.example.org/full\n[DATA]: https://r.example.org/collapsed\n"
        b"[notes]: https://r.example.org/shortcut\n[spare]: https://r.example.org/unused\n"
    )
    used = [c.url.rsplit("/", 1)[1] for c in extract_document("r.md", body).citations]
    assert used == ["full", "collapsed", "shortcut"]
    every = extract_document("r.md", body, unused_references=True).citations
    assert [c.url.rsplit("/", 1)[1] for c in every] == [*used, "unused"]
