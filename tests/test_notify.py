"""Notifications from the user's side: a link dies, another recovers; the Atom feed (read
with feedparser), a webhook that fails once, a command hook; each event delivered once."""

from __future__ import annotations

import http.server
import json
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import feedparser
import pytest
from click.testing import CliRunner

from linkwatch.cli import cli
from tests.kit.simweb import SimWeb

RUNS = ("2026-01-01T00:00:00Z", "2026-01-03T00:00:00Z", "2026-01-05T00:00:00Z")


class Hook(http.server.BaseHTTPRequestHandler):
    received: list[dict[str, Any]] = []
    replies: list[int] = []

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        status = self.replies.pop(0) if self.replies else 200
        self.received.append(
            {"body": body, "auth": self.headers.get("Authorization"), "status": status}
        )
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        return


@pytest.fixture
def hook() -> Iterator[tuple[str, type[Hook]]]:
    handler = type("H", (Hook,), {"received": [], "replies": []})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hook", handler
    finally:
        server.shutdown()
        server.server_close()


def _lw(config: Path, *args: str) -> Any:
    result = CliRunner().invoke(cli, ["--config", str(config), *args], catch_exceptions=False)
    assert result.exit_code in (0, 3), result.output
    return result


def test_events_reach_the_feed_the_webhook_and_the_command_once_each(
    tmp_path: Path, hook: tuple[str, type[Hook]]
) -> None:
    url, handler = hook
    handler.replies = [500]  # the first delivery fails: it must come again, once
    token = tmp_path / "token"
    token.write_text("s3cret-token\n", encoding="utf-8")
    token.chmod(0o600)
    seen = tmp_path / "seen.jsonl"
    command = [
        sys.executable,
        "-c",
        f"import sys; open({str(seen)!r}, 'a').write(sys.stdin.read() + '\\n')",
    ]
    with SimWeb(hosts=1) as web:
        dying = web.url(0, "/mortal/minister-speech")
        (tmp_path / "corpus").mkdir()
        (tmp_path / "corpus" / "a.md").write_text(f"[speech]({dying})\n", encoding="utf-8")
        config = tmp_path / "linkwatch.toml"
        config.write_text(
            '[corpus]\npaths = ["corpus/**/*"]\n[state]\npath = "state/lw.db"\n'
            '[report]\ndir = "reports/"\n[archive]\nenabled = false\n'
            '[check]\nallow_networks = ["127.0.0.0/8"]\nhost_interval_s = 0.0\n'
            'timeout_s = 3.0\nstrikes = 2\nstrike_spacing = "1h"\n'
            f'[notify]\nwebhook_url = "{url}"\nwebhook_secret_file = "token"\n'
            f"exec = {json.dumps(command)}\n",
            encoding="utf-8",
        )
        _lw(config, "--now", RUNS[0], "run")  # alive: nothing to tell
        web.kill(0, "/mortal/minister-speech")
        for now in RUNS[1:]:
            _lw(config, "--now", now, "check", "--all")  # dead on the second strike
        status = json.loads(_lw(config, "--now", RUNS[-1], "status", "--format", "json").stdout)
        assert status["notify"]["undelivered"]["webhook"] == 1  # the 500: retried later
        assert "HTTP 500" in status["notify"]["last_error"]
        _lw(config, "--now", "2026-01-05T01:00:00Z", "check")  # after the back-off
        _lw(config, "--now", "2026-01-06T01:00:00Z", "check")  # nothing new: nothing sent

    feed = feedparser.parse((tmp_path / "reports" / "feed.xml").read_bytes())
    assert not feed.bozo, feed.bozo_exception
    [entry] = feed.entries
    assert entry.title == f"Dead: {dying}" and entry.id.startswith("tag:linkwatch,2026:event/")
    delivered = [r for r in handler.received if r["status"] == 200]
    assert [r["body"]["kind"] for r in delivered] == ["dead"] and len(handler.received) == 2
    assert delivered[0]["body"]["id"] == entry.id  # the same stable id everywhere
    assert delivered[0]["auth"] == "Bearer s3cret-token"
    lines = [json.loads(line) for line in seen.read_text(encoding="utf-8").splitlines() if line]
    assert [(e["kind"], e["url"]) for e in lines] == [("dead", dying)]
    status = json.loads(_lw(config, "status", "--format", "json").stdout)
    assert status["notify"]["undelivered"] == {"feed": 0, "webhook": 0, "exec": 0}


def test_a_webhook_to_a_private_address_is_refused_and_says_why(
    tmp_path: Path, hook: tuple[str, type[Hook]]
) -> None:
    url, handler = hook
    with SimWeb(hosts=1) as web:
        dying = web.url(0, "/gone/x")
        (tmp_path / "corpus").mkdir()
        (tmp_path / "corpus" / "a.md").write_text(f"[x]({dying})\n", encoding="utf-8")
        config = tmp_path / "linkwatch.toml"
        config.write_text(
            '[corpus]\npaths = ["corpus/**/*"]\n[state]\npath = "state/lw.db"\n'
            '[report]\ndir = "reports/"\n[archive]\nenabled = false\n'
            '[check]\nallow_networks = ["127.0.0.2/32"]\nhost_interval_s = 0.0\n'
            "timeout_s = 3.0\nstrikes = 1\n"
            f'[notify]\nwebhook_url = "{url}"\ndigest = true\n',
            encoding="utf-8",
        )
        _lw(config, "--now", RUNS[0], "run")
    assert handler.received == []  # 127.0.0.1 is not opened by check.allow_networks
    status = json.loads(_lw(config, "status", "--format", "json").stdout)
    assert "127.0.0.1" in status["notify"]["last_error"]
