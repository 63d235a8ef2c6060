"""A fake Memento archive (RFC 7089) on its own loopback address: archive.today's shape
by default, or an aggregator (Memento Time Travel's) that lists other archives' copies.

Routes (``wayback-api.md`` §4.4, §7):

==================================  ===============================================
``GET /timemap/<url>``              ``application/link-format``: ``original``, ``self``,
                                    one link per memento with ``datetime``; 404 when
                                    nothing is held; paged: ``rel="timemap"`` to
                                    ``/timemap/page/N/<url>`` after ``page_size`` mementos
``GET /timemap/link/<url>``         the same (the aggregator's path)
``GET /<14 digits>/<url>``          replay: the archived status with ``Memento-Datetime``
                                    and ``Link``; 404 without it when not held
==================================  ===============================================

The referee: more than ``per_minute`` requests in a window is a violation (answered 429
with ``Retry-After``), and so is any request inside a 429 window it announced.
``faults.replies`` scripts the next answers (``"429:S"``, ``"503"``, ``"drop"``).
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

TIMEMAP_TYPE = "application/link-format"


@dataclass
class Held:
    uri: str  # where the copy is replayed (may be another archive's, for an aggregator)
    at: datetime
    status: int = 200


@dataclass
class MementoFaults:
    replies: list[str] = field(default_factory=list)
    page_size: int = 1000


class _State:
    def __init__(self, per_minute: int, window_s: float) -> None:
        self.lock = threading.Lock()
        self.held: dict[str, list[Held]] = {}
        self.requests: list[dict[str, Any]] = []
        self.violations: list[dict[str, Any]] = []
        self.faults = MementoFaults()
        self.per_minute = per_minute
        self.window_s = window_s
        self._times: deque[float] = deque()
        self.closed_until = 0.0

    def arrive(self, path: str) -> float | None:
        """Record a request; the ``Retry-After`` to answer with when it breaks a rule."""
        now = time.monotonic()
        with self.lock:
            self.requests.append({"path": path, "t": now})
            while self._times and self._times[0] <= now - self.window_s:
                self._times.popleft()
            if now < self.closed_until:
                self.violations.append({"rule": "inside a 429 window", "path": path})
                return max(1.0, self.closed_until - now)
            if len(self._times) >= self.per_minute:
                self.violations.append({"rule": f"over {self.per_minute}/window", "path": path})
                self.closed_until = now + self.window_s
                return self.window_s
            self._times.append(now)
            return None


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "nginx"
    state: _State
    base: str

    def log_message(self, format: str, *args: Any) -> None:
        return

    def _send(
        self, status: int, body: str, ctype: str, headers: dict[str, str] | None = None
    ) -> None:
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        path = self.path
        wait = self.state.arrive(path)
        if wait is not None:
            self._send(429, "Too Many Requests", "text/html", {"Retry-After": str(int(wait))})
            return
        with self.state.lock:
            scripted = self.state.faults.replies.pop(0) if self.state.faults.replies else None
        if scripted is not None:
            if scripted == "drop":
                self.close_connection = True
                return
            code, _, after = scripted.partition(":")
            if code == "429":
                with self.state.lock:
                    self.state.closed_until = time.monotonic() + float(after or 1)
                self._send(429, "Too Many Requests", "text/html", {"Retry-After": after or "1"})
                return
            self._send(int(code), "error", "text/html")
            return
        for prefix in ("/timemap/link/", "/timemap/"):
            if path.startswith(prefix):
                rest = path[len(prefix) :]
                page = 1
                if rest.startswith("page/"):
                    number, _, rest = rest[5:].partition("/")
                    page = int(number)
                self._timemap(rest, page)
                return
        self._replay(path.lstrip("/"))

    def _timemap(self, url: str, page: int) -> None:
        with self.state.lock:
            held = sorted(self.state.held.get(url, []), key=lambda h: h.at)
            size = self.state.faults.page_size
        if not held:
            self._send(404, "", TIMEMAP_TYPE)
            return
        chunk = held[(page - 1) * size : page * size]
        lines = [
            f'<{url}>; rel="original"',
            f'<{self.base}/timemap/{url}>; rel="self"; type="{TIMEMAP_TYPE}"; '
            f'from="{format_datetime(held[0].at, usegmt=True)}"; '
            f'until="{format_datetime(held[-1].at, usegmt=True)}"',
            f'<{self.base}/timegate/{url}>; rel="timegate"',
        ]
        for n, h in enumerate(chunk):
            rel = "memento"
            if page == 1 and n == 0:
                rel = "first memento"
            if h is held[-1]:
                rel = "last memento" if rel == "memento" else "first last memento"
            lines.append(f'<{h.uri}>; rel="{rel}"; datetime="{format_datetime(h.at, usegmt=True)}"')
        if page * size < len(held):
            lines.append(
                f'<{self.base}/timemap/page/{page + 1}/{url}>; rel="timemap"; type="{TIMEMAP_TYPE}"'
            )
        self._send(200, ",\n".join(lines) + "\n", TIMEMAP_TYPE)

    def _replay(self, rest: str) -> None:
        ts, _, url = rest.partition("/")
        with self.state.lock:
            found = [h for h in self.state.held.get(url, []) if h.uri == f"{self.base}/{ts}/{url}"]
        if not found:
            self._send(404, "<html>not archived</html>", "text/html")
            return
        h = found[0]
        self._send(
            h.status,
            f"<html><title>archived {url}</title></html>",
            "text/html",
            {
                "Memento-Datetime": format_datetime(h.at, usegmt=True),
                "Link": f'<{url}>; rel="original", <{self.base}/timemap/{url}>; rel="timemap"',
            },
        )


class FakeMementoArchive:
    """Serve on ``address`` (a loopback address of its own: one archive, one host)."""

    def __init__(
        self, address: str = "127.0.0.60", *, per_minute: int = 60, window_s: float = 1.0
    ) -> None:
        self.address = address
        self.state = _State(per_minute, window_s)
        self._server: ThreadingHTTPServer | None = None

    @property
    def base_url(self) -> str:
        assert self._server is not None
        return f"http://{self.address}:{self._server.server_address[1]}"

    @property
    def timemap(self) -> str:
        """The TimeMap prefix to configure (``name=<this>``)."""
        return self.base_url + "/timemap/"

    @property
    def faults(self) -> MementoFaults:
        return self.state.faults

    @property
    def requests(self) -> list[dict[str, Any]]:
        with self.state.lock:
            return list(self.state.requests)

    @property
    def violations(self) -> list[dict[str, Any]]:
        with self.state.lock:
            return list(self.state.violations)

    def hold(self, url: str, at: datetime, status: int = 200, *, uri: str | None = None) -> str:
        """A copy of ``url`` taken at ``at``; replayed here unless ``uri`` says elsewhere
        (an aggregator listing another archive's copy). Returns its URI."""
        at = at.astimezone(UTC).replace(microsecond=0)
        uri = uri or f"{self.base_url}/{at.strftime('%Y%m%d%H%M%S')}/{url}"
        with self.state.lock:
            self.state.held.setdefault(url, []).append(Held(uri, at, status))
        return uri

    def start(self) -> FakeMementoArchive:
        handler = type("Handler", (_Handler,), {"state": self.state})
        self._server = ThreadingHTTPServer((self.address, 0), handler)
        self._server.daemon_threads = True
        handler.base = self.base_url
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def __enter__(self) -> FakeMementoArchive:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
