"""The fake Wayback Machine itself speaks the real formats (wayback-api.md §8)."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from urllib.parse import quote

import httpx
import pytest

from linkwatch.archive.memento import parse_link_format
from tests.archive.conftest import ACCESS, SECRET
from tests.kit.fakewayback import WAYBACK_ERROR, FakeWayback

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


# -- the rest of the real API (wayback-api.md §1.9, §3, §4) -------------------------------


def test_cdx_collapse_drops_adjacent_duplicates(wayback, http) -> None:
    for ts in ("20200101100000", "20200101103000", "20200101110000", "20200102100000"):
        wayback.add_capture("http://c.test/", ts)
    text = http.get(
        "/cdx/search/cdx",
        params={"url": "http://c.test/", "fl": "timestamp", "collapse": "timestamp:10"},
    ).text
    assert text.split() == ["20200101100000", "20200101110000", "20200102100000"]


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"url": "m.test/a"}, ["http://m.test/a"]),
        ({"url": "m.test/a", "matchType": "prefix"}, ["http://m.test/a", "http://m.test/ab"]),
        ({"url": "m.test/a*"}, ["http://m.test/a", "http://m.test/ab"]),
        ({"url": "m.test/", "matchType": "host"}, ["http://m.test/a", "http://m.test/ab"]),
        (
            {"url": "*.m.test"},
            ["http://m.test/a", "http://m.test/ab", "http://sub.m.test/x"],
        ),
    ],
    ids=["exact", "prefix", "prefix-shortcut", "host", "domain-shortcut"],
)
def test_cdx_match_types(wayback, http, params, expected) -> None:
    for url in (
        "http://m.test/a",
        "http://m.test/ab",
        "http://sub.m.test/x",
        "http://other.test/a",
    ):
        wayback.add_capture(url, "20200101000000")
    text = http.get("/cdx/search/cdx", params={**params, "fl": "original"}).text
    assert sorted(text.split()) == expected


def test_cdx_resume_keys_page_through_in_text_and_json_even_double_encoded(wayback, http) -> None:
    stamps = [f"20200101{h:02d}0000" for h in range(5)]
    for ts in stamps:
        wayback.add_capture("http://r.test/", ts)
    base = {"url": "http://r.test/", "fl": "timestamp", "limit": "2", "showResumeKey": "true"}
    seen: list[str] = []
    key = None
    for _ in range(5):
        params = {**base, **({"resumeKey": quote(key, safe="")} if key else {})}
        text = http.get("/cdx/search/cdx", params=params).text
        rows, _, tail = text.partition("\n\n")
        seen += rows.split()
        key = tail.strip() or None
        if key is None:
            break
    assert seen == stamps
    data = http.get("/cdx/search/cdx", params={**base, "output": "json"}).json()
    assert data[-2] == [] and isinstance(data[-1][0], str)  # ,\n[],\n["<key>"]


def test_legacy_save_redirects_to_the_new_memento(wayback, http) -> None:
    res = http.get("/save/http://legacy.test/page", follow_redirects=False)
    assert res.status_code == 302 and res.headers["X-Page-Cache"] == "MISS"
    assert re.fullmatch(
        r"https://web\.archive\.org/web/\d{14}/http://legacy\.test/page", res.headers["Location"]
    )
    again = http.get("/save/http://legacy.test/page", follow_redirects=False)
    assert again.headers["X-Page-Cache"] == "HIT"  # inside the same-URL window
    assert len(wayback.state.captures_of("http://legacy.test/page")) == 1


@pytest.mark.parametrize(
    ("shape", "status", "header"),
    [("content-location", 200, "Content-Location"), ("blocked", 403, WAYBACK_ERROR)],
)
def test_legacy_save_other_shapes(wayback, http, shape, status, header) -> None:
    wayback.faults.legacy_save = shape
    res = http.get("/save/http://shape.test/", follow_redirects=False)
    assert res.status_code == status and header in res.headers


def test_timemap_lists_every_capture_in_link_format_and_pages_with_a_resume_key(
    wayback, http
) -> None:
    wayback.faults.timemap_page = 2
    for year in range(2015, 2020):
        wayback.add_capture("http://t.test/", f"{year}0101000000")
    page: str | None = "/web/timemap/link/http://t.test/"
    mementos: list[str] = []
    pages = 0
    while page and pages < 5:
        res = http.get(page.replace("https://web.archive.org", ""))
        assert res.headers["Content-Type"] == "application/link-format"
        links = parse_link_format(res.text)
        assert [sorted(x.rels) for x in links[:3]] == [["original"], ["self"], ["timegate"]]
        mementos += [x.params["datetime"] for x in links if "memento" in x.rels]
        page = next((x.uri for x in links if x.rels == {"timemap"}), None)
        pages += 1
    assert pages == 3
    assert mementos[0] == "Thu, 01 Jan 2015 00:00:00 GMT" and len(mementos) == 5


def test_replay_answers_as_memento_redirect_or_not_archived(wayback, http) -> None:
    wayback.add_capture("http://p.test/", "20200101000000")
    wayback.add_capture("http://p.test/", "20210101000000", 404)
    ok = http.get("/web/20200101000000/http://p.test/", follow_redirects=False)
    assert (
        ok.status_code == 200 and ok.headers["Memento-Datetime"] == "Wed, 01 Jan 2020 00:00:00 GMT"
    )
    assert 'rel="memento"' in ok.headers["Link"] and 'rel="original"' in ok.headers["Link"]
    archived_404 = http.get("/web/20210101000000id_/http://p.test/", follow_redirects=False)
    assert archived_404.status_code == 404 and "Memento-Datetime" in archived_404.headers
    near = http.get("/web/2020060/http://p.test/", follow_redirects=False)
    assert near.status_code == 302 and "/web/20200101000000/" in near.headers["Location"]
    gate = http.get(
        "/web/http://p.test/",
        headers={"Accept-Datetime": "Fri, 01 Jan 2021 00:00:00 GMT"},
        follow_redirects=False,
    )
    assert gate.status_code == 302 and "/web/20210101000000/" in gate.headers["Location"]
    never = http.get("/web/20200101000000/http://never.test/", follow_redirects=False)
    assert never.status_code == 404 and "Memento-Datetime" not in never.headers
