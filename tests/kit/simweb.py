"""The simulated web: HTTP servers on 127.0.0.2, 127.0.0.3, ... (one port, one address per
host) with the behaviours a link checker meets in the wild. Test code, never imported by
``linkwatch``.

Use it in tests::

    with SimWeb(hosts=4, latency_ms=0) as web:
        web.url(0, "/ok/a")            # -> "http://127.0.0.2:PORT/ok/a"
        web.requests                   # log of (host, method, path, headers, at)
        web.violations(interval_s=1, per_host=2)   # the referee: every politeness rule
                                       # broken so far (too close, too many at once)

or standalone (for the benchmark and the daemon tests)::

    python -m tests.kit.simweb --hosts 40 --latency-ms 20
    # prints one JSON line {"port": ..., "hosts": ["127.0.0.2", ...]} and serves until SIGTERM

Route table (every host serves every route; ``?latency=MS`` on any URL overrides the
per-response latency):

==============================  ====================================================
``/``                           home page, 200, title "Home of host N"
``/ok/NAME``                    200 HTML page titled "Page NAME" (HEAD works)
``/file/NAME``                  200 ``application/pdf`` (no HTML)
``/status/CODE/...``            that status (404, 410, 500, 401, 403, 451, 999, 400...)
``/gone/...``                   410; any unknown path is 404
``/redirect/CODE/REST``         CODE with a relative ``Location: /REST`` (301/302/303/307/308)
``/redirect-to?code=C&to=URL``  C (default 302) with ``Location: URL`` (any scheme/address)
``/home-redirect/...``          301 to ``/`` (a deep link sent to the home page)
``/loop/a`` ``/loop/b``         redirect to each other forever
``/chain/N``                    302 to ``/chain/N-1``; ``/chain/0`` is 200
``/soft404/NAME``               200 "Page not found" page
``/spa/NAME``                   ``real-*`` names are real pages; anything else serves the
                                home page with 200 (a site that answers everything)
``/shell/NAME``                 200, the same client-side app shell for every path (no
                                text until a script runs, like many single-page apps)
``/head405/NAME``               HEAD 405, GET 200
``/head-drop/NAME``             HEAD closes the connection, GET 200
``/challenge/NAME``             403 with ``cf-mitigated: challenge`` (bot challenge)
``/ratelimit/SECONDS``          429 with ``Retry-After: SECONDS``
``/ratelimit-date/SECONDS``     429 with ``Retry-After: <HTTP-date SECONDS from now>``
``/unavailable/SECONDS``        503 with ``Retry-After: SECONDS``
``/flap/NAME``                  alternates 200, 500, 200, ... (per host and path)
``/slow/MS/NAME``               headers after MS milliseconds, then 200
``/trickle/NAME``               200 headers, then one body byte every 0.5 s (up to 10 min)
``/trickle-headers/NAME``       one header byte every 0.5 s
``/endless/NAME``               200 chunked body that never ends (until the client leaves)
``/gzip-bomb/NAME``             200 ``Content-Encoding: gzip``: ~100 KB inflating to 100 MiB
``/markup-bomb/NAME``           the same with 100 MiB of dense markup and words (a DOM of
                                it would be twenty times its size)
``/gzip/NAME``                  a small gzip-compressed HTML page
``/cookie/set?to=URL``          sets a cookie, 302 to URL
``/robots.txt``                 disallows ``/private/``; 404 on host 6, 503 on host 7
``/reset/NAME``                 connection reset (RST) without an answer
``/mortal/NAME``                200 like ``/ok/`` until ``web.kill(host, path)``, then 404
                                (``web.revive(host, path)``: 200 again)
``/unavailable-once/S/NAME``    the first request 503 with ``Retry-After: S``, then 200
``/drift/NAME``                 an article until ``web.replace(host, path)``, then a different
                                page at the same address with 200 (content drift)
``/parked/NAME``                a domain parking page ("this domain is for sale"), 200
``/etag/NAME``                  HEAD 405; GET 200 with an ``ETag``, 304 to a matching
                                ``If-None-Match``
``/garbage/NAME``               a garbage status line
==============================  ====================================================
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import email.utils
import gzip
import hashlib
import json
import signal
import socket
import struct
import sys
import threading
import time
import zlib
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

FIRST_OCTET = 2
ROBOTS_TXT = b"User-agent: *\nDisallow: /private/\n"
ROBOTS_MISSING_HOST = 6  # its robots.txt is a 404 (everything allowed)
ROBOTS_BROKEN_HOST = 7  # its robots.txt is a 503 (nothing allowed)
TRICKLE_INTERVAL_S = 0.5
TRICKLE_MAX_S = 600.0
ENDLESS_MAX_BYTES = 2 * 1024**3
BOMB_INFLATED = 100 * 1024 * 1024
REDIRECT_REASONS = {
    301: "Moved Permanently",
    302: "Found",
    303: "See Other",
    307: "Temporary Redirect",
    308: "Permanent Redirect",
}

_bomb: bytes | None = None
_bomb_lock = threading.Lock()


def gzip_bomb() -> bytes:
    """~100 KB of gzip that inflates to 100 MiB of spaces (built once per process)."""
    global _bomb
    with _bomb_lock:
        if _bomb is None:
            comp = zlib.compressobj(9, zlib.DEFLATED, 31)
            chunk = b" " * (1024 * 1024)
            parts = [comp.compress(b"<html><head><title>bomb</title></head><body>")]
            parts += [comp.compress(chunk) for _ in range(BOMB_INFLATED // len(chunk))]
            parts.append(comp.flush())
            _bomb = b"".join(parts)
        return _bomb


_markup_bomb: bytes | None = None
MARKUP = b'<div class="c"><p>lorem <b>ipsum</b> dolor <a href="/x">sit</a> amet</p></div>\n'


def markup_bomb() -> bytes:
    """~300 KB of gzip inflating to 100 MiB of tags and words (built once per process)."""
    global _markup_bomb
    with _bomb_lock:
        if _markup_bomb is None:
            comp = zlib.compressobj(9, zlib.DEFLATED, 31)
            chunk = MARKUP * (1024 * 1024 // len(MARKUP))
            parts = [comp.compress(b"<html><head><title>markup</title></head><body><main>")]
            parts += [comp.compress(chunk) for _ in range(BOMB_INFLATED // len(chunk))]
            parts.append(comp.flush())
            _markup_bomb = b"".join(parts)
        return _markup_bomb


@dataclass(frozen=True)
class Request:
    host: int
    method: str
    path: str
    headers: dict[str, str]
    at: float


@dataclass
class Reply:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    reason: str = ""


def page(title: str, text: str) -> bytes:
    body = " ".join([text] * 8)
    return (
        f"<!doctype html><html><head><meta charset=utf-8><title>{title}</title></head>"
        f"<body><nav>menu</nav><main><h1>{title}</h1><p>{body}</p></main></body></html>"
    ).encode()


def article(host: int, name: str) -> bytes:
    """A real page: its text depends on its name, beyond merely echoing it."""
    digest = hashlib.sha1(f"{host}/{name}".encode()).hexdigest()  # noqa: S324 - not security
    return page(f"Page {name}", f"Article {digest[:12]} on host {host}, words {digest[12:]}.")


def home(host: int) -> bytes:
    return page(f"Home of host {host}", f"Welcome to host {host}, the front page.")


REPORT_TEXT = " ".join(
    f"In {2010 + i % 9} the ministry allocated {i * 37 % 900} million to programme {i}, "
    f"of which {i * 13 % 100} per cent went to regional offices."
    for i in range(40)
)
LANDING_TEXT = " ".join(
    f"Discover offer {i}: subscribe to our newsletter and save {i % 50} per cent on "
    "premium products, free shipping on every order today."
    for i in range(40)
)
PARKED_PAGE = (
    b"<!doctype html><html><head><title>gov-example.org is for sale</title></head><body>"
    b"<h1>This domain is for sale!</h1><p>Buy this domain today. Related searches: "
    b"budget, finance, loans.</p></body></html>"
)
APP_SHELL = (
    b"<!doctype html><html><head><title>News App</title><script src=/app.js>"
    b"</script></head><body><div id=root></div><noscript>You need to enable "
    b"JavaScript to run this app.</noscript></body></html>"
)
NOT_FOUND_PAGE = page("Page not found", "Sorry, the page you are looking for does not exist.")


class SimWeb:
    """Servers on ``hosts`` loopback addresses sharing one port, in a background thread."""

    def __init__(self, hosts: int = 4, latency_ms: float = 0, port: int = 0) -> None:
        self.hosts = hosts
        self.latency_s = latency_ms / 1000
        self.port = port
        self.requests: collections.deque[Request] = collections.deque(maxlen=20_000)
        self._counters: collections.Counter[tuple[int, str]] = collections.Counter()
        self.killed: set[tuple[int, str]] = set()
        self.replaced: set[tuple[int, str]] = set()
        self.in_flight: collections.Counter[int] = collections.Counter()
        self.max_in_flight: collections.Counter[int] = collections.Counter()
        self.starts: dict[int, list[float]] = collections.defaultdict(list)
        self.paths: set[tuple[int, str]] = set()  # every (host, path) requested at all
        self.total_requests = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._servers: list[asyncio.base_events.Server] = []
        self._writers: set[asyncio.StreamWriter] = set()
        self._ready = threading.Event()
        self._error: BaseException | None = None

    # -- addresses ------------------------------------------------------------------------
    def address(self, host: int) -> str:
        return f"127.0.0.{FIRST_OCTET + host}"

    def url(self, host: int, path: str = "/") -> str:
        return f"http://{self.address(host)}:{self.port}{path}"

    def hits(self, host: int, path: str) -> list[Request]:
        return [r for r in list(self.requests) if r.host == host and r.path == path]

    def replace(self, host: int, path: str) -> None:
        """A ``/drift/`` page is replaced by another one (same address, 200)."""
        self.replaced.add((host, path))

    def revive(self, host: int, path: str) -> None:
        """A killed ``/mortal/`` page answers 200 again (a site restored)."""
        self.killed.discard((host, path))

    def kill(self, host: int, path: str) -> None:
        """``path`` on ``host`` (a ``/mortal/`` page) answers 404 from now on."""
        self.killed.add((host, path))

    def reset(self) -> None:
        """Forget what was requested (between two clients of one benchmark)."""
        self.requests.clear()
        self._counters.clear()
        self.starts.clear()
        self.max_in_flight.clear()
        self.paths.clear()
        self.total_requests = 0

    def _admin(self, target: str) -> bytes:
        """``/__simweb/stats?interval_s=&per_host=`` (what was requested, and the referee's
        findings) and ``/__simweb/reset``, for a benchmark driving the standalone server."""
        parts = urlsplit(target)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        if parts.path == "/__simweb/reset":
            self.reset()
            body = b"{}"
        else:
            found = self.violations(
                float(query.get("interval_s", "0")),
                int(query.get("per_host", "1000000")),
                float(query.get("slack_s", "0.005")),
            )
            body = json.dumps(
                {
                    "requests": self.total_requests,
                    "paths": sorted(f"{FIRST_OCTET + h}|{p}" for h, p in self.paths),
                    "violations": len(found),
                    "examples": found[:5],
                }
            ).encode()
        return (
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
        )

    def violations(self, interval_s: float, per_host: int, slack_s: float = 0.005) -> list[str]:
        """The referee: every time a client broke a host's politeness rules (two request
        starts closer than ``interval_s``, more than ``per_host`` requests at once)."""
        found = []
        for host, starts in sorted(self.starts.items()):
            ordered = sorted(starts)
            for a, b in zip(ordered, ordered[1:], strict=False):
                if b - a < interval_s - slack_s:
                    found.append(f"host {host}: two requests {1000 * (b - a):.1f} ms apart")
            if self.max_in_flight[host] > per_host:
                found.append(f"host {host}: {self.max_in_flight[host]} requests at once")
        return found

    # -- lifecycle --------------------------------------------------------------------------
    def __enter__(self) -> SimWeb:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="simweb", daemon=True)
        self._thread.start()
        if not self._ready.wait(10) or self._error is not None:
            raise RuntimeError(f"simweb did not start: {self._error}")

    def stop(self) -> None:
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._shutdown)
            self._thread.join(10)

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._bind())
        except BaseException as exc:  # noqa: BLE001 - reported to start()
            self._error = exc
            self._ready.set()
            loop.close()
            return
        self._ready.set()
        loop.run_forever()
        loop.run_until_complete(self._close())
        loop.close()

    async def _bind(self) -> None:
        for host in range(self.hosts):
            server = await asyncio.start_server(
                self._serve, self.address(host), self.port, reuse_address=True, backlog=1024
            )
            self._servers.append(server)
            if not self.port:
                self.port = server.sockets[0].getsockname()[1]

    def _shutdown(self) -> None:
        assert self._loop is not None
        self._loop.stop()

    async def _close(self) -> None:
        for server in self._servers:
            server.close()
        for writer in list(self._writers):
            writer.transport.abort()
        for server in self._servers:
            await server.wait_closed()
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    # -- serving ----------------------------------------------------------------------------
    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        host = int(writer.get_extra_info("sockname")[0].rsplit(".", 1)[1]) - FIRST_OCTET
        try:
            first = await reader.read(1)
            if first == b"\x16":  # a TLS ClientHello: we only speak plain HTTP
                writer.write(b"HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\nplain")
                await writer.drain()
                return
            if not first:
                return
            while True:
                try:
                    head = first + await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, OSError):
                    return
                first = b""
                lines = head.decode("latin-1").split("\r\n")
                method, target, _ = (lines[0].split(" ") + ["", ""])[:3]
                headers = {}
                for line in lines[1:]:
                    name, _, value = line.partition(":")
                    if name:
                        headers[name.strip().lower()] = value.strip()
                if target.startswith("/__simweb/"):  # the referee's own door, not counted
                    writer.write(self._admin(target))
                    await writer.drain()
                    continue
                now = time.monotonic()
                self.requests.append(Request(host, method, target, headers, now))
                self.paths.add((host, target.split("?", 1)[0]))
                self.total_requests += 1
                self.starts[host].append(now)
                self.in_flight[host] += 1
                self.max_in_flight[host] = max(self.max_in_flight[host], self.in_flight[host])
                try:
                    keep = await self._answer(host, method, target, headers, writer)
                finally:
                    self.in_flight[host] -= 1
                if not keep or headers.get("connection", "").lower() == "close":
                    return
        except (ConnectionError, OSError):
            return
        finally:
            self._writers.discard(writer)
            writer.transport.abort() if writer.transport.is_closing() else writer.close()

    async def _answer(
        self,
        host: int,
        method: str,
        target: str,
        headers: dict[str, str],
        writer: asyncio.StreamWriter,
    ) -> bool:
        parts = urlsplit(target)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        latency = float(query["latency"]) / 1000 if "latency" in query else self.latency_s
        if latency:
            await asyncio.sleep(latency)
        special = await self._special(host, method, parts.path, writer)
        if special is not None:
            return special
        reply = self._route(host, method, parts.path, query, headers)
        head = [f"HTTP/1.1 {reply.status} {reply.reason or 'Status'}"]
        reply.headers.setdefault("Content-Type", "text/html; charset=utf-8")
        reply.headers["Content-Length"] = str(len(reply.body))
        head += [f"{k}: {v}" for k, v in reply.headers.items()]
        data = ("\r\n".join(head) + "\r\n\r\n").encode("latin-1")
        writer.write(data if method == "HEAD" else data + reply.body)
        await writer.drain()
        return True

    async def _special(
        self, host: int, method: str, path: str, writer: asyncio.StreamWriter
    ) -> bool | None:
        """Routes that misbehave at the connection level; None means 'not special'."""
        if path.startswith("/slow/") and path.split("/")[2].isdigit():
            await asyncio.sleep(int(path.split("/")[2]) / 1000)
            return None
        if path.startswith("/reset/") or (path.startswith("/head-drop/") and method == "HEAD"):
            sock = writer.get_extra_info("socket")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            writer.transport.abort()
            return False
        if path.startswith("/garbage/"):
            writer.write(b"HTTP/1.1 abc no status here\r\nX\r\n\r\n")
            await writer.drain()
            return False
        if path.startswith("/trickle/"):
            writer.write(
                b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n"
                b"Content-Length: 100000\r\n\r\n<html><title>slow</title>"
            )
            await self._dribble(writer, b"x")
            return False
        if path.startswith("/trickle-headers/"):
            await self._dribble(writer, b"HTTP/1.1 200 OK\r\nX-Slow: " + b"y" * 5000)
            return False
        if path.startswith("/endless/"):
            await self._endless(writer)
            return False
        return None

    async def _dribble(self, writer: asyncio.StreamWriter, data: bytes) -> None:
        started = time.monotonic()
        i = 0
        while time.monotonic() - started < TRICKLE_MAX_S:
            writer.write(data[i % len(data) : i % len(data) + 1])
            await writer.drain()
            i += 1
            await asyncio.sleep(TRICKLE_INTERVAL_S)

    async def _endless(self, writer: asyncio.StreamWriter) -> None:
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nTransfer-Encoding: chunked\r\n\r\n"
        )
        chunk = b"<p>" + b"more " * 3000 + b"</p>"
        framed = f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n"
        sent = 0
        while sent < ENDLESS_MAX_BYTES:
            writer.write(framed)
            await writer.drain()
            sent += len(framed)

    def _route(
        self,
        host: int,
        method: str,
        path: str,
        query: dict[str, str],
        headers: dict[str, str] | None = None,
    ) -> Reply:
        seg = path.split("/")
        top = seg[1] if len(seg) > 1 else ""
        name = "/".join(seg[2:])
        if path == "/":
            return Reply(200, home(host))
        if path == "/robots.txt":
            if host == ROBOTS_BROKEN_HOST:
                return Reply(503)
            if host == ROBOTS_MISSING_HOST:
                return Reply(404)
            return Reply(200, ROBOTS_TXT, {"Content-Type": "text/plain"})
        if top in ("ok", "slow") or (top == "head405" and method != "HEAD"):
            return Reply(200, article(host, name))
        if top == "head-drop":
            return Reply(200, article(host, name))
        if top == "head405":
            return Reply(405, headers={"Allow": "GET"})
        if top == "file":
            return Reply(200, b"%PDF-1.4 fake", {"Content-Type": "application/pdf"})
        if top == "status" and seg[2].isdigit():
            code = int(seg[2])
            return Reply(code, page(f"Status {code}", "status page"))
        if top == "gone":
            return Reply(410, page("Gone", "This page is gone."))
        if top == "drift":
            if (host, path) in self.replaced:
                return Reply(200, page(f"Welcome to {name}", LANDING_TEXT))
            return Reply(200, page(f"Report {name}", REPORT_TEXT))
        if top == "parked":
            return Reply(200, PARKED_PAGE)
        if top == "mortal":
            if (host, path) in self.killed:
                return Reply(404, page("Not Found", "404 not found"))
            return Reply(200, article(host, name))
        if top == "unavailable-once" and seg[2].isdigit():
            self._counters[(host, path)] += 1
            if self._counters[(host, path)] == 1:
                return Reply(503, b"busy", {"Retry-After": seg[2]})
            return Reply(200, article(host, "/".join(seg[3:])))
        if top == "etag":
            if method == "HEAD":
                return Reply(405, headers={"Allow": "GET"})
            tag = f'"v1-{name}"'
            if (headers or {}).get("if-none-match") == tag:
                return Reply(304, headers={"ETag": tag})
            return Reply(200, article(host, name), {"ETag": tag})
        return self._route_more(host, method, top, seg, name, query)

    def _route_more(
        self, host: int, method: str, top: str, seg: list[str], name: str, query: dict[str, str]
    ) -> Reply:
        if top == "redirect" and seg[2].isdigit() and int(seg[2]) in REDIRECT_REASONS:
            code = int(seg[2])
            rest = "/".join(seg[3:])
            return Reply(code, headers={"Location": "/" + rest}, reason=REDIRECT_REASONS[code])
        if top == "redirect-to":
            return Reply(int(query.get("code", "302")), headers={"Location": query["to"]})
        if top == "home-redirect":
            return Reply(301, headers={"Location": "/"})
        if top == "loop":
            return Reply(302, headers={"Location": "/loop/b" if name == "a" else "/loop/a"})
        if top == "chain" and seg[2].isdigit():
            n = int(seg[2])
            return (
                Reply(200, page("end", "end of chain"))
                if n <= 0
                else Reply(302, headers={"Location": f"/chain/{n - 1}"})
            )
        if top == "soft404":
            return Reply(200, NOT_FOUND_PAGE)
        if top == "shell":
            return Reply(200, APP_SHELL)
        if top == "spa":
            if name.startswith("real-"):
                return Reply(200, page(f"Page {name}", f"A real article called {name}."))
            return Reply(200, home(host))
        if top == "challenge":
            return Reply(
                403,
                page("Just a moment...", "Checking your browser"),
                {"cf-mitigated": "challenge"},
            )
        if top in ("ratelimit", "ratelimit-date", "unavailable") and seg[2].isdigit():
            seconds = int(seg[2])
            after = (
                str(seconds)
                if top != "ratelimit-date"
                else email.utils.formatdate(time.time() + seconds, usegmt=True)
            )
            return Reply(503 if top == "unavailable" else 429, b"slow down", {"Retry-After": after})
        if top == "flap":
            self._counters[(host, name)] += 1
            up = self._counters[(host, name)] % 2 == 1
            return Reply(200, article(host, name)) if up else Reply(500)
        if top == "gzip-bomb":
            return Reply(200, gzip_bomb(), {"Content-Encoding": "gzip"})
        if top == "markup-bomb":
            return Reply(200, markup_bomb(), {"Content-Encoding": "gzip"})
        if top == "gzip":
            body = gzip.compress(article(host, name))
            return Reply(200, body, {"Content-Encoding": "gzip"})
        if top == "cookie" and name == "set":
            return Reply(
                302,
                headers={"Location": query["to"], "Set-Cookie": "session=secret-of-host; Path=/"},
            )
        return Reply(404, page("Not Found", "404 not found"))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Serve the simulated web on loopback.")
    parser.add_argument("--hosts", type=int, default=4)
    parser.add_argument("--latency-ms", type=float, default=0)
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())
    with SimWeb(hosts=args.hosts, latency_ms=args.latency_ms, port=args.port) as web:
        info: dict[str, Any] = {
            "port": web.port,
            "hosts": [web.address(i) for i in range(args.hosts)],
        }
        sys.stdout.write(json.dumps(info) + "\n")
        sys.stdout.flush()
        while not done.wait(0.2):
            pass


if __name__ == "__main__":
    main()
