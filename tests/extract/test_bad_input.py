"""Bad input is a warning on the document, never an exception, and memory stays bounded."""

from __future__ import annotations

import io
import resource
import time

import pytest
from pypdf import PdfWriter
from pypdf.annotations import Link

from linkwatch.extract import extract_document, read_capped
from linkwatch.model import DocFormat
from tests.extract.conftest import urls


def test_binary_files_are_skipped_with_a_warning(extract_fixture) -> None:
    result = extract_fixture("binary.png")
    assert result.format is DocFormat.BINARY
    assert result.citations == []
    assert "binary" in result.warnings[0].message


def test_invalid_utf8_is_decoded_as_far_as_possible(extract_fixture) -> None:
    result = extract_fixture("invalid_utf8.md")
    assert urls(result) == [
        "https://utf8.example.org/after-bad-byte",
        "https://utf8.example.org/second",
    ]
    assert "invalid UTF-8" in result.warnings[0].message


def test_control_characters_in_urls_are_handled_as_a_browser_does(extract_fixture) -> None:
    """The URL standard drops tabs and newlines and percent-encodes other controls, so no
    raw CR or LF can ever reach a request line; bad ports and hosts stay invalid."""
    result = extract_fixture("urls_with_control_chars.html")
    invalid = {url: reason for url, (key, reason) in result.keys.items() if key is None}
    assert sorted(invalid.values()) == [
        "bad host 'exa mple.org'",
        "port 99999 out of range 1-65535",
    ]
    keys = {key for key, _ in result.keys.values() if key is not None}
    assert "https://ctl.example.org/aSet-Cookie:%20x=1" in keys
    assert all("\r" not in key and "\n" not in key for key in keys)
    assert len(result.warnings) == 2


def test_nul_in_a_front_matter_url_is_percent_encoded(extract_fixture) -> None:
    result = extract_fixture("frontmatter_control_chars.md")
    ((key, reason),) = result.keys.values()
    assert reason is None
    assert key is not None and "\x00" not in key and "%00" in key


def test_a_million_links_are_capped(tmp_path) -> None:
    body = b"https://many.example.org/x " * 1_000_000
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    result = extract_document("many.txt", body, max_links=1000)
    grown_mib = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert len(result.citations) == 1000
    assert "more than 1000 links" in result.warnings[-1].message
    assert grown_mib < 200


def test_huge_single_line_file_is_read_only_up_to_the_cap(tmp_path) -> None:
    path = tmp_path / "huge_line.txt"
    with path.open("wb") as fh:
        fh.write(b"https://huge.example.org/start ")
        for _ in range(8):
            fh.write(b"x" * (1024 * 1024))
    data, warning = read_capped(path, 1024 * 1024)
    assert len(data) == 1024 * 1024
    assert "larger than 1048576 bytes" in (warning or "")
    assert urls(extract_document("huge_line.txt", data)) == ["https://huge.example.org/start"]


def test_very_long_url_is_invalid() -> None:
    body = b"https://long.example.org/" + b"a" * 10_000
    result = extract_document("long.txt", body, max_url_length=8192)
    ((key, reason),) = result.keys.values()
    assert key is None
    assert "longer than 8192" in reason


def test_pdf_link_annotations_are_citations_with_the_page_as_line() -> None:
    writer = PdfWriter()
    writer.add_blank_page(200, 200)
    writer.add_blank_page(200, 200)
    writer.add_annotation(1, Link(rect=(0, 0, 50, 50), url="https://pdf.example.org/p2"))
    buffer = io.BytesIO()
    writer.write(buffer)
    result = extract_document("paper.pdf", buffer.getvalue())
    assert result.format is DocFormat.PDF
    assert [(c.url, c.line, c.source) for c in result.citations] == [
        ("https://pdf.example.org/p2", 2, "pdf:link")
    ]


def test_corrupt_pdf_is_a_warning() -> None:
    result = extract_document("broken.pdf", b"%PDF-1.7\n garbage")
    assert result.citations == []
    assert "PDF could not be read" in result.warnings[0].message


def test_unterminated_comment_hides_the_rest_with_a_warning() -> None:
    result = extract_document("c.html", b"<p>a</p><p>b</p><p>c</p><!-- https://c.example.org/")
    assert result.citations == []
    assert "unterminated comment" in result.warnings[0].message


def _quick(body: bytes, **kw: int) -> float:
    started = time.monotonic()
    extract_document("pathological", body, **kw)
    return time.monotonic() - started


@pytest.mark.parametrize(
    "body",
    [
        b"x](" * 200_000,
        b"`a" * 200_000,
        b"`x` https://p.example.org/ " * 50_000,
        b"<p>" * 300_000,
        b"[" * 100_000 + b"](https://p.example.org/)" * 1000,
        b"<html>" + b"<a" * 50_000,
        b"<html>" + b"<link " * 50_000,
        b"<html>" + b"<base href=x " * 50_000,
        b"# T\n\n" + b"[" * 50_000 + b"](" * 50_000,
        b"# T\n\n" + b"[a](b (" * 50_000,
        b"# T\n\n" + b"[a](bbbb" * 20_000,
        b"# T\n\n" + b"[a](<" * 50_000,
        b"# T\n\n" + b"x <!--" * 50_000,
        b"# T\n\n" + b"x <!X" * 50_000,
        b"https://p.example.org/" + b"&amp;" * 50_000 + b";",
        b"https://p.example.org/" + b")" * 200_000,
    ],
    ids=[
        "many-link-closers",
        "unclosed-backticks",
        "code-spans-and-urls",
        "many-tags",
        "deep-brackets",
        "html-tag-never-closed",
        "html-link-tags-never-closed",
        "html-base-tags-never-closed",
        "md-opened-destinations",
        "md-unclosed-titles",
        "md-unclosed-destinations",
        "md-unclosed-angle-destinations",
        "md-unclosed-inline-comments",
        "md-unclosed-declarations",
        "url-ending-in-entities",
        "url-ending-in-closing-parentheses",
    ],
)
def test_pathological_documents_stay_fast(body) -> None:
    assert _quick(body, max_links=1000) < 10
