"""Every outcome, as the simulated web produces it (one behaviour per case)."""

from __future__ import annotations

import pytest

from linkwatch.config import Settings
from linkwatch.model import Outcome
from tests.check.harness import make_settings, run_check
from tests.kit.simweb import SimWeb

CASES = [
    ("/ok/article", Outcome.OK),
    ("/file/report.pdf", Outcome.OK),
    ("/gzip/zipped", Outcome.OK),
    ("/", Outcome.OK),
    ("/status/404", Outcome.BROKEN),
    ("/gone/old", Outcome.BROKEN),
    ("/nowhere/at-all", Outcome.BROKEN),
    ("/redirect/301/ok/moved", Outcome.REDIRECTED),
    ("/redirect/302/ok/moved", Outcome.REDIRECTED),
    ("/redirect/303/ok/moved", Outcome.REDIRECTED),
    ("/redirect/307/ok/moved", Outcome.REDIRECTED),
    ("/redirect/308/ok/moved", Outcome.REDIRECTED),
    ("/redirect/301/status/404", Outcome.BROKEN),
    ("/chain/5", Outcome.REDIRECTED),
    ("/chain/11", Outcome.TOO_MANY_REDIRECTS),
    ("/loop/a", Outcome.TOO_MANY_REDIRECTS),
    ("/home-redirect/deep/article", Outcome.SOFT404),
    ("/soft404/missing", Outcome.SOFT404),
    ("/spa/no-such-page", Outcome.SOFT404),
    ("/spa/real-article", Outcome.OK),
    ("/shell/real-article", Outcome.OK),
    ("/head405/article", Outcome.OK),
    ("/head-drop/article", Outcome.OK),
    ("/challenge/article", Outcome.BLOCKED),
    ("/status/401", Outcome.BLOCKED),
    ("/status/403", Outcome.BLOCKED),
    ("/status/451", Outcome.BLOCKED),
    ("/status/999", Outcome.BLOCKED),
    ("/ratelimit/30", Outcome.RATE_LIMITED),
    ("/ratelimit-date/30", Outcome.RATE_LIMITED),
    ("/unavailable/30", Outcome.RATE_LIMITED),
    ("/status/503", Outcome.SERVER_ERROR),
    ("/status/500", Outcome.SERVER_ERROR),
    ("/reset/now", Outcome.NETWORK_ERROR),
    ("/garbage/line", Outcome.NETWORK_ERROR),
]


@pytest.mark.parametrize(("path", "expected"), CASES, ids=[c[0] for c in CASES])
def test_outcome_of_each_behaviour(
    web: SimWeb, settings: Settings, path: str, expected: Outcome
) -> None:
    result = run_check(web.url(1, path), settings)
    assert result.outcome is expected, result


LIVENESS = [
    ("/ok/a", Outcome.OK),
    ("/head405/a", Outcome.OK),
    ("/status/410", Outcome.BROKEN),
    ("/redirect/301/ok/b", Outcome.REDIRECTED),
    ("/challenge/a", Outcome.BLOCKED),
]


@pytest.mark.parametrize(("path", "expected"), LIVENESS, ids=[c[0] for c in LIVENESS])
def test_liveness_check_without_body_gives_the_same_verdict(
    web: SimWeb, settings: Settings, path: str, expected: Outcome
) -> None:
    assert run_check(web.url(2, path), settings, fetch_body=False).outcome is expected


def test_liveness_check_uses_head_only_when_head_answers_clearly(
    web: SimWeb, settings: Settings
) -> None:
    run_check(web.url(2, "/ok/head-only"), settings, fetch_body=False)
    assert [r.method for r in web.hits(2, "/ok/head-only")] == ["HEAD"]


def test_head_refused_falls_back_to_get(web: SimWeb, settings: Settings) -> None:
    run_check(web.url(2, "/head405/fallback"), settings, fetch_body=False)
    assert [r.method for r in web.hits(2, "/head405/fallback")] == ["HEAD", "GET"]


def test_redirect_chain_and_permanence_are_kept(web: SimWeb, settings: Settings) -> None:
    permanent = run_check(web.url(1, "/redirect/301/redirect/308/ok/final"), settings)
    temporary = run_check(web.url(1, "/redirect/301/redirect/302/ok/final"), settings)
    assert permanent.redirects == (web.url(1, "/redirect/308/ok/final"), web.url(1, "/ok/final"))
    assert permanent.final_url == web.url(1, "/ok/final")
    assert permanent.permanent_redirect is True
    assert temporary.permanent_redirect is False


def test_page_fingerprint_has_title_and_text_hash(web: SimWeb, settings: Settings) -> None:
    first = run_check(web.url(3, "/ok/fingerprinted"), settings)
    again = run_check(web.url(3, "/ok/fingerprinted"), settings)
    other = run_check(web.url(3, "/ok/another"), settings)
    assert first.title == "Page fingerprinted"
    assert first.content_hash and first.content_hash == again.content_hash
    assert other.content_hash != first.content_hash


