"""The day a source was cited, by the first source that has one: the date the document
states for the citation, the document's own date, the first git commit that added the
URL to the file, the first time linkwatch saw it. Dates before 2001 or in the future are
not dates a source was cited on."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from linkwatch.cli import cli
from linkwatch.extract import extract_document
from linkwatch.store import open_store

NOW = "2026-03-01T00:00:00Z"


def stated(text: str, name: str = "d.md") -> dict[str, str | None]:
    return {c.url: c.accessed for c in extract_document(name, text.encode()).citations}


def test_a_document_states_dates_per_citation_in_each_format() -> None:
    found = stated(
        "---\nsources:\n  - url: https://a.example/one\n    accessed: 2021-03-04\n"
        "  - https://a.example/two\n---\n"
        '[x](https://b.example/ "Retrieved 5 May 2020") [see][r] '
        '[y](https://c.example/ "Budget 2019-01-01")\n\n'
        '[r]: https://d.example/ "accessed May 6, 2021"\n\n'
        '<a href="https://e.example/" data-versiondate="2019-07-08">e</a>\n'
    )
    assert found == {
        "https://a.example/one": "2021-03-04",  # the field beside the URL
        "https://a.example/two": None,
        "https://b.example/": "2020-05-05",  # a title that says when it was retrieved
        "https://c.example/": None,  # a title naming some other date is no access date
        "https://d.example/": "2021-05-06",
        "https://e.example/": "2019-07-08",  # Robust Links
    }


def _git(repo: Path, *args: str, when: str | None = None) -> None:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("GIT_")},
        "GIT_AUTHOR_NAME": "Curator",
        "GIT_AUTHOR_EMAIL": "curator@example.org",
        "GIT_COMMITTER_NAME": "Curator",
        "GIT_COMMITTER_EMAIL": "curator@example.org",
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_CONFIG_NOSYSTEM": "1",
    }
    if when:
        env["GIT_AUTHOR_DATE"] = env["GIT_COMMITTER_DATE"] = when
    subprocess.run(
        ["git", *args],
        cwd=repo,
        env=env,
        check=True,
        capture_output=True,
        timeout=30,
    )


def _citations(home: Path) -> dict[str, dict[str, Any]]:
    result = CliRunner().invoke(
        cli, ["--config", str(home / "linkwatch.toml"), "--now", NOW, "report"],
        catch_exceptions=False,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    data = json.loads((home / "reports" / "report.json").read_text(encoding="utf-8"))
    return {link["url"]: link["citations"][0] for link in data["links"]}


def _home(tmp_path: Path) -> Path:
    (tmp_path / "corpus").mkdir()
    (tmp_path / "linkwatch.toml").write_text(
        '[corpus]\npaths = ["corpus/**/*"]\n[state]\npath = "state/lw.db"\n'
        '[report]\ndir = "reports/"\n',
        encoding="utf-8",
    )
    return tmp_path


def _scan(home: Path) -> None:
    result = CliRunner().invoke(
        cli, ["--config", str(home / "linkwatch.toml"), "--now", NOW, "scan"],
        catch_exceptions=False,
    )  # fmt: skip
    assert result.exit_code == 0, result.output


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_in_a_git_repository_the_first_commit_that_added_a_url_dates_its_citation(
    tmp_path: Path,
) -> None:
    home = _home(tmp_path)
    notes = home / "corpus" / "notes.txt"
    _git(home, "init", "-q")
    notes.write_text("Budget: https://gov.example/budget-2019\n", encoding="utf-8")
    _git(home, "add", "corpus/notes.txt")
    _git(home, "commit", "-q", "-m", "first", when="2019-05-05T10:00:00+00:00")
    notes.write_text(
        "Budget: https://gov.example/budget-2019\nAnnex: https://gov.example/annex\n",
        encoding="utf-8",
    )
    _git(home, "commit", "-q", "-am", "annex", when="2021-03-03T10:00:00+00:00")
    notes.write_text(notes.read_text() + "Draft: https://gov.example/draft\n", encoding="utf-8")

    _scan(home)

    dates = {url: (c["access_date"], c["access_source"]) for url, c in _citations(home).items()}
    assert dates == {
        "https://gov.example/budget-2019": ("2019-05-05", "first git commit"),
        "https://gov.example/annex": ("2021-03-03", "first git commit"),
        "https://gov.example/draft": ("2026-03-01", "first seen by linkwatch"),  # uncommitted
    }
    store = open_store(home / "state" / "lw.db")
    try:
        store.plan_archive_queue(NOW)
        link_id = store.scalar("SELECT id FROM links WHERE url = 'https://gov.example/annex'")
        item = store.archive_item(int(link_id))
        assert item is not None and item.access_dates == ("2021-03-03",)  # what the IABot rule uses
    finally:
        store.close()


def test_the_chain_prefers_a_stated_date_then_the_documents_and_rejects_impossible_ones(
    tmp_path: Path,
) -> None:
    home = _home(tmp_path)
    (home / "corpus" / "a.md").write_text(
        "---\ndate: 2022-02-02\n---\n"
        '[own](https://a.example/own "accessed 2020-01-02") and [doc](https://a.example/doc)\n',
        encoding="utf-8",
    )
    (home / "corpus" / "b.md").write_text(
        "---\ndate: 1999-01-01\n---\n[old](https://b.example/old)\n", encoding="utf-8"
    )
    (home / "corpus" / "c.html").write_text(
        '<a href="https://c.example/future" data-versiondate="2099-01-01">f</a>\n'
        '<a href="https://c.example/ok" data-versiondate="2024-06-07">ok</a>\n',
        encoding="utf-8",
    )

    _scan(home)

    dates = {url: (c["access_date"], c["access_source"]) for url, c in _citations(home).items()}
    assert dates == {
        "https://a.example/own": ("2020-01-02", "stated in the citation"),
        "https://a.example/doc": ("2022-02-02", "the document's date"),
        "https://b.example/old": ("2026-03-01", "first seen by linkwatch"),  # 1999: no
        "https://c.example/future": ("2026-03-01", "first seen by linkwatch"),  # 2099: no
        "https://c.example/ok": ("2024-06-07", "stated in the citation"),
    }


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_only_files_git_tracks_have_their_history_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An untracked or ignored document (a generated corpus inside a work tree) costs no
    ``git log``: one ``git ls-files`` per folder says which files git knows."""
    import subprocess

    from linkwatch.jobs import gitdates

    home = tmp_path / "repo"
    (home / "corpus").mkdir(parents=True)
    _git(home, "init", "-q")
    (home / "corpus" / "kept.md").write_text("see https://gov.example/a\n")
    (home / "corpus" / "loose.md").write_text("see https://gov.example/b\n")
    _git(home, "add", "corpus/kept.md")
    _git(home, "commit", "-q", "-m", "first", when="2020-02-02T10:00:00+00:00")
    monkeypatch.setattr(gitdates, "_tracked", {})
    logs: list[list[str]] = []
    real = subprocess.Popen

    def popen(argv: list[str], *args: object, **kwargs: object) -> object:
        logs.append(argv)
        return real(argv, *args, **kwargs)  # type: ignore[call-overload]

    monkeypatch.setattr(subprocess, "Popen", popen)
    for name in ("kept.md", "loose.md"):
        gitdates.first_added(home / "corpus" / name, ["https://gov.example/a"])
    assert [a[-1] for a in logs if "log" in a] == ["kept.md"]
    assert gitdates.first_added(home / "corpus" / "kept.md", ["https://gov.example/a"]) == {
        "https://gov.example/a": "2020-02-02T10:00:00+00:00"
    }
    assert not gitdates.tracked(tmp_path / "elsewhere" / "x.md")  # outside a work tree
