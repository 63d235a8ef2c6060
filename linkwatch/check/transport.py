"""The httpx transport that enforces the address policy and the deadline at the socket.

``GuardedBackend`` is an httpcore network backend: for every new connection it resolves the
host once, refuses the host if *any* answer is disallowed (``AddressBlocked``), and connects
to the vetted address itself, so the checked IP is the connected IP (no DNS rebinding
between check and connect; redirects and keep-alive are covered because every new origin
opens a new connection). TLS still verifies the host name: httpcore passes the origin's
host as ``server_hostname``. Every read and write is bounded by the per-check deadline in
``DEADLINE`` (a server dribbling one byte every half second cannot outlive it).

Within a check (``DEADLINE`` set) the check's own ``asyncio.timeout`` ends a read at the
deadline, so reads need no timer of their own.

``GuardedTransport`` is the small ``httpx.AsyncBaseTransport`` that opens HTTP/1.1
connections (``linkwatch.check.http11``) through that backend and keeps them alive per
origin (``httpx.AsyncHTTPTransport`` takes no backend argument).
"""

from __future__ import annotations

import asyncio
import collections
import contextvars
import socket
import ssl
import time
import typing
from collections.abc import Awaitable, Callable

import httpcore
import httpx

from linkwatch.check.http11 import Connection, NoResponse
from linkwatch.check.policy import AddressBlocked, AddressPolicy

Resolver = Callable[[str, int], Awaitable[list[str]]]
DEADLINE: contextvars.ContextVar[float | None] = contextvars.ContextVar(
    "linkwatch_deadline", default=None
)
#: the answers that say the name does not exist (NXDOMAIN, no address records); any other
#: failure (EAI_AGAIN, EAI_FAIL, EAI_SYSTEM when out of file descriptors, ...) says
#: nothing about the link
_PERMANENT_DNS = {getattr(socket, n) for n in ("EAI_NONAME", "EAI_NODATA") if hasattr(socket, n)}


class NameNotResolved(Exception):  # noqa: N818 - a link fault carried to the check boundary
    """DNS gave no address. ``permanent`` is True for NXDOMAIN-like answers."""

    def __init__(self, host: str, message: str, permanent: bool) -> None:
        super().__init__(f"cannot resolve {host}: {message}")
        self.permanent = permanent


async def system_resolver(host: str, port: int) -> list[str]:
    """All addresses of ``host`` from the OS resolver, in its order, without duplicates."""
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise NameNotResolved(host, exc.strerror or str(exc),
                              permanent=exc.errno in _PERMANENT_DNS) from None
    except UnicodeError as exc:
        raise NameNotResolved(host, str(exc), permanent=True) from None
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def _budget(timeout: float | None) -> float | None:
    """``timeout`` shortened to what is left of the current check's deadline."""
    deadline = DEADLINE.get()
    if deadline is None:
        return timeout
    left = deadline - time.monotonic()
    if left <= 0:
        raise httpcore.ReadTimeout("deadline for this check reached")
    return left if timeout is None else min(timeout, left)


