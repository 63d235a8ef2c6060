"""YAML front matter: URL fields by dotted path, self URL and date, hostile YAML."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from linkwatch.extract import extract_document
from linkwatch.model import DocFormat
from tests.extract.conftest import urls


def test_every_absolute_url_value_is_cited_by_its_path(extract_fixture) -> None:
    result = extract_fixture("frontmatter_nested_urls.md")
    assert [(c.source, c.url) for c in result.citations] == [
        ("frontmatter:sources.0", "https://nested.example.org/one"),
        ("frontmatter:sources.1.url", "https://nested.example.org/two"),
        ("frontmatter:meta.archive.original", "https://nested.example.org/three"),
    ]


def test_values_that_merely_contain_url_text_are_not_cited(extract_fixture) -> None:
    found = urls(extract_fixture("frontmatter_nested_urls.md"))
    assert "https://nested.example.org/inline" not in found
    assert not [u for u in found if "see-https" in u]


def test_front_matter_lines_point_at_the_value(extract_fixture) -> None:
    result = extract_fixture("frontmatter_html_body.txt")
    lines = {c.source: (c.line, c.column) for c in result.citations}
    assert lines["frontmatter:author"] == (2, 10)
    assert lines["frontmatter:cover_image"] == (4, 3)  # folded scalar: the next line


def test_slug_is_not_a_citation(extract_fixture) -> None:
    sources = {c.source for c in extract_fixture("frontmatter_html_body.txt").citations}
    assert "frontmatter:slug" not in sources


def test_self_url_and_access_date(extract_fixture) -> None:
    result = extract_fixture("frontmatter_relative_links.md")
    assert result.self_url == "https://site.example.org/blog/post/"
    assert result.access_date == "2025-05-12"


def test_markdown_relative_links_resolve_against_the_self_url(extract_fixture) -> None:
    pairs = {c.raw: c.url for c in extract_fixture("frontmatter_relative_links.md").citations}
    assert pairs == {
        "https://site.example.org/blog/post/": "https://site.example.org/blog/post/",
        "../older/": "https://site.example.org/blog/older/",
        "/about": "https://site.example.org/about",
    }


def test_broken_yaml_is_a_warning_and_read_as_body_text(extract_fixture) -> None:
    result = extract_fixture("frontmatter_broken.md")
    assert [(c.url, c.source) for c in result.citations] == [
        ("https://broken-fm.example.org/", "text"),
        ("https://body.example.org/still-read", "text"),
    ]
    assert "not valid YAML" in result.warnings[0].message
    assert result.self_url is None


def test_python_tags_are_refused(extract_fixture) -> None:
    result = extract_fixture("frontmatter_python_tag.md")
    assert not [c for c in result.citations if c.source.startswith("frontmatter:")]
    assert urls(result)[-1] == "https://body.example.org/after-tag"
    assert "python/object" in result.warnings[0].message


def test_an_alias_bomb_is_refused_with_a_warning_and_the_body_still_read(extract_fixture) -> None:
    started = time.monotonic()
    result = extract_fixture("yaml_alias_bomb.md")
    assert time.monotonic() - started < 2
    assert any("alias bomb" in w.message for w in result.warnings)
    assert urls(result)[-1] == "https://body.example.org/after-bomb"
    assert len(result.citations) == 10  # the nine URLs written once, plus the body link


def test_a_few_aliases_are_fine() -> None:
    text = b"---\nbase: &b https://a.example.org/x\nsources: [*b, *b]\n---\nbody\n"
    result = extract_document("ok.md", text)
    assert result.warnings == []
    assert urls(result) == ["https://a.example.org/x"] * 3


def test_front_matter_never_closed_is_read_as_body() -> None:
    result = extract_document("x.md", b"---\ntitle: x\nhttps://open.example.org/\n")
    assert urls(result) == ["https://open.example.org/"]
    assert "never closed" in result.warnings[0].message


def test_thematic_breaks_are_not_mistaken_for_front_matter() -> None:
    body = b"---\nIntro with [a link](https://intro.example.org/).\n---\nMore.\n"
    result = extract_document("x.md", body)
    assert urls(result) == ["https://intro.example.org/"]
    assert "read as body text" in result.warnings[0].message


def test_front_matter_with_windows_line_endings() -> None:
    body = b"---\r\nlink: https://crlf.example.org/\r\n---\r\nSee https://body.example.org/\r\n"
    result = extract_document("x.md", body)
    assert [(c.source, c.line) for c in result.citations] == [("frontmatter:link", 2), ("text", 4)]


def test_front_matter_with_a_plain_text_body() -> None:
    result = extract_document("x.txt", b"---\nurl: https://self.example.org/\n---\nJust words.\n")
    assert result.format is DocFormat.TEXT
    assert urls(result) == ["https://self.example.org/"]


def test_deeply_nested_front_matter_is_cut_with_a_warning() -> None:
    depth = 900
    body = (
        b"---\nsource: https://fm.example.org/\ndeep: "
        + b"[" * depth
        + b"]" * depth
        + b"\n---\nBody https://body.example.org/\n"
    )
    result = extract_document("deep.md", body)
    assert [(c.url, c.source) for c in result.citations] == [
        ("https://fm.example.org/", "frontmatter:source"),
        ("https://body.example.org/", "text"),
    ]
    assert any("nested deeper than" in w.message for w in result.warnings)


@pytest.mark.parametrize("opener", ["[", "- "], ids=["flow", "block"])
def test_front_matter_nested_too_deep_to_parse_is_body_text(opener: str) -> None:
    # libyaml overflows the C stack on such input: run it where a crash cannot take pytest
    code = (
        "from linkwatch.extract import extract_document\n"
        f"deep = {opener!r}.encode() * 100_000\n"
        "r = extract_document('d.md', b'---\\na: ' + deep + b'\\n---\\nBody https://b.example.org/\\n')\n"
        "print([c.url for c in r.citations], [w.message for w in r.warnings])\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=30, check=False
    )
    assert done.returncode == 0, done.stderr[-300:]
    assert "https://b.example.org/" in done.stdout
    assert "may nest deeper than" in done.stdout
