"""``linkwatch fix`` from the user's view: a small corpus (HTML with CRLF line endings,
Markdown with front matter and a reference link, plain text without a final newline), a
simulated web where some citations die, one moves and one drifts, a fake archive with snapshots."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from linkwatch.cli import cli
from tests.kit.fakewayback import FakeWayback
from tests.kit.simweb import SimWeb

TS = "20200202000000"
RUNS = ("2026-01-01T00:00:00Z", "2026-01-03T00:00:00Z", "2026-01-05T00:00:00Z")

STORY = """---
title: Budget story
date: 2021-01-01
source: {d1}
---
# Budget

The [budget report]({d1}) was cut, see <{d2}> and {d3} too.
The office [moved]({moved}).
Its [press release]({drift}) is a landing page now.

Read [the ref][ref].

[ref]: {d4}
"""
PAGE = (
    '<!doctype html>\r\n<p>See <a class="x" href="{d1}">the report</a>.</p>\r\n'
    "<p><a href='{moved}'>moved</a> &amp; more &#169;</p>\r\n"
)
NOTES = "Source: {d2}\nEnd"


def snap(url: str) -> str:
    return f"https://web.archive.org/web/{TS}/{url}"


@pytest.fixture
def site(tmp_path: Path) -> Iterator[dict[str, Any]]:
    with SimWeb(hosts=1) as web, FakeWayback(minute_s=1.0, cdx_per_minute=300) as wayback:
        urls = {
            "d1": web.url(0, "/gone/budget-2019"),
            "d2": web.url(0, "/gone/annex"),
            "d3": web.url(0, "/status/404/tables"),
            "d4": web.url(0, "/gone/reference"),
            "moved": web.url(0, "/redirect/301/ok/new-office"),
            "drift": web.url(0, "/drift/press-release"),
        }
        for key in ("d1", "d2", "d3", "d4", "drift"):
            wayback.add_capture(urls[key], TS)
        corpus = tmp_path / "corpus"
        corpus.mkdir()
        (corpus / "story.md").write_text(STORY.format(**urls), encoding="utf-8", newline="")
        (corpus / "page.html").write_text(PAGE.format(**urls), encoding="utf-8", newline="")
        (corpus / "notes.txt").write_text(NOTES.format(**urls), encoding="utf-8", newline="")
        config = tmp_path / "linkwatch.toml"
        config.write_text(
            '[corpus]\npaths = ["corpus/**/*"]\n[state]\npath = "state/lw.db"\n'
            '[report]\ndir = "reports/"\n'
            '[check]\nallow_networks = ["127.0.0.0/8"]\nhost_interval_s = 0.0\n'
            'timeout_s = 3.0\nstrikes = 2\nstrike_spacing = "1h"\nfingerprint_every = "1s"\n'
            f'[archive]\nwayback_url = "{wayback.base_url}"\n'
            f'availability_url = "{wayback.base_url}"\nrate_window_s = 1.0\n'
            'memento_sources = []\nsubmit_networks = ["127.0.0.0/8"]\n',
            encoding="utf-8",
        )
        for n, now in enumerate(RUNS):
            if n:  # after the first reading, the press release is replaced
                web.replace(0, "/drift/press-release")
                lw(config, "--now", now, "check", "--all")
            lw(config, "--now", now, "run")
        yield {
            "config": config,
            "corpus": corpus,
            "urls": urls,
            "new": web.url(0, "/ok/new-office"),
        }


def lw(config: Path, *args: str, code: int | tuple[int, ...] = (0, 3)) -> Any:
    result = CliRunner().invoke(cli, ["--config", str(config), *args], catch_exceptions=False)
    codes = code if isinstance(code, tuple) else (code,)
    assert result.exit_code in codes, result.output
    return result


def expected(site: dict[str, Any]) -> dict[str, bytes]:
    u, new = site["urls"], site["new"]
    story = STORY.format(**u)
    story = story.replace(
        f"source: {u['d1']}\n", f"source: {u['d1']}\nsource_archived: {snap(u['d1'])}\n"
    )
    story = story.replace(f"({u['d1']}) was", f"({u['d1']}) ([archived]({snap(u['d1'])})) was")
    story = story.replace(f"<{u['d2']}>", f"<{u['d2']}> ([archived]({snap(u['d2'])}))")
    story = story.replace(f"{u['d3']} too", f"{u['d3']} ([archived]({snap(u['d3'])})) too")
    story = story.replace(f"({u['moved']})", f"({new})")
    story = story.replace(
        f"({u['drift']}) is", f"({u['drift']}) ([archived]({snap(u['drift'])})) is"
    )
    story = story.replace(f"[ref]: {u['d4']}\n", f'[ref]: {snap(u["d4"])} "Archived copy"\n')
    page = PAGE.format(**u)
    page = page.replace(
        f'href="{u["d1"]}">',
        f'href="{u["d1"]}" data-originalurl="{u["d1"]}" data-versionurl="{snap(u["d1"])}" '
        'data-versiondate="2020-02-02">',
    )
    page = page.replace(f"href='{u['moved']}'>", f"href='{new}' data-originalurl=\"{u['moved']}\">")
    notes = NOTES.format(**u).replace(u["d2"], f"{u['d2']} [archived: {snap(u['d2'])}]")
    return {
        "story.md": story.encode(),
        "page.html": page.encode(),
        "notes.txt": notes.encode(),
    }


def files(corpus: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(corpus.iterdir())}


def test_fix_shows_the_diff_and_writes_nothing(site: dict[str, Any]) -> None:
    before = files(site["corpus"])
    result = lw(site["config"], "fix")
    assert files(site["corpus"]) == before  # a dry run
    diff = result.stdout
    assert diff.count("+++ b/corpus/") == 3
    assert f"+source_archived: {snap(site['urls']['d1'])}" in diff
    assert "\\ No newline at end of file" in diff  # notes.txt ends without one
    assert "10 changes proposed in 3 documents" in result.stderr


def test_fix_write_applies_exactly_the_diff_and_a_second_run_proposes_nothing(
    site: dict[str, Any],
) -> None:
    lw(site["config"], "fix", "--write")

    assert files(site["corpus"]) == expected(site)  # byte for byte, CRLF and entities kept
    again = lw(site["config"], "fix", "--check")
    assert again.stdout == "" and "nothing to fix" in again.stderr
    lw(site["config"], "fix", "--write")
    assert files(site["corpus"]) == expected(site)


def test_the_patch_file_applies_to_the_corpus_as_it_was(
    site: dict[str, Any], tmp_path: Path
) -> None:
    patch = tmp_path / "fix.patch"
    before = files(site["corpus"])
    lw(site["config"], "fix", "--patch", str(patch))
    assert files(site["corpus"]) == before  # --patch never edits in place
    if shutil.which("git") is None:
        pytest.skip("git is not installed: the patch is checked with git apply")
    subprocess.run(
        ["git", "apply", "--unsafe-paths", "-p1", str(patch)],
        cwd=site["config"].parent,
        check=True,
        capture_output=True,
        timeout=30,
    )
    assert files(site["corpus"]) == expected(site)


def test_json_has_one_object_per_change_with_its_evidence(site: dict[str, Any]) -> None:
    records = json.loads(lw(site["config"], "fix", "--format", "json", "--only", "dead").stdout)
    assert len(records) == 7 and {r["kind"] for r in records} == {"dead"}
    first = next(r for r in records if r["document"] == "corpus/notes.txt")
    assert first["line"] == 1 and first["snapshot"] == snap(site["urls"]["d2"])
    assert (
        first["reason"].startswith("dead since 2026-01-0")
        and "broken (HTTP 410)" in first["reason"]
    )
    assert first["evidence"] == (
        "Wayback Machine copy of 20200202; access date 2026-01-01 (first seen by linkwatch)"
    )
    assert (first["access_date"], first["access_source"]) == (
        "2026-01-01",
        "first seen by linkwatch",
    )
    story = next(r for r in records if r["document"] == "corpus/story.md")
    assert (story["access_date"], story["access_source"]) == ("2021-01-01", "the document's date")


def test_only_and_doc_narrow_the_changes(site: dict[str, Any]) -> None:
    moved = json.loads(lw(site["config"], "fix", "--format", "json", "--only", "moved").stdout)
    assert [(r["document"], r["new_url"]) for r in moved] == [
        ("corpus/page.html", site["new"]),
        ("corpus/story.md", site["new"]),
    ]
    one = lw(site["config"], "fix", "--doc", str(site["corpus"] / "notes.txt")).stdout
    assert one.count("+++ ") == 1 and "notes.txt" in one


def test_a_document_changed_since_the_scan_is_refused(site: dict[str, Any]) -> None:
    notes = site["corpus"] / "notes.txt"
    notes.write_bytes(notes.read_bytes() + b"\nedited by hand")
    result = lw(site["config"], "fix", "--write")
    assert "notes.txt: not fixed: changed since the last scan" in result.stderr
    assert notes.read_bytes().endswith(b"edited by hand")
    assert b"[archived: " not in notes.read_bytes()
    assert b"data-versionurl" in (site["corpus"] / "page.html").read_bytes()  # others fixed


def test_permissions_are_kept(site: dict[str, Any]) -> None:
    page = site["corpus"] / "page.html"
    page.chmod(0o640)
    lw(site["config"], "fix", "--write")
    assert page.stat().st_mode & 0o777 == 0o640
    assert not [p for p in site["corpus"].iterdir() if p.name.startswith(".linkwatch-")]
