"""The checker's own HTTP/1.1 connection: framing, strictness, keep-alive, and the fast
paths that must agree with the general ones."""

from __future__ import annotations

import asyncio
import re
import socket
import threading
from collections.abc import Iterator
from urllib.parse import urlsplit

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from linkwatch.check.body import parse_page
from linkwatch.check.http11 import _parse_head
from linkwatch.check.parsed_url import parse_url
from linkwatch.check.policy import AddressPolicy
from linkwatch.check.soft404 import is_home, last_segment
from linkwatch.check.transport import GuardedBackend, GuardedTransport, system_resolver
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
        transport = GuardedTransport(GuardedBackend(policy, system_resolver))
        found = []
        try:
            for path in paths:
                request = httpx.Request(method, f"http://127.0.0.1:{server.port}{path}")
                response = await transport.handle_async_request(request)
                body = b"".join([part async for part in response.aiter_raw()])
                await response.aclose()
                found.append((response.status_code, body))
        finally:
            await transport.aclose()
        return found

    return asyncio.run(go())


@pytest.fixture
def serve() -> Iterator[type[RawServer]]:
    yield RawServer


def ok(body: bytes, extra: bytes = b"") -> bytes:
    return b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n%s\r\n%s" % (len(body), extra, body)


@pytest.mark.parametrize(("answer", "status", "body"), [
    (ok(b"hello"), 200, b"hello"),
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
     b"5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n", 200, b"hello world"),
    (b"HTTP/1.1 100 Continue\r\n\r\n" + ok(b"after interim"), 200, b"after interim"),
    (b"HTTP/1.0 200 OK\r\n\r\nuntil the server closes", 200, b"until the server closes"),
    (b"HTTP/1.1 204 No Content\r\nContent-Length: 99\r\n\r\n", 204, b""),
    (b"HTTP/1.1 200 OK\nContent-Length: 8\n\nab\r\n\r\ncd", 200, b"ab\r\n\r\ncd"),
], ids=["content-length", "chunked-with-trailer", "interim-1xx", "until-close", "no-content",
        "bare-lf-head-then-crlf-in-body"])
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


def test_a_kept_alive_connection_the_server_dropped_is_replaced(
    serve: type[RawServer]
) -> None:
    # the first connection answers once and closes without a word about it
    with serve([[ok(b"one", b"")], [ok(b"two")]]) as server:
        assert fetch(server, "/1", "/2") == [(200, b"one"), (200, b"two")]


def test_connection_close_is_honoured(serve: type[RawServer]) -> None:
    with serve([[ok(b"one", b"Connection: close\r\n")], [ok(b"two")]]) as server:
        assert fetch(server, "/1", "/2") == [(200, b"one"), (200, b"two")]


@pytest.mark.parametrize("answer", [
    b"SPDY/9 200 OK\r\n\r\n",
    b"HTTP/1.1 2000 OK\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nbad header line\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort",
], ids=["not-http", "four-digit-status", "header-without-colon", "conflicting-lengths",
        "bad-chunk-size", "body-cut-short"])
def test_malformed_answers_are_protocol_errors(serve: type[RawServer], answer: bytes) -> None:
    with serve([[answer]]) as server, pytest.raises(httpx.RemoteProtocolError):
        fetch(server, "/x")


def test_an_endless_head_is_refused(serve: type[RawServer]) -> None:
    answer = b"HTTP/1.1 200 OK\r\n" + b"X-Pad: " + b"a" * 70_000 + b"\r\n\r\n"
    with serve([[answer]]) as server, pytest.raises(httpx.RemoteProtocolError, match="large"):
        fetch(server, "/x")


def test_folded_header_lines_are_joined() -> None:
    status, reason, headers, version = _parse_head(
        b"HTTP/1.1 301 Moved\r\nLocation: /a\r\nX-Long: one\r\n  two")
    assert (status, reason, version) == (301, b"Moved", b"HTTP/1.1")
    assert headers == [(b"Location", b"/a"), (b"X-Long", b"one two")]


def test_a_line_break_in_a_header_is_never_sent(serve: type[RawServer]) -> None:
    with serve([[ok(b"x")]]) as server, pytest.raises(httpx.LocalProtocolError):
        async def go() -> None:
            policy = AddressPolicy.from_cidrs(("127.0.0.0/8",), ())
            transport = GuardedTransport(GuardedBackend(policy, system_resolver))
            try:
                request = httpx.Request("GET", f"http://127.0.0.1:{server.port}/",
                                        headers={"X-Evil": "a\r\nInjected: yes"})
                await transport.handle_async_request(request)
            finally:
                await transport.aclose()

        asyncio.run(go())
    assert server.requests == []


