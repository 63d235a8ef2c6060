"""The archive.org keys appear in no log, error message, database row, status or output."""

from __future__ import annotations

import json
import logging
import sqlite3
from typing import Any

import pytest

from linkwatch.archive.spn2 import SPN2Client
from linkwatch.errors import ArchiveError
from linkwatch.jobs.archive import archive_status, work_archive_queue
from tests.archive.conftest import ACCESS, SECRET, add_link, fast_settings

SECRETS = (ACCESS, SECRET)


def every_row(path: str) -> str:
    """Every value of every table, as text."""
    conn = sqlite3.connect(path)
    try:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        return "\n".join(repr(row) for t in tables for row in conn.execute(f'SELECT * FROM "{t}"'))  # noqa: S608
    finally:
        conn.close()


def assert_clean(text: str) -> None:
    for secret in SECRETS:
        assert secret not in text


def test_keys_leak_nowhere_across_every_kind_of_reply(wayback, store, clock, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    faults = {
        "http://a.test/": "error:blocked-url",
        "http://b.test/": "error:job-failed",
        "http://c.test/": "success-404",
        "http://d.test/": "fail-but-exists",
        "http://e.test/": "success",
    }
    for url, outcome in faults.items():
        add_link(store, url, state="alive", last_outcome="ok")
        wayback.faults.job_outcomes[url] = outcome
    wayback.faults.save_replies = ["429:0.1", "502", "session-limit", "drop"]
    wayback.faults.cdx_replies = ["503"]
    settings = fast_settings(wayback, request_timeout_s=1.0)
    results: list[dict[str, Any]] = []

    summary = work_archive_queue(settings, store, clock=clock, on_result=results.append)

    assert any(r["has_auth"] for r in wayback.requests_of("save"))  # the keys were used
    assert_clean(caplog.text)
    assert_clean(json.dumps(results))
    assert_clean(json.dumps(summary.to_dict()))
    assert_clean(json.dumps(archive_status(settings, store)))
    assert_clean(every_row(str(store.path)))
    assert_clean(repr(settings) + str(settings.credentials))


def test_settings_and_status_mask_the_keys(wayback, store) -> None:
    settings = fast_settings(wayback)

    status = archive_status(settings, store)

    assert status["credentials"] == {"access_key": "***", "secret_key": "***"}
    assert_clean(json.dumps(settings.masked()))


@pytest.mark.parametrize("reply", ["401", "502", "drop", "429"], ids=str)
def test_client_errors_do_not_carry_the_keys(wayback, reply) -> None:
    wayback.faults.save_replies = [reply]
    client = SPN2Client(fast_settings(wayback, request_timeout_s=1.0))
    try:
        message = repr(client.submit("http://x.test/"))
    except ArchiveError as exc:
        message = f"{exc!r} {exc}"
    finally:
        client.close()
    assert_clean(message)


@pytest.mark.parametrize("word", ["echo", "echo-encoded"])
def test_an_error_page_that_echoes_the_keys_is_scrubbed_everywhere(
    wayback, store, clock, caplog, tmp_path, word: str
) -> None:
    """The archive (or a proxy) answers with the request echoed back, Authorization header
    and all: no file linkwatch writes, nor anything it prints, holds a key."""
    from dataclasses import replace

    from linkwatch.config import ReportSettings
    from linkwatch.jobs.report import generate_report

    caplog.set_level(logging.DEBUG)
    add_link(store, "http://echo.test/", state="alive", last_outcome="ok")
    wayback.faults.save_replies = [word]
    results: list[dict[str, Any]] = []
    summary = work_archive_queue(
        fast_settings(wayback), store, clock=clock, on_result=results.append
    )
    assert results and results[0]["error"] and "***" in results[0]["error"]
    assert "You sent" in results[0]["error"]  # the rest of the message is kept
    out = tmp_path / "reports"
    settings = replace(fast_settings(wayback), report=ReportSettings(dir=str(out)))
    generate_report(settings, store, clock=clock)
    written = "\n".join(
        p.read_text(encoding="utf-8", errors="replace") for p in out.rglob("*") if p.is_file()
    )
    assert "You sent" in written  # the report shows the (scrubbed) archive error
    texts = [
        json.dumps(results),
        json.dumps(summary.to_dict()),
        caplog.text,
        every_row(str(store.path)),
        written,
    ]
    for text in texts:
        for secret in SECRETS:
            assert secret.lower() not in text.lower()
