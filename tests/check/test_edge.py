"""The network edge (aiohttp's client with the vetting resolver) against raw, scripted
servers: framing, strictness, keep-alive, hostile heads and Location headers."""

from __future__ import annotations

import asyncio
import re
import socket
import threading
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
from yarl import URL

from linkwatch.check.body import parse_page
from linkwatch.check.policy import AddressPolicy
from linkwatch.check.soft404 import is_home, last_segment
from linkwatch.check.transport import open_session, system_resolver
from linkwatch.model import Outcome
from tests.check.harness import make_settings, run_check

Script = list[bytes]  # one raw answer per request on a connection


class RawServer:
    """A loopback server that answers each request on a connection with the next scripted
    bytes, then closes (when a script runs out). Records the raw requests."""

    def __init__(self, scripts: list[Script]) -> None:
        self.scripts = scripts
        self.requests: list[bytes] = []
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(5)
        self.port = self.sock.getsockname()[1]
        self.thread = threading.Thread(target=self._serve, daemon=True)

    def _serve(self) -> None:
        for script in self.scripts:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                conn.settimeout(5)
                for answer in script:
                    data = b""
                    while b"\r\n\r\n" not in data:
                        chunk = conn.recv(65536)
                        if not chunk:
                            return
                        data += chunk
                    self.requests.append(data)
                    conn.sendall(answer)

    def __enter__(self) -> RawServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.sock.close()
        self.thread.join(5)


def fetch(server: RawServer, *paths: str, method: str = "GET") -> list[tuple[int, bytes]]:
    """Each path in turn over one transport: (status, body)."""

    async def go() -> list[tuple[int, bytes]]:
        policy = AddressPolicy.from_cidrs(("127.0.0.0/8",), ())
        found = []
        async with open_session(
            policy, system_resolver, concurrency=4, connect_timeout_s=2
        ) as session:
            for path in paths:
                url = URL(f"http://localhost:{server.port}{path}", encoded=True)
                async with session.request(method, url, allow_redirects=False) as response:
                    body = await response.content.read()
                found.append((response.status, body))
        return found

    return asyncio.run(go())


@pytest.fixture
def serve() -> Iterator[type[RawServer]]:
    yield RawServer


def ok(body: bytes, extra: bytes = b"") -> bytes:
    return b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n%s\r\n%s" % (len(body), extra, body)


@pytest.mark.parametrize(
    ("answer", "status", "body"),
    [
        (ok(b"hello"), 200, b"hello"),
        (
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n",
            200,
            b"hello world",
        ),
        (b"HTTP/1.1 100 Continue\r\n\r\n" + ok(b"after interim"), 200, b"after interim"),
        (b"HTTP/1.0 200 OK\r\n\r\nuntil the server closes", 200, b"until the server closes"),
        (b"HTTP/1.1 204 No Content\r\nContent-Length: 99\r\n\r\n", 204, b""),
        (b"HTTP/1.1 200 OK\nContent-Length: 8\n\nab\r\n\r\ncd", 200, b"ab\r\n\r\ncd"),
    ],
    ids=[
        "content-length",
        "chunked-with-trailer",
        "interim-1xx",
        "until-close",
        "no-content",
        "bare-lf-head-then-crlf-in-body",
    ],
)
def test_body_framing(serve: type[RawServer], answer: bytes, status: int, body: bytes) -> None:
    with serve([[answer]]) as server:
        assert fetch(server, "/x") == [(status, body)]


def test_head_answers_have_no_body_even_with_a_length(serve: type[RawServer]) -> None:
    head = b"HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n"
    with serve([[head, head]]) as server:
        assert fetch(server, "/a", "/b", method="HEAD") == [(200, b""), (200, b"")]
    assert len(server.requests) == 2  # the same connection served both


def test_a_connection_is_kept_alive_between_requests(serve: type[RawServer]) -> None:
    with serve([[ok(b"one"), ok(b"two")]]) as server:
        assert fetch(server, "/1", "/2") == [(200, b"one"), (200, b"two")]
    assert [r.split(b" ")[1] for r in server.requests] == [b"/1", b"/2"]


def test_a_kept_alive_connection_the_server_dropped_is_replaced(serve: type[RawServer]) -> None:
    # the first connection answers once and closes without a word about it
    with serve([[ok(b"one", b"")], [ok(b"two")]]) as server:
        assert fetch(server, "/1", "/2") == [(200, b"one"), (200, b"two")]


