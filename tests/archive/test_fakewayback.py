"""The fake Wayback Machine itself speaks the real formats (wayback-api.md §8)."""

from __future__ import annotations

import re
import subprocess
import sys
import time

import httpx
import pytest

from tests.archive.conftest import ACCESS, SECRET
from tests.kit.fakewayback import FakeWayback

AUTH = {"Authorization": f"LOW {ACCESS}:{SECRET}", "Accept": "application/json"}


@pytest.fixture
def http(wayback):
    with httpx.Client(base_url=wayback.base_url, trust_env=False, timeout=5) as c:
        yield c


def test_cdx_plain_text_has_the_exact_layout(wayback, http) -> None:
    wayback.add_capture("http://www.Example.test/a?b=1", "20200102030405")
    text = http.get("/cdx/search/cdx", params={"url": "http://www.example.test/a?b=1"}).text
    assert re.fullmatch(
        r"test,example\)/a\?b=1 20200102030405 http://www\.Example\.test/a\?b=1 text/html 200 "
        r"[A-Z2-7]{32} \d+\n",
        text,
    )


def test_cdx_json_has_the_reference_writers_layout(wayback, http) -> None:
    wayback.add_capture("http://j.test/", "20200101000000")
    wayback.add_capture("http://j.test/", "20210101000000", 404)
    body = http.get(
        "/cdx/search/cdx",
        params={"url": "http://j.test/", "output": "json", "fl": "timestamp,statuscode"},
    ).text
    assert body == (
        '[["timestamp","statuscode"],\n["20200101000000", "200"],\n["20210101000000", "404"]]\n'
    )
    empty = http.get("/cdx/search/cdx", params={"url": "http://none.test/", "output": "json"})
    assert empty.text == "[]"


def test_cdx_sort_closest_and_missing_url(wayback, http) -> None:
    for ts in ("20100101000000", "20150101000000", "20200101000000"):
        wayback.add_capture("http://s.test/", ts)
    closest = http.get(
        "/cdx/search/cdx",
        params={"url": "http://s.test/", "sort": "closest", "closest": "20160101", "limit": "1"},
    )
    assert closest.text.split()[1] == "20150101000000"
    assert http.get("/cdx/search/cdx").status_code == 400


def test_availability_echoes_the_request_and_reports_status(wayback, http) -> None:
    wayback.add_capture("http://v.test/", "20200101000000", 404)
    body = http.get("/wayback/available", params={"url": "v.test", "timestamp": "2021"}).json()
    assert body == {
        "url": "v.test",
        "timestamp": "2021",
        "archived_snapshots": {
            "closest": {
                "status": "404",
                "available": True,
                "timestamp": "20200101000000",
                "url": "http://web.archive.org/web/20200101000000/http://v.test/",
            }
        },
    }


def test_save_accepts_multipart_bodies(wayback, http) -> None:
    reply = http.post(
        "/save/", headers=AUTH, files={"url": (None, "http://m.test/"), "capture_all": (None, "on")}
    )
    assert re.fullmatch(r"spn2-[0-9a-f]{40}", reply.json()["job_id"])
    assert wayback.requests_of("save")[0]["options"] == {"capture_all": "on"}


def test_save_without_keys_is_401_and_user_status_too(http) -> None:
    reply = http.post("/save", data={"url": "http://x.test/"})
    assert reply.status_code == 401 and "logged in" in reply.json()["message"]
    assert http.get("/save/status/user").status_code == 401


def test_batch_status_returns_a_list_with_retry_after(wayback, http) -> None:
    wayback.faults.status_retry_after = "6"
    job = http.post("/save", headers=AUTH, data={"url": "http://b.test/"}).json()["job_id"]
    reply = http.post("/save/status", data={"job_ids": f"{job},spn2-{'0' * 40}"})
    assert [r["status"] for r in reply.json()] == ["pending", "pending"]
    assert reply.headers["Retry-After"] == "6"


def test_requests_beyond_the_per_minute_limit_are_refused_and_recorded(wayback, http) -> None:
    wayback.state.captures_per_minute = 2
    codes = [
        http.post("/save", headers=AUTH, data={"url": f"http://l{i}.test/"}).status_code
        for i in range(3)
    ]
    assert codes == [200, 200, 429]
    assert [v["kind"] for v in wayback.violations] == ["save"]


def test_system_status(http) -> None:
    assert http.get("/save/status/system").json() == {"status": "ok"}


def test_it_runs_standalone(tmp_path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.kit.fakewayback", "--port", "0"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        line = proc.stdout.readline() if proc.stdout else ""
        url = line.strip().rsplit(" ", 1)[-1]
        with httpx.Client(trust_env=False, timeout=5) as c:
            assert c.get(url + "/save/status/system").json() == {"status": "ok"}
    finally:
        proc.terminate()
        proc.wait(10)
        if proc.stdout:
            proc.stdout.close()
    assert proc.returncode == 0


def test_a_fake_on_its_own_port_stops_cleanly() -> None:
    started = time.monotonic()
    with FakeWayback() as wb:
        assert wb.base_url.startswith("http://127.0.0.1:")
    assert time.monotonic() - started < 2


def test_a_browser_accept_header_gets_the_html_form_reply(http) -> None:
    reply = http.post(
        "/save",
        data={"url": "http://h.test/"},
        headers={**AUTH, "Accept": "text/html,application/xhtml+xml"},
    )
    assert re.search(r'spn\.watchJob\("spn2-[0-9a-f]{40}", "/_static/",6000\)', reply.text)
