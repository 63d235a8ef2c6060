"""The format comes from the content, never from the file name."""

from __future__ import annotations

import pytest

from linkwatch.extract import extract_document
from linkwatch.extract.sniff import binary_reason, body_format, decode
from linkwatch.model import DocFormat


@pytest.mark.parametrize(
    ("name", "fmt"),
    [
        ("frontmatter_html_body.txt", DocFormat.HTML),
        ("html_attributes.html", DocFormat.HTML),
        ("markdown_links.md", DocFormat.MARKDOWN),
        ("frontmatter_relative_links.md", DocFormat.MARKDOWN),
        ("plain_text_punctuation.txt", DocFormat.TEXT),
        ("xss_anchor_text.md", DocFormat.HTML),
        ("binary.png", DocFormat.BINARY),
    ],
)
def test_fixture_formats(extract_fixture, name, fmt) -> None:
    assert extract_fixture(name).format is fmt


@pytest.mark.parametrize(
    ("body", "fmt"),
    [
        ("<!DOCTYPE html><html><body>x</body></html>", DocFormat.HTML),
        ("<p>One</p>\n<p>Two <a href='x'>y</a></p>", DocFormat.HTML),
        ("# Title\n\nSome [link](https://x.org/).", DocFormat.MARKDOWN),
        (
            "<p align=center>logo</p>\n\n# Readme\n\n[a](b) [c](d) [e](f)\n\n```\nx\n```",
            DocFormat.MARKDOWN,
        ),
        ("Just a paragraph of words with https://x.org/ in it.", DocFormat.TEXT),
        ("", DocFormat.TEXT),
    ],
    ids=[
        "html-document",
        "html-fragment",
        "markdown",
        "markdown-opening-with-html",
        "text",
        "empty",
    ],
)
def test_body_format(body, fmt) -> None:
    assert body_format(body) is fmt


def test_same_bytes_same_format_whatever_the_name() -> None:
    body = b"<p>See <a href='https://n.example.org/'>n</a></p>"
    formats = {extract_document(name, body).format for name in ("a.txt", "b.md", "c", "d.pdf")}
    assert formats == {DocFormat.HTML}


def test_nul_heavy_data_is_binary() -> None:
    assert binary_reason(b"abc\x00\x00\x00def\x00" * 100) is not None


def test_a_stray_control_byte_does_not_make_text_binary() -> None:
    assert binary_reason(b"plain text " * 200 + b"\x00") is None


def test_utf16_with_bom_is_decoded() -> None:
    text, warning = decode("https://u16.example.org/".encode("utf-16"))
    assert text == "https://u16.example.org/"
    assert warning is None
