"""A small HTTP/1.1 client connection: one request at a time, keep-alive, strict framing.

The checker sends tens of thousands of ``GET``/``HEAD`` requests per run and reads at most a
capped body of each; httpcore + h11 spent about half of its CPU on generality it does not
need (a state machine per event, trace hooks, a pool). This speaks just the part of
HTTP/1.1 a link checker uses, on the guarded, deadline-bound network stream of
``linkwatch.check.transport``:

* the request: method, target, headers (no header may contain CR or LF), optional body;
* the response head: status line ``HTTP/1.x NNN reason``, header lines (obsolete line
  folding joined), at most ``MAX_HEAD_BYTES`` and ``MAX_HEADERS``; interim ``1xx`` heads
  skipped; anything else is ``httpx.RemoteProtocolError`` (a garbage status line, a head
  that never ends);
* the body framing of RFC 9112 section 6.3: none for ``HEAD``, ``1xx``, ``204`` and ``304``;
  ``Transfer-Encoding: chunked``; ``Content-Length`` (conflicting values are an error);
  otherwise until the server closes;
* keep-alive: the connection is reusable once its response was read to the end and
  neither side asked to close (HTTP/1.0 answers close).

Every read and write goes through the stream, which enforces the check's deadline.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import httpcore
import httpx

MAX_HEAD_BYTES = 64 * 1024
MAX_HEADERS = 256
MAX_CHUNK_LINE = 1024
READ_SIZE = 64 * 1024
_NO_BODY_STATUS = frozenset({204, 304})


class NoResponse(httpx.RemoteProtocolError):
    """The server closed the connection before any byte of an answer (on a kept-alive
    connection: it had timed the connection out; the request may be sent again)."""


def _error(message: str) -> httpx.RemoteProtocolError:
    return httpx.RemoteProtocolError(message)


class Connection:
    """One kept-alive HTTP/1.1 connection to one origin."""

    __slots__ = ("_stream", "_buf", "_reusable", "_busy", "_closed", "_expiry_s",
                 "_idle_at", "_read_timeout")

    def __init__(self, stream: httpcore.AsyncNetworkStream, keepalive_expiry_s: float) -> None:
        self._stream = stream
        self._buf = bytearray()
        self._reusable = False
        self._busy = False
        self._closed = False
        self._expiry_s = keepalive_expiry_s
        self._idle_at = time.monotonic()
        self._read_timeout: float | None = None

    # -- state ----------------------------------------------------------------------------
    def is_idle(self) -> bool:
        return not self._busy and not self._closed and self._reusable

    def is_usable(self) -> bool:
        """Idle, not expired, and the server has not closed it (or sent junk) meanwhile."""
        if not self.is_idle() or time.monotonic() - self._idle_at > self._expiry_s:
            return False
        return not self._stream.get_extra_info("is_readable")

    async def aclose(self) -> None:
        if not self._closed:
            self._closed = True
            self._reusable = False
            await self._stream.aclose()

    # -- request --------------------------------------------------------------------------
    async def request(
        self, method: bytes, target: bytes, headers: list[tuple[bytes, bytes]],
        body: bytes, timeouts: dict[str, float],
    ) -> tuple[int, bytes, list[tuple[bytes, bytes]], AsyncIterator[bytes]]:
        """Send one request; the status, reason, headers and an iterator over the raw body
        (which must be read to the end for the connection to be reused)."""
        self._busy = True
        self._reusable = False
        self._read_timeout = timeouts.get("read")
        await self._stream.write(_serialise(method, target, headers, body),
                                 timeouts.get("write"))
        while True:
            status, reason, response_headers, version = await self._read_head()
            if status >= 200 or status == 101:
                break
        keep_alive = version == b"HTTP/1.1" and not _has_token(headers, b"connection", b"close")
        keep_alive = keep_alive and not _has_token(response_headers, b"connection", b"close")
        if method == b"HEAD" or status in _NO_BODY_STATUS or status == 101:
            self._done(keep_alive and status != 101)
            body_iter = _empty()
        elif _has_token(response_headers, b"transfer-encoding", b"chunked"):
            body_iter = self._chunked(keep_alive)
        else:
            length = _content_length(response_headers)
            body_iter = (self._until_close() if length is None
                         else self._fixed(length, keep_alive))
        return status, reason, response_headers, body_iter

    # -- reading --------------------------------------------------------------------------
    async def _fill(self) -> bool:
        """Read more into the buffer; False at end of stream."""
        data = await self._stream.read(READ_SIZE, self._read_timeout)
        if not data:
            return False
        self._buf += data
        return True

    async def _read_head(self) -> tuple[int, bytes, list[tuple[bytes, bytes]], bytes]:
        start = 0
        while True:
            # the first blank line ends the head (a bare-LF head may be followed by a body
            # with CRLF CRLF in it)
            crlf = self._buf.find(b"\r\n\r\n", start)
            lf = self._buf.find(b"\n\n", start)
            if lf >= 0 and (crlf < 0 or lf < crlf):
                head = bytes(self._buf[:lf])
                del self._buf[:lf + 2]
                break
            if crlf >= 0:
                head = bytes(self._buf[:crlf])
                del self._buf[:crlf + 4]
                break
            if len(self._buf) > MAX_HEAD_BYTES:
                raise _error("response head too large")
            start = max(0, len(self._buf) - 3)
            if not await self._fill():
                if self._buf:
                    raise _error("server closed the connection in the middle of the head")
                raise NoResponse("server disconnected without sending a response")
        if len(head) > MAX_HEAD_BYTES:
            raise _error("response head too large")
        return _parse_head(head)

    def _done(self, keep_alive: bool) -> None:
        self._busy = False
        self._reusable = keep_alive and not self._buf  # a stray byte after the body: drop it
        self._idle_at = time.monotonic()

    async def _fixed(self, length: int, keep_alive: bool) -> AsyncIterator[bytes]:
        left = length
        while left > 0:
            if not self._buf and not await self._fill():
                raise _error("server closed the connection before the end of the body")
            part = bytes(self._buf[:left])
            del self._buf[:left]
            left -= len(part)
            yield part
        self._done(keep_alive)

    async def _line(self) -> bytes:
        while True:
            end = self._buf.find(b"\n")
            if end >= 0:
                line = bytes(self._buf[:end]).rstrip(b"\r")
                del self._buf[:end + 1]
                return line
            if len(self._buf) > MAX_CHUNK_LINE:
                raise _error("chunk size line too long")
            if not await self._fill():
                raise _error("server closed the connection inside a chunked body")

    async def _chunked(self, keep_alive: bool) -> AsyncIterator[bytes]:
        while True:
            size_text = (await self._line()).split(b";", 1)[0].strip()
            try:
                size = int(size_text, 16)
            except ValueError:
                raise _error(f"bad chunk size {size_text[:40]!r}") from None
            if size < 0:
                raise _error("bad chunk size")
            if size == 0:
                break
            async for part in self._fixed_part(size):
                yield part
            if await self._line():
                raise _error("chunk data longer than its size")
        for _ in range(MAX_HEADERS):  # trailers, up to an empty line
            if not await self._line():
                self._done(keep_alive)
                return
        raise _error("too many trailer lines")

    async def _fixed_part(self, size: int) -> AsyncIterator[bytes]:
        left = size
        while left > 0:
            if not self._buf and not await self._fill():
                raise _error("server closed the connection inside a chunk")
            part = bytes(self._buf[:left])
            del self._buf[:left]
            left -= len(part)
            yield part

    async def _until_close(self) -> AsyncIterator[bytes]:
        if self._buf:
            part = bytes(self._buf)
            self._buf.clear()
            yield part
        while True:
            data = await self._stream.read(READ_SIZE, self._read_timeout)
            if not data:
                break
            yield data
        self._done(False)


async def _empty() -> AsyncIterator[bytes]:
    return
    yield b""  # an async generator that yields nothing


def _serialise(
    method: bytes, target: bytes, headers: list[tuple[bytes, bytes]], body: bytes
) -> bytes:
    parts = [method, b" ", target, b" HTTP/1.1\r\n"]
    for name, value in headers:
        parts += (name, b": ", value, b"\r\n")
    parts.append(b"\r\n")
    head = b"".join(parts)
    if head.count(b"\n") != len(headers) + 2 or head.count(b"\r") != len(headers) + 2:
        raise httpx.LocalProtocolError("a request target or header contains a line break")
    return head + body if body else head


def _parse_head(head: bytes) -> tuple[int, bytes, list[tuple[bytes, bytes]], bytes]:
    lines = head.split(b"\n")
    status_line = lines[0].rstrip(b"\r")
    version, _, rest = status_line.partition(b" ")
    code = rest[:3]
    if (version not in (b"HTTP/1.1", b"HTTP/1.0") or len(code) != 3 or not code.isdigit()
            or rest[3:4] not in (b"", b" ")):
        raise _error(f"garbage status line {status_line[:60]!r}")
    if len(lines) > MAX_HEADERS + 1:
        raise _error("too many response headers")
    headers: list[tuple[bytes, bytes]] = []
    for raw in lines[1:]:
        line = raw.rstrip(b"\r")
        if line[:1] in (b" ", b"\t"):  # obsolete line folding
            if not headers:
                raise _error("a folded header line without a header")
            name, value = headers[-1]
            headers[-1] = (name, value + b" " + line.strip(b" \t"))
            continue
        name, sep, value = line.partition(b":")
        if not sep or not name or name != name.strip() or b" " in name:
            raise _error(f"bad header line {line[:60]!r}")
        headers.append((name, value.strip(b" \t")))
    return int(code), rest[4:], headers, version


def _has_token(headers: list[tuple[bytes, bytes]], name: bytes, token: bytes) -> bool:
    for key, value in headers:
        if key.lower() == name and token in value.lower():
            return True
    return False


def _content_length(headers: list[tuple[bytes, bytes]]) -> int | None:
    found: set[bytes] = set()
    for key, value in headers:
        if key.lower() == b"content-length":
            found.update(v.strip() for v in value.split(b","))
    if not found:
        return None
    if len(found) > 1:
        raise _error("conflicting Content-Length values")
    (text,) = found
    if not text.isdigit():
        raise _error(f"bad Content-Length {text[:40]!r}")
    return int(text)
