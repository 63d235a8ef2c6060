"""Deadlines and caps: a slow or hostile server cannot hold a check or blow up memory."""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import time
import tracemalloc
import zlib
from collections.abc import AsyncIterator, Callable
from typing import TypeVar

import pytest

from linkwatch.check import check_url, open_context
from linkwatch.check.body import PIECE_BYTES, PageReader, parse_page, read_body
from linkwatch.clock import system_clock
from linkwatch.model import CheckResult, Outcome
from tests.check.harness import make_settings, run_check
from tests.kit.simweb import SimWeb, gzip_bomb, markup_bomb

MiB = 1024 * 1024
T = TypeVar("T")


@pytest.mark.parametrize("path", ["/trickle/body", "/trickle-headers/head", "/slow/5000/late"])
def test_total_deadline_ends_a_trickling_or_slow_server(web: SimWeb, path: str) -> None:
    settings = make_settings(timeout_s=1.5)
    started = time.monotonic()
    result = run_check(web.url(2, path), settings)
    took = time.monotonic() - started
    assert result.outcome is Outcome.TIMEOUT
    assert 1.4 <= took < 3.5  # the server would go on for ten minutes
    assert 1400 <= result.elapsed_ms < 3500


def test_deadline_covers_every_redirect_hop(web: SimWeb) -> None:
    settings = make_settings(timeout_s=1.0)
    result = run_check(web.url(2, "/redirect/302/redirect/302/trickle/x"), settings)
    assert result.outcome is Outcome.TIMEOUT
    assert len(result.redirects) == 2
    assert result.elapsed_ms < 3000


def test_endless_body_is_cut_at_the_cap(web: SimWeb) -> None:
    settings = make_settings(timeout_s=5.0, max_body_bytes=256 * 1024, soft404_probe=False)
    result = run_check(web.url(2, "/endless/stream"), settings)
    assert result.outcome is Outcome.OK
    assert result.elapsed_ms < 4000


def _traced_peak(go: Callable[[], T]) -> tuple[T, int]:
    tracemalloc.start()
    try:
        result = go()
        return result, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize(
    ("path", "title"),
    [("/endless/plain", None), ("/gzip-bomb/spaces", "bomb"), ("/markup-bomb/dense", "markup")],
    ids=["endless-plain-body", "gzip-bomb", "markup-bomb"],
)
def test_a_check_holds_less_than_the_body_cap_plus_one_mib(
    web: SimWeb, path: str, title: str | None
) -> None:
    gzip_bomb(), markup_bomb()  # built before measuring
    settings = make_settings(soft404_probe=False)
    cap = settings.check.max_body_bytes
    result, peak = _traced_peak(lambda: run_check(web.url(2, path), settings))
    assert result.outcome is Outcome.OK
    assert result.title == title
    assert result.content_hash  # the capped body was read to the end of the cap
    assert peak < cap + MiB  # a DOM of 1 MiB of markup alone is 22 MiB


@pytest.mark.slow
def test_eight_bomb_hosts_at_once_hold_less_than_eight_caps_plus_one_mib_each(
    web: SimWeb,
) -> None:
    markup_bomb()
    settings = make_settings(soft404_probe=False)
    cap = settings.check.max_body_bytes
    urls = [web.url(host, f"/markup-bomb/{host}") for host in range(8)]

    async def go() -> list[CheckResult]:
        async with open_context(settings, system_clock) as ctx:
            return list(await asyncio.gather(*(check_url(url, ctx) for url in urls)))

    results, peak = _traced_peak(lambda: asyncio.run(go()))
    assert [r.title for r in results] == ["markup"] * 8
    assert len({r.content_hash for r in results}) == 1  # the same bytes, the same page
    assert peak < 8 * (cap + MiB)


def test_the_fingerprint_does_not_depend_on_how_the_body_is_cut() -> None:
    body = b"<title>T</title><main>" + b"caf\xc3\xa9 <b>au</b> lait &amp; more " * 9000
    whole = parse_page(body)
    reader = PageReader({})
    for start in range(0, len(body), 7):  # a multi-byte character split, entities split
        reader.feed(body[start : start + 7])
    cut = reader.close()
    assert cut == whole
    assert whole.excerpt.startswith("café au lait & more café")
    assert whole.text_chars == len("café au lait & more " * 9000) - 1


