"""HTML: which attributes are citations, base/self resolution, entities, text nodes,
what is skipped, anchor text and exact positions."""

from __future__ import annotations

import pytest

from linkwatch.extract import extract_document
from linkwatch.extract.html import srcset_candidates, unescape_attr
from tests.extract.conftest import by_url, urls


@pytest.mark.parametrize(
    ("url", "source"),
    [
        ("https://a.example.org/report", "a@href"),
        ("https://img.example.org/photo.jpg", "img@src"),
        ("https://img.example.org/photo-300.jpg", "img@srcset"),
        ("https://img.example.org/photo-768.jpg", "img@srcset"),
        ("https://img.example.org/photo-1536.jpg", "img@srcset"),
        ("https://img.example.org/p@2x.webp", "source@srcset"),
        ("https://video.example.org/poster.png", "video@poster"),
        ("https://video.example.org/clip.mp4", "video@src"),
        ("https://quote.example.org/source", "blockquote@cite"),
        ("https://data.example.org/chart.svg", "object@data"),
        ("https://frame.example.org/embed", "iframe@src"),
    ],
    ids=lambda v: v.rsplit("/", 1)[-1] if v.startswith("http") else v,
)
def test_url_attributes_are_citations(extract_fixture, url, source) -> None:
    found = by_url(extract_fixture("html_attributes.html"))
    assert url in found
    assert found[url][0].source == source


def test_stylesheets_and_fragments_are_not_citations(extract_fixture) -> None:
    found = urls(extract_fixture("html_attributes.html"))
    assert "https://cdn.example.org/site.css" not in found
    assert not [u for u in found if "#" in u and u.startswith("#")]
    assert len([u for u in found if u.startswith("https://")]) == 13


def test_the_pages_own_url_is_its_base_and_a_citation_only_when_configured() -> None:
    page = (
        b'<html><head><link rel="canonical" href="https://news.example.org/story">'
        b'<meta property="og:url" content="https://news.example.org/story?amp=1">'
        b'</head><body><a href="next">next</a></body></html>'
    )
    plain = extract_document("p.html", page)
    assert urls(plain) == ["https://news.example.org/next"]  # resolved against canonical
    cited = extract_document("p.html", page, self_links=True)
    assert [(c.url, c.source) for c in cited.citations] == [
        ("https://news.example.org/story", "link@href"),
        ("https://news.example.org/story?amp=1", "meta@og:url"),
        ("https://news.example.org/next", "a@href"),
    ]


def test_mailto_tel_and_javascript_are_kept_as_written_without_a_warning(
    extract_fixture,
) -> None:
    """Cited, so the curator sees them (as "not checked"); never resolved or requested."""
    result = extract_fixture("html_attributes.html")
    others = [u for u in urls(result) if not u.startswith("https://")]
    assert others == ["mailto:editor@example.org", "tel:+15555550100", "javascript:alert(1)"]
    assert not [w for w in result.warnings if "invalid URL" in w.message]


def test_canonical_link_names_the_documents_own_url(extract_fixture) -> None:
    assert extract_fixture("html_attributes.html").self_url == "https://news.example.org/story"


def test_anchor_text_is_collapsed_plain_text(extract_fixture) -> None:
    found = by_url(extract_fixture("html_attributes.html"))
    assert found["https://a.example.org/report"][0].text == "the report"
    assert found["https://img.example.org/photo.jpg"][0].text == "A photo"


def test_positions_are_exact_lines_and_columns(extract_fixture) -> None:
    found = by_url(extract_fixture("html_attributes.html"))
    report = found["https://a.example.org/report"][0]
    assert (report.line, report.column) == (8, 18)
    srcset = found["https://img.example.org/photo-1536.jpg"][0]
    assert (srcset.line, srcset.column) == (11, 101)


@pytest.mark.parametrize(
    ("raw", "resolved"),
    [
        ("guide.html", "https://base.example.org/docs/guide.html"),
        ("/root.html", "https://base.example.org/root.html"),
        ("../up.html", "https://base.example.org/up.html"),
        ("//cdn.example.org/lib.js", "https://cdn.example.org/lib.js"),
    ],
)
def test_relative_urls_resolve_against_base_href(extract_fixture, raw, resolved) -> None:
    pairs = {c.raw: c.url for c in extract_fixture("html_base_href.html").citations}
    assert pairs[raw] == resolved


