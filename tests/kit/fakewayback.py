"""A fake Wayback Machine on loopback, faithful to /work/shared/wayback-api.md §8.

Serves, on one port, what lives on two hosts in production (told apart by path):
``POST /save`` (SPN2; urlencoded and multipart), ``GET /save/status/<id>``,
``POST /save/status`` (``job_id`` / ``job_ids``), ``GET /save/status/user``,
``GET /save/status/system``, ``GET /wayback/available`` (archive.org) and
``GET /cdx/search/cdx`` (plain text exactly as waybackpy parses it, or ``output=json``).

Per-minute limits are enforced server-side and every request beyond them is recorded in
``violations``; every request is recorded in ``requests``. Faults are switches on
``faults`` (see ``Faults``)::

    with FakeWayback(clock=clock) as wb:
        wb.faults.save_replies = ["429:2"]
        settings = ...(wayback_url=wb.base_url, availability_url=wb.base_url)

Standalone (for daemon tests that run linkwatch as a subprocess)::

    python -m tests.kit.fakewayback --port 8765 [--minute-s 60] [--anonymous]
"""

from __future__ import annotations

import argparse
import email.parser
import email.policy
import json
import re
import signal
import threading
from email.utils import format_datetime, parsedate_to_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlsplit

from tests.kit.fakewayback_state import (
    Capture,
    Clock,
    FakeState,
    Faults,
    parse_ts,
    parse_window,
    wayback_ts,
)

TOO_MANY_HTML = (
    "<html><head><title>Too Many Requests</title></head><body><h1>Too Many Requests</h1>"
    "<p>We are limiting the rate of Save Page Now submissions to no more than 15 per "
    "minute. Exceeding it blocks SPN requests from your IP number for 5 minutes.</p>"
    "</body></html>"
)
SESSION_LIMIT = (
    "You have already reached the limit of active Save Page Now sessions. "
    "Please wait for a minute and then try again."
)
DAILY_LIMIT = "You cannot make more than 30,000 captures per day"
NOT_LOGGED_IN = "You need to be logged in to use Save Page Now."
PUBLIC = "https://web.archive.org"  # absolute URLs in Link/Location, as clients expect (§8)
WAYBACK_ERROR = "X-Archive-Wayback-Runtime-Error"


