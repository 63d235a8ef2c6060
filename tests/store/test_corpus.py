"""CorpusStore: links per canonical URL, citations with history, removed documents."""

from __future__ import annotations

from linkwatch.store import Store
from linkwatch.store.corpus import CitationRecord, DocumentRecord
from tests.kit.rows import active_citations, document_link_ids


def _cite(link: str, line: int = 1, source: str = "a@href", **kw: object) -> CitationRecord:
    host = "" if kw.get("invalid_reason") else link.split("/")[2]
    return CitationRecord(link, host, line, 1, "text", source, kw.pop("raw", link), **kw)  # type: ignore[arg-type]


def _doc(path: str, *cites: CitationRecord, digest: str = "h1") -> DocumentRecord:
    return DocumentRecord(path, 10, 1.0, digest, "html", citations=list(cites))


def test_one_link_row_per_canonical_url(store: Store) -> None:
    counts = store.record_documents(
        [
            _doc("a.html", _cite("https://x.org/"), _cite("https://x.org/", line=5)),
            _doc("b.html", _cite("https://x.org/")),
        ]
    )
    assert counts.links_new == 1
    assert counts.citations_added == 3
    (link,) = store.query("SELECT url, host, state, next_check_at, first_seen_at FROM links")
    assert link == {
        "url": "https://x.org/",
        "host": "x.org",
        "state": "new",
        "next_check_at": None,
        "first_seen_at": "2026-01-01T00:00:00+00:00",
    }


def test_repeated_citations_get_occurrence_numbers(store: Store) -> None:
    store.record_documents([_doc("a.html", _cite("https://x.org/"), _cite("https://x.org/", 9))])
    rows = store.query("SELECT occurrence, line FROM citations ORDER BY occurrence")
    assert rows == [{"occurrence": 0, "line": 1}, {"occurrence": 1, "line": 9}]


def test_a_citation_that_disappears_ends_and_history_is_kept(store: Store, clock) -> None:
    store.record_documents([_doc("a.html", _cite("https://x.org/"), _cite("https://y.org/"))])
    clock.advance(days=1)
    counts = store.record_documents([_doc("a.html", _cite("https://x.org/"), digest="h2")])
    assert counts.citations_ended == 1
    rows = store.query(
        "SELECT l.url, c.ended_at FROM citations c JOIN links l ON l.id = c.link_id ORDER BY l.url"
    )
    assert rows == [
        {"url": "https://x.org/", "ended_at": None},
        {"url": "https://y.org/", "ended_at": "2026-01-02T00:00:00+00:00"},
    ]


def test_a_moved_citation_is_updated_not_ended(store: Store) -> None:
    store.record_documents([_doc("a.html", _cite("https://x.org/", line=1))])
    counts = store.record_documents([_doc("a.html", _cite("https://x.org/", line=7), digest="h2")])
    assert (counts.citations_added, counts.citations_ended) == (0, 0)
    assert store.scalar("SELECT line FROM citations") == 7


def test_removed_document_ends_its_citations(store: Store, clock) -> None:
    store.record_documents([_doc("a.html", _cite("https://x.org/"))])
    clock.advance(hours=1)
    assert store.remove_documents(["a.html"]) == 1
    assert store.scalar("SELECT removed_at FROM documents") == "2026-01-01T01:00:00+00:00"
    assert store.scalar("SELECT count(*) FROM citations WHERE ended_at IS NULL") == 0
    assert document_link_ids(store, "a.html") == []


def test_invalid_urls_get_an_invalid_link_row(store: Store) -> None:
    bad = _cite("http://exa mple.org/", invalid_reason="bad host 'exa mple.org'")
    counts = store.record_documents([_doc("a.html", bad)])
    assert counts.links_invalid == 1
    row = store.query("SELECT url, state, invalid_reason, host FROM links")[0]
    assert row == {
        "url": "http://exa mple.org/",
        "state": "invalid",
        "invalid_reason": "bad host 'exa mple.org'",
        "host": "",
    }


def test_archived_copy_is_set_on_the_original_link(store: Store) -> None:
    copy = "https://web.archive.org/web/2020/https://x.org/a"
    store.record_documents([_doc("a.html", _cite("https://x.org/a", raw=copy, archived_copy=copy))])
    assert store.scalar("SELECT archived_copy FROM links") == copy
    assert store.scalar("SELECT raw_url FROM citations") == copy


def test_document_link_ids_and_active_citations(store: Store) -> None:
    store.record_documents(
        [
            _doc("a.html", _cite("https://x.org/"), _cite("https://y.org/")),
            _doc("b.html", _cite("https://x.org/", line=3)),
        ]
    )
    ids = document_link_ids(store, "a.html")
    assert len(ids) == 2
    x_id = store.scalar("SELECT id FROM links WHERE url = 'https://x.org/'")
    assert [(c["document"], c["line"]) for c in active_citations(store, x_id)] == [
        ("a.html", 1),
        ("b.html", 3),
    ]


def test_document_states_for_rescans(store: Store) -> None:
    store.record_documents([_doc("a.html", _cite("https://x.org/"))])
    state = store.document_states()["a.html"]
    assert (state.size, state.mtime, state.content_hash, state.removed) == (10, 1.0, "h1", False)
