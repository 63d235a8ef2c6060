"""HTTPS against a loopback server with a throwaway CA: certificates are verified, an
untrusted or mismatched certificate is an inconclusive network error (never a strike),
and ``check.ca_bundle`` adds a CA for intranet corpora."""

from __future__ import annotations

import asyncio
import http.server
import ssl
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import trustme

from linkwatch.check import check_url, open_context
from linkwatch.config import load_settings
from linkwatch.model import CheckResult, Outcome


class Page(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = f"<html><title>Secure {self.path}</title><p>{self.path}</p></html>".encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_HEAD = do_GET  # noqa: N815 - http.server names its handlers so

    def log_message(self, *args: object) -> None:
        return None


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


def serve(ca: trustme.CA, *names: str) -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.2", 0), Page)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(*names).configure_cert(context)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"https://127.0.0.2:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.fixture
def https(ca: trustme.CA) -> Iterator[str]:
    yield from serve(ca, "127.0.0.2")


@pytest.fixture
def https_wrong_name(ca: trustme.CA) -> Iterator[str]:
    yield from serve(ca, "other.example")


def check(url: str, tmp_path: Path, ca: trustme.CA | None) -> CheckResult:
    overrides: dict[str, object] = {"allow_networks": ["127.0.0.0/8"], "soft404_probe": False}
    if ca is not None:
        bundle = tmp_path / "ca.pem"
        ca.cert_pem.write_to_path(str(bundle))
        overrides["ca_bundle"] = str(bundle)
    settings = load_settings(None, env={}, overrides={"check": overrides})

    async def run() -> CheckResult:
        async with open_context(settings, lambda: datetime.now(UTC)) as ctx:
            return await check_url(url, ctx)

    return asyncio.run(run())


def test_a_page_behind_a_trusted_certificate_is_ok(
    https: str, tmp_path: Path, ca: trustme.CA
) -> None:
    result = check(https + "/article", tmp_path, ca)
    assert result.outcome is Outcome.OK
    assert result.status == 200 and result.title == "Secure /article"


def test_an_untrusted_certificate_is_a_network_error_not_a_strike(
    https: str, tmp_path: Path
) -> None:
    result = check(https + "/article", tmp_path, None)
    assert result.outcome is Outcome.NETWORK_ERROR
    assert result.error is not None and "certificate verify failed" in result.error
    assert not result.outcome.is_strike


def test_a_certificate_for_another_name_is_refused(
    https_wrong_name: str, tmp_path: Path, ca: trustme.CA
) -> None:
    result = check(https_wrong_name + "/article", tmp_path, ca)
    assert result.outcome is Outcome.NETWORK_ERROR
    assert result.error is not None and "certificate" in result.error.lower()