def http_date(timestamp: str) -> str:
    return format_datetime(parse_ts(timestamp), usegmt=True)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "nginx/1.25"
    timeout = 10
    state: FakeState
    stopping: threading.Event

    def log_message(self, format: str, *args: Any) -> None:
        return

    # -- plumbing ----------------------------------------------------------------------
    def _send(
        self,
        status: int,
        body: str | bytes,
        ctype: str = "application/json",
        headers: dict[str, str] | None = None,
    ) -> None:
        data = body.encode() if isinstance(body, str) else body
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("X-ts", str(status))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def _json(self, obj: Any, status: int = 200, headers: dict[str, str] | None = None) -> None:
        self._send(status, json.dumps(obj), headers=headers)

    def _form(self) -> dict[str, list[str]]:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        ctype = self.headers.get("Content-Type", "")
        if ctype.startswith("multipart/form-data"):
            msg = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
                b"Content-Type: " + ctype.encode() + b"\r\n\r\n" + body
            )
            out: dict[str, list[str]] = {}
            for part in msg.iter_parts():
                name = part.get_param("name", header="content-disposition")
                if isinstance(name, str):
                    out.setdefault(name, []).append(str(part.get_content()).strip())
            return out
        return parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)

    def _scripted(self, word: str | None) -> bool:
        """Apply a scripted fault reply; True if it answered (or dropped)."""
        if word is None:
            return False
        if word == "drop":
            self.close_connection = True
            return True
        if word == "slow":
            if self.stopping.wait(self.state.faults.slow_s):
                self.close_connection = True
                return True
            return False
        if word.startswith("429"):
            _, _, after = word.partition(":")
            headers = {"Retry-After": after} if after else {}
            if after:
                self.state.referee_window(getattr(self, "_kind", "other"), float(after))
            headers |= {"Cache-Control": "no-cache", "x-rl": "0", "x-na": "0"}
            self._send(429, TOO_MANY_HTML, "text/html; charset=utf-8", headers)
        elif word in ("401",):
            self._json({"message": NOT_LOGGED_IN}, 401)
        elif word.isdigit():
            self._send(
                int(word), "" if word == "520" else f"<html>{word} error</html>", "text/html"
            )
        elif word == "session-limit":
            self._json({"message": SESSION_LIMIT})
        elif word == "daily-limit":
            self._json({"message": DAILY_LIMIT})
        elif word == "empty":
            self._json({"url": self._query().get("url", [""])[0], "archived_snapshots": {}})
        elif word == "blocked":
            text = (
                "org.archive.util.io.RuntimeIOException: org.archive.wayback.exception."
                "AdministrativeAccessControlException: Blocked Site Error"
            )
            self._send(403, text, "text/plain", {"X-Archive-Wayback-Runtime-Error": text})
        else:
            return False
        return True

    def _query(self) -> dict[str, list[str]]:
        return parse_qs(urlsplit(self.path).query, keep_blank_values=True)

    def _log(self, kind: str, **extra: Any) -> None:
        self._kind = kind
        self.state.referee_arrival(kind)
        self.state.log(
            kind=kind,
            method=self.command,
            path=urlsplit(self.path).path,
            authorized=self.state.authorized(self.headers.get("Authorization")),
            has_auth="Authorization" in self.headers,
            **extra,
        )

    # -- routes ------------------------------------------------------------------------
    def do_GET(self) -> None:
        path = urlsplit(self.path).path
        if path.startswith("/save/status/user"):
            self._user_status()
        elif path.startswith("/save/status/system"):
            self._log("system")
            self._json({"status": self.state.faults.system_status})
        elif path.startswith("/save/status/"):
            self._status([path.rsplit("/", 1)[-1]])
        elif path == "/wayback/available":
            self._available()
        elif path == "/cdx/search/cdx":
            self._cdx()
        elif path.startswith("/web/timemap/link/"):
            self._timemap()
        elif path.startswith("/web/"):
            self._replay()
        elif path.startswith("/save/"):
            self._legacy_save(self.path[len("/save/") :])
        else:
            self._log("other")
            self._send(404, "<html>Wayback Machine: not found</html>", "text/html")

    def do_POST(self) -> None:
        path = urlsplit(self.path).path.rstrip("/")
        if path == "/save":
            self._save(self._form())
        elif path == "/save/status":
            form = self._form()
            ids = form.get("job_id", []) + [
                i for v in form.get("job_ids", []) for i in v.split(",") if i
            ]
            self._status(ids, batch="job_ids" in form)
        else:
            self._log("other")
            self._send(404, "<html>not found</html>", "text/html")

    # -- SPN2 --------------------------------------------------------------------------
    def _save(self, form: dict[str, list[str]]) -> None:
        st = self.state
        url = form.get("url", [""])[0]
        self._log("save", url=url, options={k: v[0] for k, v in form.items() if k != "url"})
        if st.over_limit("save"):
            self._send(429, TOO_MANY_HTML, "text/html; charset=utf-8")
            return
        if st.faults.require_auth and not st.authorized(self.headers.get("Authorization")):
            self._json({"message": NOT_LOGGED_IN}, 401)
            return
        word = st.pop_reply(st.faults.url_save_replies.get(url, [])) or st.pop_reply(
            st.faults.save_replies
        )
        if word and word.startswith("error:"):
            self._json(
                {
                    "status": "error",
                    "status_ext": word,
                    "message": f"Save Page Now refused this URL ({word}).",
                }
            )
            return
        if word == "drop-after-start":  # the job starts, the reply is lost on the way
            st.start_job(url)
            self.close_connection = True
            return
        if word in ("echo", "echo-encoded"):  # an error page that echoes the request
            sent = "; ".join(f"{k}: {v}" for k, v in self.headers.items())
            if word == "echo-encoded":
                from urllib.parse import quote

                sent = quote(sent, safe="")
            self._json(
                {
                    "status": "error",
                    "status_ext": "error:bad-request",
                    "message": f"Bad request. You sent: {sent}; url={url}",
                }
            )
            return
        if word and word.startswith("delayed:"):
            job = st.start_job(url)
            secs = int(word.split(":")[1])
            self._json(
                {
                    "url": url,
                    "job_id": job.job_id,
                    "message": f"Your capture will begin in {secs}s. The capture will "
                    f"start in 0 hours, 0 minutes, {secs} seconds.",
                }
            )
            return
        if self._scripted(word):
            return
        if not url:
            self._send(400, "<html>400 Bad Request</html>", "text/html")
            return
        self._accept(url, form)

    def _accept(self, url: str, form: dict[str, list[str]]) -> None:
        st = self.state
        within = form.get("if_not_archived_within", [""])[0]
        window = parse_window(within) if within else st.same_url_window_s
        running = st.running_job(url)
        if running is not None:
            self._json(
                {
                    "url": url,
                    "job_id": running.job_id,
                    "message": "The same snapshot had been made 0 seconds ago.",
                }
            )
            return
        recent = st.recent_capture(url, window)
        if recent is not None:
            self._same_snapshot(url, recent, within)
            return
        if st.active_jobs() >= st.concurrent_sessions:
            st.violations.append({"kind": "concurrency", "t": 0.0, "url": url})
            self._json({"message": SESSION_LIMIT})
            return
        if st.daily_captures >= st.daily_captures_limit:
            self._json({"message": DAILY_LIMIT})
            return
        job = st.start_job(url)
        accept = self.headers.get("Accept", "")
        if "json" not in accept and "text/html" in accept:  # the browser form (§1.3.4)
            self._send(
                200,
                f"<html><body><h2>Saving page {url}</h2><script>spn.watchJob("
                f'"{job.job_id}", "/_static/",6000);</script></body></html>',
                "text/html; charset=utf-8",
            )
            return
        self._json({"url": url, "job_id": job.job_id})

    def _same_snapshot(self, url: str, cap: Capture, within: str) -> None:
        job = self.state.same_snapshot_job(url, cap)
        after = within or "1 hour"
        self._json(
            {
                "url": url,
                "job_id": job.job_id,
                "message": "The same snapshot had been made 2 minutes ago. You can make "
                f"new capture of this URL after {after}.",
            }
        )

    def _status(self, ids: list[str], batch: bool = False) -> None:
        st = self.state
        self._log("status", job_ids=ids)
        if st.faults.status_require_auth and not st.authorized(self.headers.get("Authorization")):
            self._json({"message": NOT_LOGGED_IN}, 401)
            return
        if self._scripted(st.pop_reply(st.faults.status_replies)):
            return
        after = st.faults.status_retry_after
        headers = {"Retry-After": after} if after else {}
        replies = [st.job_status(i) for i in ids]
        self._json(replies if batch else (replies[0] if replies else {}), headers=headers)

    def _user_status(self) -> None:
        st = self.state
        self._log("user")
        if not st.authorized(self.headers.get("Authorization")):
            self._json({"message": NOT_LOGGED_IN}, 401)
            return
        self._json(st.user_status())

    # -- look-ups ----------------------------------------------------------------------
    def _available(self) -> None:
        st = self.state
        q = self._query()
        url = q.get("url", [""])[0]
        self._log("availability", url=url)
        if self._scripted(st.pop_reply(st.faults.availability_replies)):
            return
        ts = q.get("timestamp", [""])[0]
        cap = st.closest(url, ts or None)
        snaps: dict[str, Any] = {}
        if cap is not None:
            snaps = {
                "closest": {
                    "status": cap.statuscode,
                    "available": True,
                    "url": f"http://web.archive.org/web/{cap.timestamp}/{cap.url}",
                    "timestamp": cap.timestamp,
                }
            }
        body: dict[str, Any] = {"url": url, "archived_snapshots": snaps}
        if ts:
            body["timestamp"] = ts
        text = json.dumps(body)
        callback = q.get("callback", [""])[0]
        if callback and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", callback):
            self._send(200, f"{callback}({text})", "text/javascript")
            return
        self._send(200, text)

    def _cdx(self) -> None:
        st = self.state
        q = self._query()
        self._log("cdx", url=q.get("url", [""])[0], params={k: v for k, v in q.items()})
        if st.over_limit("cdx"):
            self._send(429, TOO_MANY_HTML, "text/html; charset=utf-8")
            return
        if self._scripted(st.pop_reply(st.faults.cdx_replies)):
            return
        if not q.get("url", [""])[0]:
            self._send(400, "url parameter is required", "text/plain")
            return
        rows, resume = st.cdx_rows(q)
        fields = ["urlkey", "timestamp", "original", "mimetype", "statuscode", "digest", "length"]
        fl = [f for f in q.get("fl", [""])[0].split(",") if f in fields]
        if fl:
            rows = [[r[fields.index(f)] for f in fl] for r in rows]
        if q.get("output", [""])[0] == "json":
            if not rows:
                self._send(200, "[]", "application/json")
                return
            header = "[" + ",".join(json.dumps(f) for f in (fl or fields)) + "]"
            body_rows = ["[" + ", ".join(json.dumps(v) for v in r) + "]" for r in rows]
            if resume:
                body_rows += ["[]", f"[{json.dumps(resume)}]"]
            self._send(200, "[" + ",\n".join([header, *body_rows]) + "]\n", "application/json")
            return
        text = "".join(" ".join(r) + "\n" for r in rows)
        if resume:
            text += f"\n{resume}\n"
        self._send(200, text, "text/plain;charset=UTF-8")

    # -- legacy save, Memento ------------------------------------------------------------
    def _legacy_save(self, url: str) -> None:
        """``GET /save/<url>`` (§1.9): a capture now, answered in ``faults.legacy_save``'s
        shape: ``302`` (Location of the new memento), ``content-location`` (200 with the
        replay), ``blocked`` (403 + ``X-Archive-Wayback-Runtime-Error``), or ``429``."""
        st = self.state
        self._log("save", url=url, legacy=True)
        if st.over_limit("save") or st.faults.legacy_save == "429":
            self._send(429, TOO_MANY_HTML, "text/html; charset=utf-8")
            return
        if st.faults.legacy_save == "blocked":
            error = "RobotAccessControlException: Blocked By Robots"
            self._send(403, "<html>Blocked</html>", "text/html", {WAYBACK_ERROR: error})
            return
        recent = st.recent_capture(url, st.same_url_window_s)
        cached = recent is not None
        cap = recent or st.add_capture(url, st.clock())
        memento = f"/web/{cap.timestamp}/{url}"
        cache = {"X-Page-Cache": "HIT" if cached else "MISS"}
        if st.faults.legacy_save == "content-location":
            headers = {"Content-Location": memento, **cache}
            self._send(200, f"<html>replay of {url}</html>", "text/html", headers)
            return
        headers = {"Location": PUBLIC + memento, **cache}
        self._send(302, "", "text/html", headers)

    def _timemap(self) -> None:
        """``GET /web/timemap/link/<url>`` (§4.4), exact line format, paged with a
        ``rel="timemap"`` link carrying ``resumeKey`` after ``faults.timemap_page`` lines."""
        st = self.state
        raw = self.path[len("/web/timemap/link/") :]
        q = self._query() if raw.startswith("?") else {}
        url = q.get("url", [raw])[0]
        start = int(unquote(q.get("resumeKey", ["0"])[0]) or 0)
        self._log("cdx", url=url, timemap=True)
        if st.over_limit("cdx"):  # TimeMaps share the CDX limit (§4.4)
            self._send(429, TOO_MANY_HTML, "text/html; charset=utf-8")
            return
        caps = st.captures_of(url)
        if not caps:
            self._send(200, "", "application/link-format")
            return
        page = caps[start : start + st.faults.timemap_page]
        first = caps[0]
        lines = [
            f'<{url}>; rel="original"',
            f'<{PUBLIC}/web/timemap/link/{url}>; rel="self"; type="application/link-format"; '
            f'from="{http_date(first.timestamp)}"',
            f'<{PUBLIC}>; rel="timegate"',
        ]
        for n, cap in enumerate(page, start):
            rel = "first memento" if n == 0 else "memento"
            if cap is caps[-1]:
                rel = "first last memento" if n == 0 else "last memento"
            lines.append(
                f'<{PUBLIC}/web/{cap.timestamp}/{cap.url}>; rel="{rel}"; '
                f'datetime="{http_date(cap.timestamp)}"'
            )
        end = start + len(page)
        if end < len(caps):
            key = quote(str(end))
            lines.append(
                f"<{PUBLIC}/web/timemap/link/?url={quote(url, safe='')}&resumeKey={key}>; "
                f'rel="timemap"; type="application/link-format"; '
                f'from="{http_date(caps[end].timestamp)}"'
            )
        self._send(200, ",\n".join(lines) + "\n", "application/link-format")

    def _replay(self) -> None:
        """``/web/<ts>[id_]/<url>`` and the TimeGate ``/web/<url>`` (§4.2, §4.3)."""
        st = self.state
        rest = self.path[len("/web/") :]
        m = re.match(r"^(\d{1,14})(?:[a-z]{2}_)?/(.+)$", rest)
        self._log("replay", url=m.group(2) if m else rest)
        if m is None:  # the TimeGate: closest to Accept-Datetime, else the latest
            wanted = self.headers.get("Accept-Datetime")
            ts = wayback_ts(parsedate_to_datetime(wanted)) if wanted else None
            cap = st.closest(rest, ts)
            if cap is None:
                self._send(404, "<html>Wayback Machine: not archived</html>", "text/html")
                return
            location = f"{PUBLIC}/web/{cap.timestamp}/{cap.url}"
            self._send(302, "", "text/html", {"Location": location, "Vary": "accept-datetime"})
            return
        ts, url = m.group(1), m.group(2)
        caps = st.captures_of(url)
        exact = next((c for c in caps if c.timestamp == ts.ljust(14, "0")), None)
        if exact is None:
            cap = st.closest(url, ts)
            if cap is None:
                self._send(404, "<html>Wayback Machine: not archived</html>", "text/html")
                return
            location = f"{PUBLIC}/web/{cap.timestamp}/{cap.url}"
            reason = {"X-Archive-Redirect-Reason": f"found capture at {cap.timestamp}"}
            self._send(302, "", "text/html", {"Location": location, **reason})
            return
        links = [
            f'<{url}>; rel="original"',
            f'<{PUBLIC}/web/timemap/link/{url}>; rel="timemap"; type="application/link-format"',
            f'<{PUBLIC}/web/{url}>; rel="timegate"',
            f'<{PUBLIC}/web/{caps[0].timestamp}/{caps[0].url}>; rel="first memento"; '
            f'datetime="{http_date(caps[0].timestamp)}"',
            f'<{PUBLIC}/web/{exact.timestamp}/{exact.url}>; rel="memento"; '
            f'datetime="{http_date(exact.timestamp)}"',
            f'<{PUBLIC}/web/{caps[-1].timestamp}/{caps[-1].url}>; rel="last memento"; '
            f'datetime="{http_date(caps[-1].timestamp)}"',
        ]
        headers = {"Memento-Datetime": http_date(exact.timestamp), "Link": ", ".join(links)}
        body = f"<html><title>{url}</title>archived {exact.timestamp}</html>"
        self._send(int(exact.statuscode), body, "text/html", headers)


