"""The acceptance corpus in ../shared/corpus: exactly the 35 expected URLs, all from 002."""

from __future__ import annotations

from pathlib import Path

import pytest

from linkwatch.extract import extract_document
from linkwatch.model import DocFormat

REPO = Path(__file__).resolve().parents[2]
CORPUS = REPO.parent / "shared" / "corpus"

pytestmark = pytest.mark.skipif(
    not (CORPUS / "expected-urls.txt").is_file(),
    reason=f"the shared sample corpus is not at {CORPUS}",
)


def _documents() -> list[Path]:
    return sorted(p for p in CORPUS.glob("*.txt") if p.name != "expected-urls.txt")


def test_corpus_yields_exactly_the_expected_urls() -> None:
    expected = set((CORPUS / "expected-urls.txt").read_text().split())
    found = {
        c.url for p in _documents() for c in extract_document(p.name, p.read_bytes()).citations
    }
    assert found == expected
    assert len(found) == 35


def test_only_the_front_matter_html_document_cites_anything() -> None:
    citing = {p.name for p in _documents() if extract_document(p.name, p.read_bytes()).citations}
    assert citing == {"002_6d4c0ae86e4c2b04.txt"}


def test_front_matter_html_document_is_recognised_from_content() -> None:
    path = CORPUS / "002_6d4c0ae86e4c2b04.txt"
    result = extract_document(path.name, path.read_bytes())
    assert result.format is DocFormat.HTML
    assert result.self_url == (
        "https://www.pbump.net/o/ices-excuse-for-wearing-masks-has-never-actually-manifested/"
    )
    assert result.access_date == "2026-01-29T22:46:19+00:00"
    assert result.warnings == []


def test_the_e_mail_address_in_the_scraped_text_is_not_a_link() -> None:
    path = CORPUS / "000_8e10099e3a3b3f1b.txt"
    assert b"@gmail.com" in path.read_bytes()
    assert extract_document(path.name, path.read_bytes()).citations == []