class DeadlineStream(httpcore.AsyncNetworkStream):
    """A network stream whose every operation ends by the check's deadline."""

    def __init__(self, inner: httpcore.AsyncNetworkStream) -> None:
        self._inner = inner

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        if DEADLINE.get() is not None:
            # within a check: its own timeout ends the wait at the deadline, so no timer
            # per read (that timer was a tenth of the checker's CPU)
            _budget(timeout)
            return await self._inner.read(max_bytes, None)
        return await self._inner.read(max_bytes, timeout)

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        await self._inner.write(buffer, _budget(timeout))

    async def aclose(self) -> None:
        await self._inner.aclose()

    async def start_tls(
        self, ssl_context: ssl.SSLContext, server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.AsyncNetworkStream:
        inner = await self._inner.start_tls(ssl_context, server_hostname, _budget(timeout))
        return DeadlineStream(inner)

    def get_extra_info(self, info: str) -> typing.Any:
        return self._inner.get_extra_info(info)


class AsyncioStream(httpcore.AsyncNetworkStream):
    """An httpcore stream on plain asyncio streams (lighter than the anyio backend)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        if timeout is None or _buffered(self._reader):
            try:
                return await self._reader.read(max_bytes)
            except OSError as exc:
                raise httpcore.ReadError(str(exc) or type(exc).__name__) from exc
        try:
            async with asyncio.timeout(timeout):
                return await self._reader.read(max_bytes)
        except TimeoutError:
            raise httpcore.ReadTimeout("read timed out") from None
        except OSError as exc:
            raise httpcore.ReadError(str(exc) or type(exc).__name__) from exc

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        if not buffer:
            return
        try:
            self._writer.write(buffer)
            if not self._writer.transport.get_write_buffer_size():
                return  # all sent at once (the usual case for a request head)
            async with asyncio.timeout(timeout):
                await self._writer.drain()
        except TimeoutError:
            raise httpcore.WriteTimeout("write timed out") from None
        except OSError as exc:
            raise httpcore.WriteError(str(exc) or type(exc).__name__) from exc

    async def aclose(self) -> None:
        self._writer.close()

    async def start_tls(
        self, ssl_context: ssl.SSLContext, server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.AsyncNetworkStream:
        try:
            async with asyncio.timeout(timeout):
                await self._writer.start_tls(ssl_context, server_hostname=server_hostname)
        except TimeoutError:
            self._writer.transport.abort()
            raise httpcore.ConnectTimeout("TLS handshake timed out") from None
        except (OSError, ssl.SSLError) as exc:
            self._writer.transport.abort()
            raise httpcore.ConnectError(str(exc) or type(exc).__name__) from exc
        return self

    def get_extra_info(self, info: str) -> typing.Any:
        if info == "ssl_object":
            return self._writer.get_extra_info("ssl_object")
        if info == "client_addr":
            return self._writer.get_extra_info("sockname")
        if info == "server_addr":
            return self._writer.get_extra_info("peername")
        if info == "socket":
            return self._writer.get_extra_info("socket")
        if info == "is_readable":
            # the event loop reads whatever arrives: a kept-alive idle connection the
            # server closed is at EOF, one it sent junk on has buffered bytes
            reader = self._reader
            return (reader.at_eof() or reader.exception() is not None or _buffered(reader)
                    or self._writer.is_closing())
        return None


def _buffered(reader: asyncio.StreamReader) -> bool:
    """Bytes already received and not yet read (CPython's StreamReader keeps them in
    ``_buffer``)."""
    return bool(getattr(reader, "_buffer", b""))


class AsyncioBackend(httpcore.AsyncNetworkBackend):
    async def connect_tcp(
        self, host: str, port: int, timeout: float | None = None,
        local_address: str | None = None,
        socket_options: typing.Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        try:
            async with asyncio.timeout(timeout):
                reader, writer = await asyncio.open_connection(
                    host, port, local_addr=(local_address, 0) if local_address else None,
                    limit=256 * 1024)
        except TimeoutError:
            raise httpcore.ConnectTimeout(f"connecting to {host} timed out") from None
        except OSError as exc:
            raise httpcore.ConnectError(str(exc) or type(exc).__name__) from exc
        return AsyncioStream(reader, writer)

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None,
        socket_options: typing.Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("unix sockets are not used")

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """Resolve once, vet every answer, connect to the vetted address."""

    def __init__(self, policy: AddressPolicy, resolver: Resolver = system_resolver,
                 inner: httpcore.AsyncNetworkBackend | None = None) -> None:
        self.policy = policy
        self.resolver = resolver
        self.inner = inner or AsyncioBackend()

    async def connect_tcp(
        self, host: str, port: int, timeout: float | None = None,
        local_address: str | None = None,
        socket_options: typing.Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        addresses = await self.resolver(host.strip("[]"), port)
        self.policy.vet(host, addresses)
        last: Exception | None = None
        for address in addresses:
            try:
                stream = await self.inner.connect_tcp(
                    address, port, _budget(timeout), local_address, socket_options
                )
            except httpcore.ConnectError as exc:
                last = exc
                continue
            return DeadlineStream(stream)
        raise last or httpcore.ConnectError(f"cannot connect to {host}")

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None,
        socket_options: typing.Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise AddressBlocked("unix sockets are never contacted")

    async def sleep(self, seconds: float) -> None:
        await self.inner.sleep(seconds)


_EXC_MAP: tuple[tuple[type[Exception], type[httpx.HTTPError]], ...] = (
    (httpcore.ConnectTimeout, httpx.ConnectTimeout),
    (httpcore.ReadTimeout, httpx.ReadTimeout),
    (httpcore.WriteTimeout, httpx.WriteTimeout),
    (httpcore.PoolTimeout, httpx.PoolTimeout),
    (httpcore.TimeoutException, httpx.TimeoutException),
    (httpcore.ConnectError, httpx.ConnectError),
    (httpcore.ReadError, httpx.ReadError),
    (httpcore.WriteError, httpx.WriteError),
    (httpcore.NetworkError, httpx.NetworkError),
    (httpcore.UnsupportedProtocol, httpx.UnsupportedProtocol),
    (httpcore.RemoteProtocolError, httpx.RemoteProtocolError),
    (httpcore.LocalProtocolError, httpx.LocalProtocolError),
    (httpcore.ProtocolError, httpx.ProtocolError),
)


def _as_httpx(exc: Exception) -> Exception | None:
    """The httpx twin of an httpcore exception; None for our own (policy, DNS) and others."""
    if isinstance(exc, httpcore.ProxyError):
        return httpx.ProxyError(str(exc))
    for source, target in _EXC_MAP:
        if isinstance(exc, source):
            return target(str(exc))
    return None


class _ResponseStream(httpx.AsyncByteStream):
    """The body of a response; closing it hands the connection back to the transport."""

    def __init__(
        self, stream: typing.AsyncIterator[bytes], on_close: Callable[[], Awaitable[None]]
    ) -> None:
        self._stream = stream
        self._on_close: Callable[[], Awaitable[None]] | None = on_close

    async def __aiter__(self) -> typing.AsyncIterator[bytes]:
        try:
            async for part in self._stream:
                yield part
        except Exception as exc:
            twin = _as_httpx(exc)
            if twin is None:
                raise
            raise twin from exc

    async def aclose(self) -> None:
        try:
            close = getattr(self._stream, "aclose", None)
            if close is not None:
                await close()
        finally:
            if self._on_close is not None:
                on_close, self._on_close = self._on_close, None
                await on_close()


_Key = tuple[bytes, bytes, int]
_STALE = (httpcore.ReadError, httpcore.WriteError, NoResponse)


class GuardedTransport(httpx.AsyncBaseTransport):
    """httpx transport: HTTP/1.1 connections (``linkwatch.check.http11``) opened through
    ``GuardedBackend``, kept alive per origin.

    httpcore's connection pool queues requests and caps connections; here the batch runner
    already bounds what is in flight (per host and overall), so this keeps only a few idle
    connections per origin (``per_origin``) and at most ``max_idle`` in all, closing the
    least recently used. A kept-alive connection the server closed meanwhile gets the
    request once more on a new connection (only ``GET`` and ``HEAD`` are ever sent).
    """

    def __init__(self, backend: GuardedBackend, *, per_origin: int = 4, max_idle: int = 256,
                 keepalive_expiry_s: float = 5.0, ca_bundle: str = "") -> None:
        self._backend = backend
        self._ca_bundle = ca_bundle
        self._ssl_context: ssl.SSLContext | None = None
        self._per_origin = max(1, per_origin)
        self._max_idle = max(1, max_idle)
        self._keepalive_expiry_s = keepalive_expiry_s
        self._idle: collections.OrderedDict[_Key, list[Connection]] = collections.OrderedDict()
        self._idle_count = 0
        self._live: set[Connection] = set()

    @property
    def _ssl(self) -> ssl.SSLContext:
        """The TLS context, made on first use (loading the CA store takes a while)."""
        if self._ssl_context is None:
            context = ssl.create_default_context()
            if self._ca_bundle:
                context.load_verify_locations(cafile=self._ca_bundle)
            context.set_alpn_protocols(["http/1.1"])
            self._ssl_context = context
        return self._ssl_context

    async def _reuse(self, key: _Key) -> Connection | None:
        idle = self._idle.get(key)
        while idle:
            conn = idle.pop()
            self._idle_count -= 1
            if conn.is_usable():
                return conn
            await self._close(conn)
        return None

    async def _connect(self, key: _Key, timeouts: dict[str, float]) -> Connection:
        scheme, raw_host, port = key
        host = raw_host.decode("ascii")
        stream = await self._backend.connect_tcp(host, port, timeout=timeouts.get("connect"))
        if scheme == b"https":
            try:
                stream = await stream.start_tls(self._ssl, server_hostname=host.strip("[]"),
                                                timeout=timeouts.get("connect"))
            except BaseException:
                await stream.aclose()
                raise
        conn = Connection(stream, self._keepalive_expiry_s)
        self._live.add(conn)
        return conn

    async def _close(self, conn: Connection) -> None:
        self._live.discard(conn)
        await conn.aclose()

    async def _give_back(self, key: _Key, conn: Connection) -> None:
        idle = self._idle.setdefault(key, [])
        if not conn.is_idle() or len(idle) >= self._per_origin:
            await self._close(conn)
            return
        idle.append(conn)
        self._idle.move_to_end(key)
        self._idle_count += 1
        while self._idle_count > self._max_idle:
            oldest_key = next(iter(self._idle))
            oldest = self._idle[oldest_key]
            if not oldest:
                del self._idle[oldest_key]
                continue
            self._idle_count -= 1
            await self._close(oldest.pop(0))

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        scheme = url.raw_scheme
        if scheme not in (b"http", b"https"):
            raise httpx.UnsupportedProtocol(f"scheme {url.scheme!r} is not supported")
        key = (scheme, url.raw_host, url.port or (443 if scheme == b"https" else 80))
        timeouts = request.extensions.get("timeout", {})
        method = request.method.encode("ascii")
        body = b"" if method in (b"GET", b"HEAD") else await request.aread()
        try:
            conn, status, reason, headers, stream = await self._exchange(
                key, method, url.raw_path, request.headers.raw, body, timeouts)
        except Exception as exc:
            twin = _as_httpx(exc)
            if twin is None:
                raise
            raise twin from exc

        async def release() -> None:
            await self._give_back(key, conn)

        return httpx.Response(status_code=status, headers=headers,
                              stream=_ResponseStream(stream, release),
                              extensions={"http_version": b"HTTP/1.1", "reason_phrase": reason})

    async def _exchange(
        self, key: _Key, method: bytes, target: bytes, headers: list[tuple[bytes, bytes]],
        body: bytes, timeouts: dict[str, float],
    ) -> tuple[Connection, int, bytes, list[tuple[bytes, bytes]], typing.AsyncIterator[bytes]]:
        """One request on a kept-alive connection (again on a new one if the server had
        closed it) or a new one."""
        for attempt in range(2):
            reused = await self._reuse(key)
            conn = reused if reused is not None else await self._connect(key, timeouts)
            try:
                status, reason, got, stream = await conn.request(
                    method, target, headers, body, timeouts)
            except _STALE:
                await self._close(conn)
                if reused is None or attempt or method not in (b"GET", b"HEAD"):
                    raise
                continue  # the server had closed this kept-alive connection
            except BaseException:
                await self._close(conn)
                raise
            return conn, status, reason, got, stream
        raise AssertionError("unreachable")  # pragma: no cover

    async def aclose(self) -> None:
        live, self._live = list(self._live), set()
        self._idle.clear()
        self._idle_count = 0
        for conn in live:
            await conn.aclose()