class FakeWayback:
    """The fake, served from a thread on 127.0.0.1; a context manager that stops it."""

    def __init__(
        self, *, host: str = "127.0.0.1", port: int = 0, clock: Clock | None = None, **limits: Any
    ) -> None:
        self.state = FakeState(clock=clock, **limits)
        self._stopping = threading.Event()
        handler = type("Handler", (_Handler,), {"state": self.state, "stopping": self._stopping})
        self.server = ThreadingHTTPServer((host, port), handler)
        self.server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def faults(self) -> Faults:
        return self.state.faults

    @property
    def requests(self) -> list[dict[str, Any]]:
        return self.state.requests

    @property
    def violations(self) -> list[dict[str, Any]]:
        return self.state.violations

    def requests_of(self, kind: str) -> list[dict[str, Any]]:
        with self.state.lock:
            return [r for r in self.state.requests if r["kind"] == kind]

    def add_capture(self, url: str, timestamp: Any, status: int | str = 200) -> Capture:
        return self.state.add_capture(url, timestamp, status)

    def start(self) -> FakeWayback:
        self._thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self.server.shutdown()
        self.server.server_close()
        if self._thread is not None:
            self._thread.join(5)

    def __enter__(self) -> FakeWayback:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Serve the fake Wayback Machine on loopback.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--minute-s", type=float, default=60.0, help="length of a 'minute'")
    parser.add_argument("--captures-per-minute", type=int, default=7)
    parser.add_argument("--cdx-per-minute", type=int, default=60)
    parser.add_argument("--access", default="test-access")
    parser.add_argument("--secret", default="test-secret")
    parser.add_argument("--anonymous", action="store_true", help="allow captures without keys")
    parser.add_argument("--pending-polls", type=int, default=1)
    parser.add_argument(
        "--no-retry-after",
        action="store_true",
        help="status replies without Retry-After: 6 (fast polling)",
    )
    args = parser.parse_args(argv)
    wb = FakeWayback(
        host=args.host,
        port=args.port,
        minute_s=args.minute_s,
        captures_per_minute=args.captures_per_minute,
        cdx_per_minute=args.cdx_per_minute,
        keys=(args.access, args.secret),
    )
    wb.faults.require_auth = not args.anonymous
    wb.faults.pending_polls = args.pending_polls
    if args.no_retry_after:
        wb.faults.status_retry_after = None
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())
    wb.start()
    print(f"fake wayback listening on {wb.base_url}", flush=True)
    done.wait()
    wb.stop()


if __name__ == "__main__":
    main()
