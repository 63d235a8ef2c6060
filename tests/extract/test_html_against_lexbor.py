"""The HTML tokenizer finds the same attribute URLs as a full HTML5 parser (Lexbor, via
selectolax) on every HTML fixture."""

from __future__ import annotations

import pytest
from selectolax.lexbor import LexborHTMLParser

from linkwatch.extract import extract_document
from linkwatch.extract.html import srcset_candidates
from linkwatch.urls import try_canonicalize
from tests.extract.conftest import FIXTURES

_RESOURCE = {"stylesheet", "icon", "preload", "preconnect", "dns-prefetch", "modulepreload"}
HTML_FIXTURES = sorted(
    p.name
    for p in FIXTURES.iterdir()
    if extract_document(p.name, p.read_bytes()).format.value == "html"
)


def _lexbor_urls(html: str) -> set[str]:
    found: set[str] = set()
    for node in LexborHTMLParser(html).css("[href],[src],[cite],[poster],[srcset],object[data]"):
        attrs = node.attributes
        rels = set((attrs.get("rel") or "").lower().split())
        if node.tag == "base" or (node.tag == "link" and rels & _RESOURCE):
            continue
        values = [attrs.get(k) for k in ("href", "src", "cite", "poster")]
        values += [u for u, _ in srcset_candidates(attrs.get("srcset") or "")]
        values += [attrs.get("data")] if node.tag == "object" else []
        for value in values:
            if value and value.strip().lower().startswith(("http://", "https://")):
                key, _ = try_canonicalize(value.strip())
                found.add(key or value.strip())
    return found


@pytest.mark.parametrize("name", HTML_FIXTURES)
def test_attribute_urls_match_an_html5_parser(name: str) -> None:
    data = (FIXTURES / name).read_bytes()
    result = extract_document(name, data, self_links=True)  # every <link> the parser sees
    ours = {
        result.keys[c.url][0] or c.url
        for c in result.citations
        if "@" in c.source and c.raw.lower().startswith(("http://", "https://"))
    }
    assert ours == _lexbor_urls(data.decode("utf-8", "replace"))
