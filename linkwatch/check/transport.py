"""The network edge: one aiohttp session whose every connection passes the address policy.

aiohttp's ``TCPConnector`` (C llhttp parser, connection pooling, keep-alive) asks its
resolver for the addresses of a host name and connects only to what the resolver returned.
``VettingResolver`` resolves once, refuses the host if *any* answer is disallowed
(``AddressBlocked``) and hands the connector exactly the vetted addresses, so the checked IP
is the connected IP (no DNS rebinding between check and connect). Every redirect hop to a
new origin opens its connection through it; the DNS cache is off so each connection is
vetted on a fresh answer. IP literals never reach a resolver: ``check_url`` refuses them
before the request (the URL standard has already turned ``0177.0.0.1`` and ``2130706433``
into ``127.0.0.1``; aiohttp refuses any non-canonical IPv4 form that slips through).

Bodies are never inflated by aiohttp (``auto_decompress=False``): ``linkwatch.check.body``
inflates with a bound. No proxy or ``.netrc`` from the environment (``trust_env=False``),
no cookies kept between checks (``DummyCookieJar``), TLS verified with the system's CAs
plus ``check.ca_bundle``.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections.abc import Awaitable, Callable

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult

from linkwatch.check.policy import AddressPolicy

Resolver = Callable[[str, int], Awaitable[list[str]]]
#: the answers that say the name does not exist (NXDOMAIN, no address records); any other
#: failure (EAI_AGAIN, EAI_FAIL, EAI_SYSTEM when out of file descriptors, ...) says
#: nothing about the link
_PERMANENT_DNS = {getattr(socket, n) for n in ("EAI_NONAME", "EAI_NODATA") if hasattr(socket, n)}
#: response heads: longest line and header field llhttp accepts (a head over that is a
#: protocol error, never a crash)
MAX_LINE_BYTES = 16 * 1024
MAX_FIELD_BYTES = 16 * 1024
KEEPALIVE_S = 5.0


class NameNotResolved(Exception):
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
        raise NameNotResolved(
            host, exc.strerror or str(exc), permanent=exc.errno in _PERMANENT_DNS
        ) from None
    except UnicodeError as exc:
        raise NameNotResolved(host, str(exc), permanent=True) from None
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


class VettingResolver(AbstractResolver):
    """aiohttp resolver: resolve once, vet every answer, return only vetted addresses."""

    def __init__(self, policy: AddressPolicy, resolve: Resolver = system_resolver) -> None:
        self.policy = policy
        self._resolve = resolve

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        addresses = await self._resolve(host.rstrip("."), port)
        self.policy.vet(host, addresses)
        return [
            ResolveResult(
                hostname=host,
                host=address,
                port=port,
                family=socket.AF_INET6 if ":" in address else socket.AF_INET,
                proto=0,
                flags=socket.AI_NUMERICHOST,
            )
            for address in addresses
        ]

    async def close(self) -> None:
        return None


def tls_context(ca_bundle: str = "") -> ssl.SSLContext | bool:
    """The system's trust store, plus an intranet CA when configured. ``True`` (aiohttp's
    own verifying default context, made once at its import) when there is none: loading
    the system's CAs again costs 50 ms a run."""
    if not ca_bundle:
        return True
    context = ssl.create_default_context()
    context.load_verify_locations(cafile=ca_bundle)
    return context


SentHook = Callable[[str, float], None]


def _on_sent(hook: SentHook) -> aiohttp.TraceConfig:
    """A trace that reports when a request's head has really gone out (after any DNS
    look-up and connect), by host and the loop's time: politeness spacing is measured
    from there."""
    trace = aiohttp.TraceConfig()

    async def sent(
        session: aiohttp.ClientSession, ctx: object, params: aiohttp.TraceRequestHeadersSentParams
    ) -> None:
        hook(params.url.raw_host or "", asyncio.get_running_loop().time())

    trace.on_request_headers_sent.append(sent)
    return trace


def open_session(
    policy: AddressPolicy,
    resolve: Resolver,
    *,
    concurrency: int,
    connect_timeout_s: float,
    ca_bundle: str = "",
    proxy: str = "",
    on_sent: SentHook | None = None,
) -> aiohttp.ClientSession:
    """The one session a check run shares (to be used inside a running event loop).

    With ``proxy`` set, the proxy decides which addresses are reached (the resolver then
    only ever sees the proxy's own name). ``on_sent(host, at)`` hears when each request
    really went out.
    """
    connector = aiohttp.TCPConnector(
        resolver=None if proxy else VettingResolver(policy, resolve),
        use_dns_cache=False,
        ssl=tls_context(ca_bundle),
        limit=max(16, concurrency * 2),
        limit_per_host=0,
        keepalive_timeout=KEEPALIVE_S,
    )
    return aiohttp.ClientSession(
        connector=connector,
        trust_env=False,
        auto_decompress=False,
        cookie_jar=aiohttp.DummyCookieJar(),
        skip_auto_headers=("User-Agent",),
        timeout=aiohttp.ClientTimeout(total=None, sock_connect=connect_timeout_s),
        max_line_size=MAX_LINE_BYTES,
        max_field_size=MAX_FIELD_BYTES,
        proxy=proxy or None,
        trace_configs=[_on_sent(on_sent)] if on_sent is not None else None,
    )
