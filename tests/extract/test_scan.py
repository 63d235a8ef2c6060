"""scan_corpus: what a scan records, and what a rescan re-reads."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import pytest

from linkwatch.config import CorpusSettings, Settings
from linkwatch.errors import CorpusError
from linkwatch.extract import iter_corpus_files
from linkwatch.jobs.scan import scan_corpus
from tests.kit.rows import document_link_ids


def _settings(root: Path, paths: tuple[str, ...] = ("corpus/**/*",), **kw: object) -> Settings:
    return Settings(corpus=CorpusSettings(paths=paths, **kw), base_dir=str(root))  # type: ignore[arg-type]


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    root = tmp_path / "corpus"
    (root / "sub").mkdir(parents=True)
    (root / "a.md").write_text("[one](https://one.example.org/) and https://two.example.org/\n")
    (root / "sub" / "b.html").write_text(
        "---\nlink: https://self.example.org/b/\ndate: 2025-03-04\n---\n"
        '<p><a href="https://one.example.org/#frag">again</a> <a href="rel/">rel</a></p>\n'
    )
    (root / "c.txt").write_text("Nothing to see.\n")
    return root


def test_first_scan_records_documents_links_and_citations(tmp_path, corpus, store) -> None:
    summary = scan_corpus(_settings(tmp_path), store)
    assert (summary.documents_seen, summary.documents_changed) == (3, 3)
    assert summary.citations_added == 5
    assert summary.links_new == 4
    links = {r["url"] for r in store.query("SELECT url FROM links")}
    assert links == {
        "https://one.example.org/",
        "https://two.example.org/",
        "https://self.example.org/b/",
        "https://self.example.org/b/rel/",
    }
    doc = store.query("SELECT * FROM documents WHERE path = 'corpus/sub/b.html'")[0]
    assert (doc["format"], doc["front_matter_url"], doc["access_date"]) == (
        "html",
        "https://self.example.org/b/",
        "2025-03-04",
    )
    assert store.scalar("SELECT fragment FROM citations WHERE text = 'again'") == "frag"


def test_rescan_of_unchanged_documents_writes_nothing(tmp_path, corpus, store) -> None:
    settings = _settings(tmp_path)
    scan_corpus(settings, store)
    changes = store.conn.total_changes
    summary = scan_corpus(settings, store)
    assert (summary.documents_unchanged, summary.documents_changed) == (3, 0)
    assert store.conn.total_changes == changes


def test_touched_but_identical_file_is_not_re_extracted(tmp_path, corpus, store) -> None:
    settings = _settings(tmp_path)
    scan_corpus(settings, store)
    os.utime(corpus / "a.md", (1_000_000, 1_000_000))
    summary = scan_corpus(settings, store)
    assert (summary.documents_unchanged, summary.documents_changed) == (3, 0)
    assert store.scalar("SELECT mtime FROM documents WHERE path = 'corpus/a.md'") == 1_000_000


def test_changed_document_ends_the_citations_it_dropped(tmp_path, corpus, store, clock) -> None:
    settings = _settings(tmp_path)
    scan_corpus(settings, store)
    clock.advance(days=1)
    (corpus / "a.md").write_text("Only https://two.example.org/ now, and more text.\n")
    summary = scan_corpus(settings, store)
    assert (summary.documents_changed, summary.citations_ended) == (1, 1)
    ended = store.query("SELECT raw_url, ended_at FROM citations WHERE ended_at IS NOT NULL")
    assert ended == [
        {"raw_url": "https://one.example.org/", "ended_at": "2026-01-02T00:00:00+00:00"}
    ]


def test_removed_document_is_marked_and_its_citations_end(tmp_path, corpus, store) -> None:
    settings = _settings(tmp_path)
    scan_corpus(settings, store)
    (corpus / "sub" / "b.html").unlink()
    summary = scan_corpus(settings, store)
    assert (summary.documents_removed, summary.citations_ended) == (1, 3)
    assert (
        store.scalar(
            "SELECT removed_at IS NOT NULL FROM documents WHERE path = 'corpus/sub/b.html'"
        )
        == 1
    )


def test_an_emptied_corpus_changes_nothing_and_says_why(tmp_path, corpus, store) -> None:
    """An unmounted disk looks like every document deleted: refuse instead of retiring all."""
    settings = _settings(tmp_path)
    scan_corpus(settings, store)
    for path in sorted(corpus.rglob("*"), reverse=True):
        path.unlink() if path.is_file() else path.rmdir()
    corpus.mkdir(exist_ok=True)
    with pytest.raises(CorpusError, match="3 were known: is its disk mounted"):
        scan_corpus(settings, store)
    assert store.scalar("SELECT COUNT(*) FROM documents WHERE removed_at IS NULL") == 3
    assert store.scalar("SELECT COUNT(*) FROM citations WHERE ended_at IS NULL") == 5


def test_archive_url_is_recorded_against_the_original(tmp_path, store) -> None:
    (tmp_path / "corpus").mkdir()
    copy = "https://web.archive.org/web/20200101000000/https://gone.example.org/x"
    (tmp_path / "corpus" / "a.md").write_text(f"[archived]({copy})\n")
    scan_corpus(_settings(tmp_path), store)
    assert store.query("SELECT url, archived_copy FROM links") == [
        {"url": "https://gone.example.org/x", "archived_copy": copy}
    ]


def test_invalid_urls_and_warnings_are_recorded(tmp_path, store) -> None:
    (tmp_path / "corpus").mkdir()
    (tmp_path / "corpus" / "bad.html").write_text('<a href="https://exa mple.org/">x</a>\n')
    (tmp_path / "corpus" / "bin.dat").write_bytes(b"\x00\x01\x02" * 1000)
    summary = scan_corpus(_settings(tmp_path), store)
    assert summary.links_invalid == 1
    assert summary.warnings == 2
    assert store.scalar("SELECT state FROM links") == "invalid"
    warnings = json.loads(
        store.scalar("SELECT warnings FROM documents WHERE path = 'corpus/bin.dat'")
    )
    assert "binary" in warnings[0]["message"]


def test_stop_finishes_the_current_document_and_returns(tmp_path, corpus, store) -> None:
    stop = threading.Event()
    stop.set()
    summary = scan_corpus(_settings(tmp_path), store, stop=stop)
    assert summary.stopped
    assert summary.documents_changed == 1
    assert store.scalar("SELECT count(*) FROM documents") == 1


def test_progress_reports_every_document(tmp_path, corpus, store) -> None:
    seen: list[tuple[int, int]] = []
    scan_corpus(_settings(tmp_path), store, progress=lambda d, t: seen.append((d, t)))
    assert seen[-1] == (3, 3)


def test_worker_processes_give_the_same_result(tmp_path, corpus, store) -> None:
    summary = scan_corpus(_settings(tmp_path), store, workers=2)
    assert (summary.documents_changed, summary.citations_added) == (3, 5)


def test_missing_corpus_path_is_a_corpus_error(tmp_path, store) -> None:
    with pytest.raises(CorpusError, match="does not exist"):
        scan_corpus(_settings(tmp_path, ("articles/**/*.md",)), store)


def test_missing_corpus_file_is_a_corpus_error(tmp_path) -> None:
    with pytest.raises(CorpusError, match="missing.md"):
        list(iter_corpus_files(_settings(tmp_path, ("missing.md",))))


def test_exclude_and_hidden_files(tmp_path, corpus) -> None:
    (corpus / ".git").mkdir()
    (corpus / ".git" / "config").write_text("https://hidden.example.org/")
    settings = _settings(tmp_path, ("corpus",), exclude=("corpus/sub",))
    names = [p.name for p in iter_corpus_files(settings)]
    assert names == ["a.md", "c.txt"]


def test_rescan_reads_no_unchanged_file(tmp_path, corpus, store, monkeypatch) -> None:
    settings = _settings(tmp_path)
    scan_corpus(settings, store)

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("an unchanged document was read")

    monkeypatch.setattr("linkwatch.jobs.scan.read_capped", refuse)
    assert scan_corpus(settings, store).documents_unchanged == 3


def test_a_new_extractor_version_re_reads_everything(tmp_path, corpus, store) -> None:
    settings = _settings(tmp_path)
    scan_corpus(settings, store)
    store.set_meta("extract.version", "0")
    summary = scan_corpus(settings, store)
    assert (summary.documents_changed, summary.citations_added, summary.citations_ended) == (
        3,
        0,
        0,
    )
    assert store.get_meta("extract.version") != "0"


def test_turning_on_an_extraction_option_re_reads_everything(tmp_path, corpus, store) -> None:
    (corpus / "refs.md").write_text("# Refs\n\n[spare]: https://spare.example.org/\n")
    scan_corpus(_settings(tmp_path), store)
    assert store.scalar("SELECT count(*) FROM links WHERE url LIKE '%spare%'") == 0
    summary = scan_corpus(_settings(tmp_path, unused_references=True), store)
    assert (summary.documents_changed, summary.citations_added) == (4, 1)
    assert store.scalar("SELECT count(*) FROM links WHERE url LIKE '%spare%'") == 1


def test_a_document_that_comes_back_is_active_again(tmp_path, corpus, store) -> None:
    settings = _settings(tmp_path)
    scan_corpus(settings, store)
    saved = (corpus / "a.md").read_bytes()
    (corpus / "a.md").unlink()
    scan_corpus(settings, store)
    (corpus / "a.md").write_bytes(saved)
    summary = scan_corpus(settings, store)
    assert summary.citations_added == 2
    assert store.scalar("SELECT removed_at FROM documents WHERE path = 'corpus/a.md'") is None
    assert len(document_link_ids(store, "corpus/a.md")) == 2


def test_a_document_that_cannot_be_read_keeps_its_citations(
    tmp_path, corpus, store, monkeypatch
) -> None:
    settings = _settings(tmp_path)
    scan_corpus(settings, store)
    (corpus / "a.md").write_text(
        "[one](https://one.example.org/) edited, https://two.example.org/\n"
    )

    def denied(path: Path, max_bytes: int) -> tuple[bytes, str | None]:
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr("linkwatch.jobs.scan.read_capped", denied)
    summary = scan_corpus(settings, store)
    assert (summary.citations_ended, summary.warnings) == (0, 1)
    assert "Permission denied" in summary.warning_samples[0]
    assert len(document_link_ids(store, "corpus/a.md")) == 2
    monkeypatch.undo()
    assert scan_corpus(settings, store).documents_changed == 1  # read again once readable


def test_a_file_reached_through_folder_links_is_one_document(tmp_path, corpus) -> None:
    (corpus / "sub" / "up").symlink_to("..")  # a loop: corpus/sub/up/sub/up/...
    (corpus / "latest").symlink_to("sub")  # an alias
    names = [p.relative_to(corpus).as_posix() for p in iter_corpus_files(_settings(tmp_path))]
    assert names == ["a.md", "c.txt", "sub/b.html"]


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ("corpus/*.md", ["a.md"]),
        ("corpus/*/*.html", ["sub/b.html"]),
        ("corpus/**/*.html", ["sub/b.html"]),
        ("corpus/**", ["a.md", "c.txt", "sub/b.html"]),
        ("corpus/[ab].*", ["a.md"]),
    ],
    ids=["one-folder", "one-level-down", "any-depth", "everything", "character-class"],
)
def test_glob_patterns(tmp_path, corpus, pattern, expected) -> None:
    names = [
        p.relative_to(corpus).as_posix() for p in iter_corpus_files(_settings(tmp_path, (pattern,)))
    ]
    assert names == expected