def test_relative_urls_resolve_against_the_front_matter_link(extract_fixture) -> None:
    pairs = {c.raw: c.url for c in extract_fixture("frontmatter_html_body.txt").citations}
    assert pairs["/related/"] == "https://fm.example.org/related/"


def test_relative_urls_without_any_base_are_not_citations() -> None:
    result = extract_document("x.html", b'<p><a href="/local">x</a> <img src="pic.png"></p>')
    assert result.citations == []


def test_comments_scripts_and_styles_are_skipped(extract_fixture) -> None:
    found = urls(extract_fixture("html_comments_scripts_styles.html"))
    assert not [u for u in found if "comment." in u or "script." in u or "style." in u]


def test_bare_urls_in_text_nodes_are_citations(extract_fixture) -> None:
    found = by_url(extract_fixture("html_comments_scripts_styles.html"))
    assert found["https://text.example.org/page"][0].source == "text"
    assert found["http://www.www-link.example.org"][0].raw == "www.www-link.example.org"


def test_url_as_its_own_anchor_text_is_one_citation(extract_fixture) -> None:
    found = by_url(extract_fixture("html_comments_scripts_styles.html"))
    assert len(found["https://visible.example.org/"]) == 1


@pytest.mark.parametrize(
    ("raw", "url"),
    [
        ("https://ent.example.org/search?a=1&amp;b=2", "https://ent.example.org/search?a=1&b=2"),
        ("https://ent.example.org/legacy?a=1&copy=2", "https://ent.example.org/legacy?a=1&copy=2"),
        ("https://ent.example.org/&#x63;af&eacute;", "https://ent.example.org/café"),
        ("https://ent.example.org/text?x=1&amp;y=2", "https://ent.example.org/text?x=1&y=2"),
    ],
    ids=["amp", "legacy-reference-before-equals", "numeric-and-named", "text-node"],
)
def test_character_references_are_decoded(extract_fixture, raw, url) -> None:
    pairs = {c.raw: c.url for c in extract_fixture("html_entities.html").citations}
    assert pairs[raw] == url


def test_attribute_reference_rule() -> None:
    assert unescape_attr("a&copy b") == "a© b"
    assert unescape_attr("?x=1&copy=2") == "?x=1&copy=2"
    assert unescape_attr("?x=1&notit") == "?x=1&notit"


def test_srcset_candidates_keep_commas_inside_urls() -> None:
    value = "a.jpg 1x, https://x.example/b,c.jpg 2x,d.jpg"
    assert [u for u, _ in srcset_candidates(value)] == [
        "a.jpg",
        "https://x.example/b,c.jpg",
        "d.jpg",
    ]


def test_unterminated_html_keeps_what_came_before_and_warns(extract_fixture) -> None:
    result = extract_fixture("html_unterminated.html")
    assert urls(result) == ["https://ok.example.org/first", "https://ok.example.org/second"]
    assert [w.line for w in result.warnings] == [4]
    assert "unterminated" in result.warnings[0].message


def test_markup_in_anchor_text_stays_plain_text(extract_fixture) -> None:
    (citation,) = extract_fixture("xss_anchor_text.md").citations
    assert citation.text == "Bold text spread over lines"
    assert "<" not in citation.text


def test_anchor_text_is_capped() -> None:
    body = b'<a href="https://long.example.org/">' + b"word " * 500 + b"</a>"
    (citation,) = extract_document("long.html", body).citations
    assert len(citation.text) <= 200
    assert citation.text.endswith("\u2026")


def test_an_anchor_never_closed_gets_a_short_text() -> None:
    body = b'<p><a href="https://open.example.org/">start <span class="x">' + b"w " * 100_000
    (citation,) = extract_document("open.html", body).citations
    assert citation.text.startswith("start w w")
    assert len(citation.text) <= 200


