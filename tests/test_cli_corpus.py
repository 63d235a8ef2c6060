"""``linkwatch extract`` (no database) and ``linkwatch scan`` (into the state database)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from linkwatch.cli import cli

FIXTURES = Path(__file__).resolve().parent / "fixtures"


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def jsonl(result: Result) -> list[dict[str, object]]:
    return [json.loads(line) for line in result.stdout.splitlines() if line.strip()]


@pytest.fixture
def config(tmp_path: Path) -> Path:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "a.md").write_text("[one](https://one.example.org/) www.two.example.org\n")
    (corpus / "b.html").write_text('<a href="https://one.example.org/x">x</a>\n')
    path = tmp_path / "linkwatch.toml"
    path.write_text('[corpus]\npaths = ["corpus"]\n[state]\npath = "state/lw.db"\n')
    return path


def test_extract_jsonl_has_provenance_fields() -> None:
    result = run("extract", "--format", "jsonl", str(FIXTURES / "markdown_links.md"))
    assert result.exit_code == 0
    records = jsonl(result)
    assert len(records) == 8
    first = records[0]
    assert first == {
        "url": "https://md.example.org/inline",
        "document": str(FIXTURES / "markdown_links.md"),
        "line": 3,
        "column": 18,
        "text": "inline link",
        "source": "markdown:link",
        "raw": "https://md.example.org/inline",
    }


def test_extract_walks_folders_and_labels_documents_by_the_path_given(config: Path) -> None:
    folder = str(config.parent / "corpus")
    records = jsonl(run("extract", "--format", "jsonl", folder))
    assert {r["document"] for r in records} == {f"{folder}/a.md", f"{folder}/b.html"}
    assert {r["url"] for r in records} == {
        "https://one.example.org/",
        "http://www.two.example.org",
        "https://one.example.org/x",
    }


def test_extract_json_is_one_list() -> None:
    result = run("extract", "--format", "json", str(FIXTURES / "html_base_href.html"))
    records = json.loads(result.stdout)
    assert [r["raw"] for r in records][:1] == ["guide.html"]


def test_extract_text_lines() -> None:
    result = run("extract", str(FIXTURES / "archive_urls.md"))
    lines = result.stdout.splitlines()
    assert lines[0].endswith("(archived copy of https://gone.example.org/page)")
    assert ":1:18: https://web.archive.org/web/20200102030405/" in lines[0]


def test_extract_marks_archive_urls_with_their_original() -> None:
    records = jsonl(run("extract", "--format", "jsonl", str(FIXTURES / "archive_urls.md")))
    assert records[0]["archived_original"] == "https://gone.example.org/page"
    assert "archived_original" not in records[2]


def test_extract_warnings_go_to_stderr_and_exit_zero() -> None:
    result = run(
        "extract",
        "--format",
        "jsonl",
        str(FIXTURES / "urls_with_control_chars.html"),
        str(FIXTURES / "binary.png"),
    )
    assert result.exit_code == 0
    assert "warning:" in result.stderr and "binary file" in result.stderr
    invalid = [r for r in jsonl(result) if "invalid" in r]
    assert len(invalid) == 2  # a bad port and a bad host; newlines are dropped (URL standard)


def test_extract_missing_path_is_a_clear_error() -> None:
    result = run("extract", "no/such/file.md")
    assert result.exit_code == 5
    assert "no such file or folder: no/such/file.md" in result.stderr


def test_extract_needs_a_path() -> None:
    assert run("extract").exit_code == 2


def test_scan_then_rescan(config: Path) -> None:
    first = run("--config", str(config), "scan", "--format", "json")
    assert first.exit_code == 0, first.output
    summary = json.loads(first.stdout)
    assert (summary["documents_changed"], summary["links_new"]) == (2, 3)
    again = json.loads(run("--config", str(config), "scan", "--format", "json").stdout)
    assert (again["documents_unchanged"], again["documents_changed"]) == (2, 0)


def test_scan_text_summary(config: Path) -> None:
    result = run("--config", str(config), "scan")
    assert "documents: 2 seen, 2 changed" in result.stdout
    assert "links: 3 new (0 invalid)" in result.stdout


def test_scan_of_a_missing_corpus_is_exit_code_5(tmp_path: Path) -> None:
    path = tmp_path / "linkwatch.toml"
    path.write_text('[corpus]\npaths = ["nowhere/**/*.md"]\n[state]\npath = "s.db"\n')
    result = run("--config", str(path), "scan")
    assert result.exit_code == 5
    assert "does not exist" in result.stderr


def test_jsonl_and_json_formats_carry_the_same_records() -> None:
    paths = [str(p) for p in sorted(FIXTURES.iterdir())]
    lines = jsonl(run("extract", "--format", "jsonl", *paths))
    listed = json.loads(run("extract", "--format", "json", *paths).stdout)
    assert lines == listed
    assert any("\n" in r["url"] for r in lines)  # control characters survive the escaping
    assert any("\u2019" in r["text"] or "é" in r["url"] for r in lines)


def test_extract_text_never_writes_terminal_control_characters(tmp_path: Path) -> None:
    page = tmp_path / "evil.html"
    page.write_text(
        "<p>" + "text " * 600 + "</p>"
        '<a href="https://a.example.org/\x1b[2J">x\x1b]0;owned\x07 y</a>\n'
    )
    result = run("extract", str(page))
    assert "a.example.org" in result.stdout
    assert not any(ch in result.stdout for ch in "\x1b\x07")
    assert "\x1b" not in result.stderr