@pytest.mark.parametrize("url", [
    "http://a.test", "http://a.test/", "http://a.test/x/y.html", "http://a.test/x/y/",
    "https://a.test:8443/p?q=/z#f/g", "http://u@a.test/p/q?x", "http://[::1]/v6/last",
    "http://a.test?only=query", "http://a.test/?", "http://a.test/#frag?x",
])
def test_last_segment_and_is_home_agree_with_urlsplit(url: str) -> None:
    parts = urlsplit(url)
    assert last_segment(url) == parts.path.rstrip("/").rsplit("/", 1)[-1]
    assert is_home(url) == (parts.path in ("", "/") and not parts.query)


def test_fingerprints_fold_whitespace_as_before() -> None:
    page = parse_page("<title> A\u00a0 title\n</title><main>Some\t\ttext \u2028 here </main>"
                      .encode())
    assert page.title == "A title"
    assert page.text == re.sub(r"\s+", " ", "Some\t\ttext \u2028 here ").strip().lower()


@pytest.mark.parametrize("url", [
    "http://127.0.0.2:45849/ok/p123", "https://example.org/a/b?x=1&y=%20z", "http://example.org",
    "http://example.org:80/x", "https://a.test:443/", "http://Example.org/x",
    "http://999.1.1.1/", "http://1a2b3c4/", "http://a.test/a/../b", "http://a.test/./b",
    "http://a.test/%zz", "http://a.test/a b", "http://a.test/?q?r", "http://a.test/p#f",
    "http://a.test/?", "http://[::1]:8080/v6", "http://xn--caf-dma.test/p", "http://a.test:0080/",
])
def test_parse_url_is_httpx_url(url: str) -> None:
    try:
        expected = httpx.URL(url)
    except httpx.InvalidURL:
        with pytest.raises(httpx.InvalidURL):
            parse_url(url)
        return
    got = parse_url(url)
    assert got._uri_reference == expected._uri_reference
    assert (str(got), got.raw_path, got.netloc) == (str(expected), expected.raw_path,
                                                    expected.netloc)


_SEGMENT = st.text("abcXYZ019-._~!$&'()*+,;=:@%", max_size=8)


@settings(max_examples=300, deadline=None)
@given(scheme=st.sampled_from(["http", "https"]),
       host=st.from_regex(r"[a-z0-9][a-z0-9.-]{0,20}", fullmatch=True),
       port=st.none() | st.integers(1, 99999),
       segments=st.lists(_SEGMENT, max_size=4),
       query=st.none() | st.text("abc=&?/%20", max_size=10))
def test_parse_url_agrees_with_httpx_on_generated_urls(
    scheme: str, host: str, port: int | None, segments: list[str], query: str | None
) -> None:
    url = f"{scheme}://{host}" + (f":{port}" if port is not None else "")
    url += "".join("/" + s for s in segments) + (f"?{query}" if query is not None else "")
    try:
        expected = httpx.URL(url)
    except httpx.InvalidURL:
        with pytest.raises(httpx.InvalidURL):
            parse_url(url)
        return
    assert parse_url(url)._uri_reference == expected._uri_reference


def test_a_location_header_sent_twice_is_followed_once(serve: type[RawServer]) -> None:
    moved = (b"HTTP/1.1 301 Moved Permanently\r\nLocation: /new\r\nLocation: /new\r\n"
             b"Content-Length: 0\r\n\r\n")
    with serve([[moved, b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"]]) as server:
        result = run_check(f"http://127.0.0.1:{server.port}/old", make_settings(),
                           fetch_body=False)
    assert result.outcome is Outcome.REDIRECTED, result
    assert result.final_url == f"http://127.0.0.1:{server.port}/new"


@pytest.mark.parametrize(("other", "location", "expected"), [
    (b"", b"/caf\xc3\xa9", "/caf%C3%A9"),
    (b"X-Note: \xe9t\xe9\r\n", b"/caf\xc3\xa9", "/caf%C3%A9"),
    (b"", b"/caf\xe9", "/caf%E9"),
], ids=["utf-8", "utf-8-beside-a-latin-1-header", "latin-1"])
def test_non_ascii_location_bytes_are_followed_as_sent(
    serve: type[RawServer], other: bytes, location: bytes, expected: str
) -> None:
    """A browser sends the Location's bytes back percent-encoded, whatever the other
    headers' encoding."""
    moved = (b"HTTP/1.1 302 Found\r\n" + other + b"Location: " + location
             + b"\r\nContent-Length: 0\r\n\r\n")
    with serve([[moved, b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"]]) as server:
        result = run_check(f"http://127.0.0.1:{server.port}/old", make_settings(),
                           fetch_body=False)
        assert server.requests[1].split(b" ")[1] == expected.encode()
    assert result.final_url == f"http://127.0.0.1:{server.port}{expected}"