def test_unquoted_attributes_and_upper_case_tags() -> None:
    result = extract_document("x.html", b"<P><A HREF=https://upper.example.org/x>X</A></P>")
    assert urls(result) == ["https://upper.example.org/x"]


def test_quoted_attribute_may_contain_a_greater_than_sign() -> None:
    body = b'<p><a title="a > b" href="https://gt.example.org/">x</a></p>'
    assert urls(extract_document("x.html", body)) == ["https://gt.example.org/"]


def test_srcset_is_split_after_character_references_are_decoded() -> None:
    """A tab written as &#x9; separates a candidate's URL from its descriptor (the HTML
    spec decodes the attribute first, then splits on ASCII whitespace)."""
    html = (
        b"<!doctype html><base href='https://img.example.org/dir/'>"
        b"<img srcset='&#x9;https://img.example.org/a.png&#x9;1x, /b.png 2x'>"
    )
    result = extract_document("x.html", html)
    assert [c.url for c in result.citations if c.source == "img@srcset"] == [
        "https://img.example.org/a.png",
        "https://img.example.org/b.png",
    ]


def test_a_backslash_in_an_html_href_is_a_slash_as_in_a_browser() -> None:
    result = extract_document("x.html", b'<a href="https://ex.example.org/a\\b">x</a>')
    assert [key for key, _ in result.keys.values()] == ["https://ex.example.org/a/b"]


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("0; url=https://r.example/next", "https://r.example/next"),
        ("5;URL='https://r.example/quoted'then", "https://r.example/quoted"),
        ('0 ,  url = "https://r.example/spaced"', "https://r.example/spaced"),
        (".5; https://r.example/no-url-word", "https://r.example/no-url-word"),
        ("0; urlfoo", "https://site.example/dir/urlfoo"),  # "url" without "=": all of it
        ("3", None),  # a plain reload names no page
        ("soon; url=https://r.example/no-time", None),
        ("0x; url=https://r.example/bad-separator", None),
    ],
)
def test_meta_refresh_follows_the_html_standards_parsing(
    content: str, expected: str | None
) -> None:
    html = (
        '<!doctype html><html><head><base href="https://site.example/dir/">'
        f'<meta http-equiv="Refresh" content="{content.replace(chr(34), "&quot;")}">'
        "<title>moved</title></head><body><p>This page moved.</p></body></html>"
    )
    found = [
        c.url for c in extract_document("r.html", html.encode()).citations
        if c.source == "meta@refresh"
    ]  # fmt: skip
    assert found == ([expected] if expected else [])


def test_urls_written_in_code_are_examples_but_links_there_are_citations() -> None:
    html = (
        "<!doctype html><html><body><p>Run <code>curl https://api.example/v1</code> or "
        "<kbd>open https://kbd.example/</kbd>, see <a href=https://docs.example/>docs</a>.</p>"
        "<pre>\n  GET https://pre.example/path\n  <a href='https://inpre.example/'>x</a>\n</pre>"
        "<p>After the block: https://after.example/page</p></body></html>"
    )
    found = [c.url for c in extract_document("v.html", html.encode()).citations]
    assert found == [
        "https://docs.example/",
        "https://inpre.example/",
        "https://after.example/page",
    ]


@pytest.mark.parametrize(
    "start", ["<script src='https://cdn.example/app.js'></script>", "<code>x</code>", "<!-- c -->"]
)
def test_a_short_fragment_starting_with_a_tag_is_html(start: str) -> None:
    fragment = f'{start} see <a href="https://a.example/q?x=1&amp;y=2">a</a>'
    cited = [c.url for c in extract_document("f.html", fragment.encode()).citations]
    assert "https://a.example/q?x=1&y=2" in cited  # the reference decoded, as a browser does


def test_srcset_descriptors_do_not_nest_parentheses() -> None:
    value = "https://i.example/a 1x 1x ((( , https://i.example/b 1x, ), https://i.example/c"
    found = [url for url, _ in srcset_candidates(value)]
    assert found[-1] == "https://i.example/c"  # one ")" ends "(((": the comma after it splits
    assert "https://i.example/b" not in found  # inside the parentheses: a descriptor