def test_connection_close_is_honoured(serve: type[RawServer]) -> None:
    with serve([[ok(b"one", b"Connection: close\r\n")], [ok(b"two")]]) as server:
        assert fetch(server, "/1", "/2") == [(200, b"one"), (200, b"two")]


@pytest.mark.parametrize(
    "answer",
    [
        b"SPDY/9 200 OK\r\n\r\n",
        b"HTTP/1.1 2000 OK\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nbad header line\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
        b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 10\r\n\r\nshort",
        b"HTTP/1.1 200 OK\r\n" + b"X-Pad: " + b"a" * 70_000 + b"\r\n\r\n",
    ],
    ids=[
        "not-http",
        "four-digit-status",
        "header-without-colon",
        "conflicting-lengths",
        "bad-chunk-size",
        "body-cut-short",
        "endless-head",
    ],
)
def test_malformed_answers_are_network_errors_not_crashes(
    serve: type[RawServer], answer: bytes
) -> None:
    with serve([[answer]]) as server:
        result = run_check(f"http://127.0.0.1:{server.port}/x", make_settings())
    assert result.outcome is Outcome.NETWORK_ERROR, result
    assert result.status is None or result.status == 200


def test_a_line_break_in_a_configured_header_is_never_sent(serve: type[RawServer]) -> None:
    settings = make_settings(host_user_agents={"127.0.0.1": "agent\r\nInjected: yes"})
    with serve([[ok(b"x")]]) as server:
        result = run_check(f"http://127.0.0.1:{server.port}/", settings)
    assert result.outcome is not Outcome.OK
    assert all(b"Injected" not in r for r in server.requests)


@pytest.mark.parametrize(
    "url",
    [
        "http://a.test",
        "http://a.test/",
        "http://a.test/x/y.html",
        "http://a.test/x/y/",
        "https://a.test:8443/p?q=/z#f/g",
        "http://u@a.test/p/q?x",
        "http://[::1]/v6/last",
        "http://a.test?only=query",
        "http://a.test/?",
        "http://a.test/#frag?x",
    ],
)
def test_last_segment_and_is_home_agree_with_urlsplit(url: str) -> None:
    parts = urlsplit(url)
    assert last_segment(url) == parts.path.rstrip("/").rsplit("/", 1)[-1]
    assert is_home(url) == (parts.path in ("", "/") and not parts.query)


def test_fingerprints_fold_whitespace_as_before() -> None:
    page = parse_page(
        "<title> A\u00a0 title\n</title><main>Some\t\ttext \u2028 here </main>".encode()
    )
    assert page.title == "A title"
    assert page.excerpt == re.sub(r"\s+", " ", "Some\t\ttext \u2028 here ").strip().lower()


def test_a_location_header_sent_twice_is_followed_once(serve: type[RawServer]) -> None:
    moved = (
        b"HTTP/1.1 301 Moved Permanently\r\nLocation: /new\r\nLocation: /new\r\n"
        b"Content-Length: 0\r\n\r\n"
    )
    with serve([[moved, b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"]]) as server:
        result = run_check(f"http://127.0.0.1:{server.port}/old", make_settings(), fetch_body=False)
    assert result.outcome is Outcome.REDIRECTED, result
    assert result.final_url == f"http://127.0.0.1:{server.port}/new"


@pytest.mark.parametrize(
    ("other", "location", "expected"),
    [
        (b"", b"/caf\xc3\xa9", "/caf%C3%A9"),
        (b"X-Note: \xe9t\xe9\r\n", b"/caf\xc3\xa9", "/caf%C3%A9"),
        (b"", b"/caf\xe9", "/caf%E9"),
    ],
    ids=["utf-8", "utf-8-beside-a-latin-1-header", "latin-1"],
)
def test_non_ascii_location_bytes_are_followed_as_sent(
    serve: type[RawServer], other: bytes, location: bytes, expected: str
) -> None:
    """A browser sends the Location's bytes back percent-encoded, whatever the other
    headers' encoding."""
    moved = (
        b"HTTP/1.1 302 Found\r\n"
        + other
        + b"Location: "
        + location
        + b"\r\nContent-Length: 0\r\n\r\n"
    )
    with serve([[moved, b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"]]) as server:
        result = run_check(f"http://127.0.0.1:{server.port}/old", make_settings(), fetch_body=False)
        assert server.requests[1].split(b" ")[1] == expected.encode()
    assert result.final_url == f"http://127.0.0.1:{server.port}{expected}"