def test_the_echoed_url_segment_is_dropped_wherever_the_text_is_cut() -> None:
    segment = "made-up-sibling-7f3a"
    for before in range(PIECE_BYTES - 25, PIECE_BYTES + 5):  # the token across every cut
        text = "x" * before + segment + " is not here"
        page = parse_page(f"<main><p>{text}</p></main>".encode(), drop=(segment,))
        expected = hashlib.sha256(text.replace(segment, "").encode()).hexdigest()
        assert page.content_hash == expected, before


async def _chunks(body: bytes, size: int = 16 * 1024) -> AsyncIterator[bytes]:
    for start in range(0, len(body), size):
        yield body[start : start + size]


@pytest.mark.parametrize("encoding", ["gzip", "deflate", "raw-deflate"])
def test_read_body_inflates_with_a_bound(encoding: str) -> None:
    plain = b"<p>" + b"a" * (5 * MiB) + b"</p>"
    if encoding == "gzip":
        body = gzip.compress(plain)
    elif encoding == "deflate":
        body = zlib.compress(plain)
    else:
        c = zlib.compressobj(6, zlib.DEFLATED, -15)
        body = c.compress(plain) + c.flush()
    name = "deflate" if encoding == "raw-deflate" else encoding
    data = asyncio.run(read_body(_chunks(body), name, max_raw=MiB, max_decoded=MiB))
    assert data is not None and len(data) == MiB and data.startswith(b"<p>aaa")


def test_unknown_encodings_are_not_read() -> None:
    assert asyncio.run(read_body(_chunks(b"xx"), "br", MiB, MiB)) is None


def test_raw_bytes_are_capped_too() -> None:
    data = asyncio.run(read_body(_chunks(b"x" * (3 * MiB)), "identity", MiB, 4 * MiB))
    assert data is not None and len(data) == MiB


def test_fingerprint_ignores_scripts_navigation_and_whitespace() -> None:
    a = parse_page(
        b"<title> A  page </title><nav>menu 1</nav><main><p>Same  text</p></main>"
        b"<script>var x=1</script>"
    )
    b = parse_page(b"<title>A page</title><nav>other menu</nav><main><p>same text</p></main>")
    assert a.title == "A page"
    assert a.content_hash == b.content_hash


@pytest.mark.parametrize(
    ("html", "expected"),
    [
        (b"<title>404 Not Found</title><p>nothing here</p>", True),
        (b"<title>Oops</title><h1>Page not found</h1>", True),
        (b"<title>Seite nicht gefunden</title>", True),
        (b"<title>Annual report</title><h1>Results 2025</h1>", False),
        (
            b"<title>How to fix 404 errors</title><main>" + b"long article " * 400 + b"</main>",
            False,
        ),
        (
            b"<title>Link rot</title><h1>404 Not Found: how the web forgets</h1><main>"
            + b"long article " * 400
            + b"</main>",
            False,
        ),
        (
            b"<title>Essays</title><h1>Why the ether does not exist</h1><article>"
            + b"long essay " * 400
            + b"</article>",
            False,
        ),
        (b"<title>404</title><p>nothing here</p>", True),
        (b"<title>Error 404 | News</title>", True),
        (b"<title>404 | News</title>", True),
        (b"<title>Peugeot 404</title><h1>Peugeot 404 (1960-1975)</h1><p>A short note.</p>", False),
        (b"<title>Area code 404</title><h1>Atlanta: area code 404</h1>", False),
    ],
    ids=[
        "title-404",
        "heading",
        "german",
        "normal",
        "long-article-about-404",
        "long-article-headed-404",
        "long-essay-headed-does-not-exist",
        "bare-404",
        "error-404",
        "404-pipe-site",
        "short-page-about-a-peugeot-404",
        "short-page-about-area-code-404",
    ],
)
def test_not_found_wording(html: bytes, expected: bool) -> None:
    assert parse_page(html).says_not_found is expected


@pytest.mark.parametrize(
    ("original", "final", "expected"),
    [
        ("http://news.example/2020/05/story", "https://news.example/", True),
        ("http://news.example/story?id=7", "https://news.example/", True),
        ("http://news.example/index.html", "https://news.example/", False),
        ("http://news.example/", "https://news.example/", False),
        ("http://news.example/?utm_source=feed", "https://news.example/", False),
        ("http://news.example/story", "https://news.example/story/", False),
    ],
    ids=[
        "deep-link",
        "deep-link-with-query",
        "index-page",
        "home",
        "home-with-tracking-query",
        "not-to-home",
    ],
)
def test_which_redirects_to_the_home_page_are_soft_404s(
    original: str, final: str, expected: bool
) -> None:
    from linkwatch.check.soft404 import is_redirect_to_home

    assert is_redirect_to_home(original, final) is expected
