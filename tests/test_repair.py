"""The repair stage on its own (in memory): exact, local edits for each kind of citation."""

from __future__ import annotations

import pytest

from linkwatch.repair import Change, Skip, Styles, Target, apply, propose

URL = "http://old.example.org/report?a=1&b=2"
SNAP = "https://web.archive.org/web/20200202000000/http://old.example.org/report?a=1&b=2"


def dead(text: str, raw: str, source: str, *, occurrence: int = 0) -> Target:
    at = -1
    for _ in range(occurrence + 1):
        at = text.index(raw, at + 1)
    line = text.count("\n", 0, at) + 1
    column = at - (text.rfind("\n", 0, at) + 1) + 1
    return Target(line, column, raw, source, URL, "dead", "dead", "cdx", SNAP, "20200202000000")


DEFAULT = Styles()


def fixed(text: str, target: Target, fmt: str = "markdown", styles: Styles = DEFAULT) -> str:
    found = propose(text, fmt, [target], styles)
    return apply(text, [c for c in found if isinstance(c, Change)])


@pytest.mark.parametrize(
    ("text", "after"),
    [
        (f"[r]({URL})", f"[r]({URL}) ([archived]({SNAP}))"),
        (f'[r]({URL} "A (title)")!', f'[r]({URL} "A (title)") ([archived]({SNAP}))!'),
        (f"[r](<{URL}>)", f"[r](<{URL}>) ([archived]({SNAP}))"),
        (f"[![logo](x.png)]({URL})", f"[![logo](x.png)]({URL}) ([archived]({SNAP}))"),
    ],
    ids=["plain", "title-with-parens", "angle-destination", "image-inside"],
)
def test_a_markdown_link_gets_its_archived_copy_after_the_closing_paren(text, after) -> None:
    assert fixed(text, dead(text, URL, "markdown:link", occurrence=0)) == after


def test_markdown_replace_style_points_the_link_at_the_snapshot() -> None:
    text = f"see [r]({URL})."
    assert fixed(text, dead(text, URL, "markdown:link"), styles=Styles(markdown="replace")) == (
        f"see [r]({SNAP})."
    )


@pytest.mark.parametrize(
    "tag",
    [
        f'<a href="{URL.replace("&", "&amp;")}">r</a>',
        f"<A TITLE='a > b' HREF={URL.replace('&', '&amp;')}>r</A>",
        f'<a href="{URL.replace("&", "&amp;")}"\n   class="x" />',
    ],
    ids=["quoted", "unquoted-upper-case-with-gt-in-a-value", "multi-line-self-closing"],
)
def test_an_html_link_gets_robust_links_attributes_in_its_start_tag_only(tag: str) -> None:
    text = f"<p>before</p>\n{tag}\n<p>after</p>"
    raw = URL.replace("&", "&amp;")
    out = fixed(text, dead(text, raw, "a@href"), "html")
    start = text.index(tag)
    assert out[:start] == text[:start] and out.endswith(text[start + len(tag) :])
    versioned = out[start : len(out) - (len(text) - start - len(tag))]
    assert f'data-versionurl="{SNAP.replace("&", "&amp;")}"' in versioned
    assert 'data-versiondate="2020-02-02"' in versioned
    assert versioned.endswith(("/>", ">r</a>", ">r</A>"))
    assert fixed(out, dead(out, raw, "a@href"), "html") == out  # already versioned


def test_html_replace_style_points_the_href_at_the_snapshot() -> None:
    text = f'<a href="{URL}">r</a>'
    out = fixed(text, dead(text, URL, "a@href"), "html", Styles(html="replace"))
    assert out.startswith(f'<a href="{SNAP.replace("&", "&amp;")}" data-originalurl=')


@pytest.mark.parametrize(
    ("text", "source", "why"),
    [
        (f'<img src="{URL}">', "img@src", "only links"),
        (f'[r]: {URL} "Title"\n', "markdown:reference", "has a title"),
        (f"---\nsources:\n  - {URL}\n---\n", "frontmatter:sources.0", "list item"),
    ],
)
def test_what_cannot_be_fixed_safely_is_skipped_with_a_reason(text, source, why) -> None:
    [found] = propose(text, "markdown", [dead(text, URL, source)], Styles())
    assert isinstance(found, Skip) and why in found.why


def test_a_front_matter_field_gets_a_sibling_at_its_indent_with_its_line_ending() -> None:
    text = f"---\nref:\r\n  - url: {URL}\r\n    note: x\r\n---\r\n"
    out = fixed(text, dead(text, URL, "frontmatter:ref.0.url"))
    assert out == text.replace(f"url: {URL}\r\n", f"url: {URL}\r\n    url_archived: {SNAP}\r\n")


def test_a_citation_moved_since_the_scan_is_not_guessed_at() -> None:
    text = f"[r]({URL})"
    target = dead(text, URL, "markdown:link")
    [found] = propose("nothing here now", "markdown", [target], Styles())
    assert isinstance(found, Skip) and "rescan first" in found.why


@pytest.mark.parametrize(
    "name", ["link-rot-explainer.md", "press-release-roundup.html", "field-notes.txt"]
)
def test_every_citation_of_a_real_looking_document_fixed_at_once_keeps_the_rest_intact(
    name: str,
) -> None:
    from pathlib import Path

    from linkwatch.extract import extract_document
    from linkwatch.urls import archived_original

    path = Path(__file__).parents[1] / "examples" / "corpus" / name
    text = path.read_bytes().decode("utf-8")
    fmt = {"md": "markdown", "html": "html", "txt": "text"}[name.rsplit(".", 1)[1]]
    before = extract_document(name, text.encode()).citations
    targets = [
        Target(
            c.line, c.column, c.raw, c.source, c.url, "dead", "dead", "cdx",
            f"https://web.archive.org/web/20200101000000/{c.url}", "20200101000000",
        )
        for c in before
        if c.url.startswith("http") and archived_original(c.raw) is None
    ]  # fmt: skip
    found = propose(text, fmt, targets, Styles())
    changes = [c for c in found if isinstance(c, Change)]
    after = apply(text, changes)
    assert changes
    # outside the edited spans, every character is where it was
    at = shift = 0
    for c in sorted(changes, key=lambda c: c.start):
        assert after[at + shift : c.start + shift] == text[at : c.start]
        shift += len(c.new) - (c.end - c.start)
        at = c.end
    assert after[at + shift :] == text[at:]
    # nothing cited before is lost, and fixing again changes nothing
    again = extract_document(name, after.encode()).citations
    assert {c.url for c in before} <= {c.url for c in again}
    redo = [
        Target(
            c.line, c.column, c.raw, c.source, c.url, "dead", "dead", "cdx",
            f"https://web.archive.org/web/20200101000000/{c.url}", "20200101000000",
        )
        for c in again
        if c.url.startswith("http") and archived_original(c.raw) is None
    ]  # fmt: skip
    assert [c for c in propose(after, fmt, redo, Styles()) if isinstance(c, Change)] == []
