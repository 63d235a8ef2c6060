"""``check.host_headers``: some sites need a header (a language, a plain ``Accept``)."""

from __future__ import annotations

import pytest

from linkwatch.clock import system_clock
from linkwatch.config import load_settings
from linkwatch.errors import ConfigError
from linkwatch.jobs.check import check_links
from tests.kit.simweb import SimWeb


def _settings(headers: dict[str, dict[str, str]]) -> object:
    return load_settings(None, env={}, overrides={"check": {
        "allow_networks": ["127.0.0.0/8"], "host_interval_s": 0.0, "host_headers": headers,
    }})  # fmt: skip


def test_a_hosts_headers_go_to_that_host_only_and_can_drop_ours() -> None:
    with SimWeb(hosts=2) as web:
        settings = _settings({web.address(0): {"Accept-Language": "de", "Accept": ""}})
        check_links(settings, None, clock=system_clock,  # type: ignore[arg-type]
                    urls=[web.url(0, "/ok/a"), web.url(1, "/ok/b")])  # fmt: skip
        sent = {r.host: {k.lower(): v for k, v in r.headers.items()} for r in web.requests
                if r.path.startswith("/ok/")}  # fmt: skip
    assert sent[0]["accept-language"] == "de"
    assert sent[0].get("accept", "*/*") == "*/*"  # ours dropped: the client's default
    assert "accept-language" not in sent[1] and sent[1]["accept"].startswith("text/html")


def test_the_most_specific_pattern_wins() -> None:
    from linkwatch.check import host_headers

    settings = _settings({"example.org": {"Accept-Language": "en"},
                          "news.example.org": {"Accept-Language": "fr"}})  # fmt: skip
    check = settings.check  # type: ignore[attr-defined]
    assert host_headers(check, "news.example.org") == {"Accept-Language": "fr"}
    assert host_headers(check, "www.example.org") == {"Accept-Language": "en"}
    assert host_headers(check, "example.com") == {}


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        ({"x.org": {"Host": "evil"}}, "set by the HTTP client"),
        ({"x.org": {"Bad Name": "v"}}, "not a header name"),
        ({"x.org": {"X-A": "a\r\nInjected: 1"}}, "line breaks"),
        ({"x.org": "Accept: x"}, "expected a table"),
    ],
)
def test_headers_that_would_break_the_request_are_refused(
    headers: dict[str, object], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        _settings(headers)  # type: ignore[arg-type]