def test_soft404_probe_can_be_switched_off(web: SimWeb) -> None:
    settings = make_settings(soft404_probe=False)
    assert run_check(web.url(1, "/spa/no-such-page"), settings).outcome is Outcome.OK


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("ftp://example.com/file", Outcome.SKIPPED_SCHEME),
        ("mailto:someone@example.com", Outcome.SKIPPED_SCHEME),
        ("http://", Outcome.INVALID_URL),
        ("http://example.com:99999/", Outcome.INVALID_URL),
        ("http://exa mple.com/", Outcome.INVALID_URL),
    ],
    ids=["ftp", "mailto", "no-host", "bad-port", "space-in-host"],
)
def test_unusable_urls_are_never_requested(settings: Settings, url: str, expected: Outcome) -> None:
    result = run_check(url, settings)
    assert result.outcome is expected
    assert result.error


def test_redirect_to_another_scheme_is_skipped(web: SimWeb, settings: Settings) -> None:
    result = run_check(web.url(1, "/redirect-to?to=ftp://example.com/x"), settings)
    assert result.outcome is Outcome.SKIPPED_SCHEME
    assert result.redirects == ("ftp://example.com/x",)


def test_retry_after_seconds_and_date_are_parsed(web: SimWeb, settings: Settings) -> None:
    seconds = run_check(web.url(4, "/ratelimit/120"), settings)
    date = run_check(web.url(4, "/ratelimit-date/120"), settings)
    assert seconds.retry_after_s == 120
    assert date.retry_after_s is not None and 115 <= date.retry_after_s <= 121


def test_user_agent_is_honest_and_per_host(web: SimWeb) -> None:
    settings = make_settings(
        contact="https://news.example/linkwatch",
        host_user_agents={web.address(5): "special-agent/1"},
    )
    run_check(web.url(4, "/ok/ua"), settings)
    run_check(web.url(5, "/ok/ua"), settings)
    assert web.hits(4, "/ok/ua")[-1].headers["user-agent"].startswith("linkwatch/")
    assert "(+https://news.example/linkwatch)" in web.hits(4, "/ok/ua")[-1].headers["user-agent"]
    assert web.hits(5, "/ok/ua")[-1].headers["user-agent"] == "special-agent/1"


def test_cookies_are_not_carried_to_another_host(web: SimWeb, settings: Settings) -> None:
    target = web.url(6, "/ok/cookie-target")
    run_check(web.url(5, f"/cookie/set?to={target}"), settings)
    assert "cookie" not in web.hits(6, "/ok/cookie-target")[-1].headers


def test_only_gzip_and_deflate_are_accepted(web: SimWeb, settings: Settings) -> None:
    run_check(web.url(4, "/ok/encoding"), settings)
    assert web.hits(4, "/ok/encoding")[-1].headers["accept-encoding"] == "gzip, deflate, identity"


@pytest.mark.parametrize(
    ("host", "path", "expected"),
    [
        (3, "/private/page", Outcome.SKIPPED_ROBOTS),
        (3, "/ok/public", Outcome.OK),
        (6, "/private/page", Outcome.BROKEN),  # robots.txt is 404: everything allowed
        (7, "/ok/public", Outcome.SKIPPED_ROBOTS),  # robots.txt is 503: nothing allowed
    ],
    ids=["disallowed", "allowed", "no-robots-txt", "robots-txt-error"],
)
def test_robots_txt_when_honored(web: SimWeb, host: int, path: str, expected: Outcome) -> None:
    result = run_check(web.url(host, path), make_settings(honor_robots=True))
    assert result.outcome is expected


def test_robots_txt_is_ignored_by_default(web: SimWeb, settings: Settings) -> None:
    assert run_check(web.url(3, "/private/page"), settings).outcome is Outcome.BROKEN


def test_tls_failure_is_a_network_error(web: SimWeb, settings: Settings) -> None:
    result = run_check(web.url(3, "/ok/tls").replace("http://", "https://"), settings)
    assert result.outcome is Outcome.NETWORK_ERROR
    assert (result.error or "").startswith("TLS")


def test_an_unforeseen_error_is_an_outcome_not_a_crash(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    async def broken_resolver(host: str, port: int) -> list[str]:
        raise RuntimeError("resolver bug")

    result = run_check("http://example.test/x", settings, resolver=broken_resolver)
    assert result.outcome is Outcome.NETWORK_ERROR
    assert "internal error" in (result.error or "") and "resolver bug" in (result.error or "")


@pytest.mark.parametrize(
    "path", ["/ratelimit/120", "/unavailable/120"], ids=["429", "503-retry-after"]
)
def test_a_host_that_says_wait_to_head_is_not_asked_again_with_get(
    web: SimWeb, settings: Settings, path: str
) -> None:
    before = len(web.hits(4, path))
    result = run_check(web.url(4, path), settings, fetch_body=False)
    assert result.outcome is Outcome.RATE_LIMITED
    assert result.retry_after_s == 120
    assert [r.method for r in web.hits(4, path)[before:]] == ["HEAD"]
