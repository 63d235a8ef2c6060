"""Checking one URL: ``check_url(url, ctx) -> CheckResult``; never raises for link faults.

Request policy: ``HEAD`` first when only liveness is wanted, then a streamed ``GET``
whenever ``HEAD`` is not a clear 2xx/3xx; a streamed ``GET`` straight away when the body is
wanted (title, fingerprint, soft-404 detection). Redirects are followed by hand (at most
``check.max_redirects``), every hop re-checked for scheme and address policy (the policy
itself runs at connect time in ``linkwatch.check.transport``). One wall-clock deadline
(``check.timeout_s``) covers connect, headers, body and every hop.
"""

from __future__ import annotations

import asyncio
import http.cookiejar
import random
import re
import ssl
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import httpx

from linkwatch import __version__
from linkwatch.check.body import ACCEPT_ENCODING, Page, is_html, page_of, read_body
from linkwatch.check.classify import (
    PERMANENT_CODES,
    REDIRECT_CODES,
    is_clear_success,
    outcome_for_exception,
    outcome_for_status,
)
from linkwatch.check.hosts import HostLimiter
from linkwatch.check.parsed_url import parse_url
from linkwatch.check.policy import AddressBlocked, AddressPolicy, literal_address
from linkwatch.check.robots import ROBOTS_MAX_BYTES, RobotsCache
from linkwatch.check.soft404 import (
    ProbeCache,
    ProbeResult,
    is_home,
    is_redirect_to_home,
    last_segment,
    looks_like_sibling,
    sibling_url,
)
from linkwatch.check.transport import (
    DEADLINE,
    GuardedBackend,
    GuardedTransport,
    Resolver,
    system_resolver,
)
from linkwatch.clock import Clock, retry_after_seconds
from linkwatch.config import CheckSettings, Settings
from linkwatch.model import CheckResult, Outcome
from linkwatch.urls import ALLOWED_SCHEMES, InvalidURL, canonicalize, host_of

PROBE_TIMEOUT_S = 10.0
CACHE_MAX = 10_000  # origins whose headers and address verdicts are kept per run
_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.\-]*):")
_NO_BODY = httpx.ByteStream(b"")
_NON_ASCII = re.compile(r"[\x80-\xff]")
ROBOTS_AGENT = "linkwatch"
MAX_DECODED_FACTOR = 2  # inflated bytes parsed per raw byte allowed
#: a page with less main text than this (an app shell that a script fills in) looks like
#: every other page of its site: comparing it with a made-up sibling proves nothing
MIN_COMPARABLE_TEXT = 50


@dataclass
class CheckContext:
    """What every check shares within one run."""

    client: httpx.AsyncClient
    settings: CheckSettings
    policy: AddressPolicy
    limiter: HostLimiter
    clock: Clock
    probes: ProbeCache = field(default_factory=ProbeCache)
    rng: random.Random = field(default_factory=random.Random)
    robots: RobotsCache | None = None
    #: the client's transport; checks send through it directly (the client's redirect,
    #: auth and cookie machinery is what we do by hand, and costs a third of the CPU)
    transport: httpx.AsyncBaseTransport | None = None
    request_timeouts: dict[str, float] = field(default_factory=dict)
    _headers: dict[bytes, httpx.Headers] = field(default_factory=dict)
    _refusals: dict[str, str | None] = field(default_factory=dict)

    def headers(self, url: httpx.URL, host: str) -> httpx.Headers:
        """The request headers for ``url`` (``host`` is its host), ``Host`` first; built
        once per origin."""
        netloc = url.netloc
        found = self._headers.get(netloc)
        if found is None:
            found = httpx.Headers([
                (b"Host", netloc), (b"Accept", b"text/html,application/xhtml+xml,*/*;q=0.8"),
                (b"Accept-Encoding", ACCEPT_ENCODING.encode("ascii")),
                (b"User-Agent", user_agent(self.settings, host).encode("utf-8"))])
            if len(self._headers) < CACHE_MAX:
                self._headers[netloc] = found
        return found

    def refusal(self, host: str) -> str | None:
        """Why the address policy refuses ``host`` when it is an IP literal, else None."""
        if host in self._refusals:
            return self._refusals[host]
        literal = literal_address(host)
        reason = self.policy.refusal(literal) if literal is not None else None
        if len(self._refusals) < CACHE_MAX:
            self._refusals[host] = reason
        return reason

    @property
    def timeouts(self) -> dict[str, float]:
        """The per-operation timeouts (the check's deadline bounds them all)."""
        cs = self.settings
        return {"connect": cs.connect_timeout_s, "read": cs.timeout_s, "write": cs.timeout_s,
                "pool": cs.timeout_s}


def user_agent(settings: CheckSettings, host: str) -> str:
    """The honest default ``linkwatch/<version> (+contact)``, or a per-host override."""
    for pattern, agent in settings.host_user_agents.items():
        p = pattern.lower().lstrip(".")
        if host == p or host.endswith("." + p):
            return agent
    if settings.user_agent:
        return settings.user_agent
    contact = f" (+{settings.contact})" if settings.contact else ""
    return f"linkwatch/{__version__}{contact}"


def _no_cookies() -> httpx.Cookies:
    return httpx.Cookies(http.cookiejar.CookieJar(http.cookiejar.DefaultCookiePolicy(
        allowed_domains=[])))


def _proxy_verify(settings: Settings) -> ssl.SSLContext:
    context = ssl.create_default_context()
    context.load_verify_locations(cafile=str(settings.resolve(settings.check.ca_bundle)))
    return context


@asynccontextmanager
async def open_context(
    settings: Settings, clock: Clock, *, extra_allow: tuple[str, ...] = (),
    resolver: Resolver = system_resolver, rng: random.Random | None = None,
) -> AsyncIterator[CheckContext]:
    """One shared client (no env proxies, no shared cookies) with the guarded transport."""
    cs = settings.check
    policy = AddressPolicy.from_cidrs(cs.allow_networks + extra_allow, cs.deny_networks)
    transport: httpx.AsyncBaseTransport
    if cs.proxy:
        # the proxy, not linkwatch, then decides which addresses are reached
        transport = httpx.AsyncHTTPTransport(
            proxy=cs.proxy, retries=0,
            verify=_proxy_verify(settings) if cs.ca_bundle else True)
    else:
        transport = GuardedTransport(GuardedBackend(policy, resolver),
                                     per_origin=cs.per_host + 2,
                                     max_idle=max(64, cs.concurrency * 4),
                                     ca_bundle=str(settings.resolve(cs.ca_bundle))
                                     if cs.ca_bundle else "")
    client = httpx.AsyncClient(
        transport=transport, trust_env=False, follow_redirects=False, cookies=_no_cookies(),
        timeout=httpx.Timeout(cs.timeout_s, connect=cs.connect_timeout_s),
        headers={"Accept": "text/html,application/xhtml+xml,*/*;q=0.8",
                 "Accept-Encoding": ACCEPT_ENCODING},
    )
    ctx = CheckContext(client, cs, policy, HostLimiter(cs.concurrency, cs.host_interval_s),
                       clock, rng=rng or random.Random(),  # noqa: S311 - probe names only
                       transport=transport)
    ctx.request_timeouts = ctx.timeouts
    if cs.honor_robots:
        ctx.robots = RobotsCache(lambda url: _fetch_robots(ctx, url))
    try:
        yield ctx
    finally:
        if ctx.robots is not None:
            await ctx.robots.aclose()
        await ctx.probes.aclose()
        await client.aclose()


@dataclass
class _Trace:
    """What happened so far in one check (kept when a later hop fails)."""

    url: str
    chain: list[str] = field(default_factory=list)
    codes: list[int] = field(default_factory=list)
    status: int | None = None
    retry_after_s: float | None = None
    page: Page | None = None

    @property
    def final_url(self) -> str:
        return self.chain[-1] if self.chain else self.url

    @property
    def permanent(self) -> bool | None:
        return all(c in PERMANENT_CODES for c in self.codes) if self.codes else None


def _precheck(url: str) -> tuple[Outcome, str] | None:
    found = _SCHEME.match(url)
    scheme = found.group(1).lower() if found else ""
    if scheme and scheme not in ALLOWED_SCHEMES:
        return Outcome.SKIPPED_SCHEME, f"scheme {scheme!r} is not checked"
    try:
        canonicalize(url)
    except InvalidURL as exc:
        return Outcome.INVALID_URL, str(exc)
    return None


async def check_url(
    url: str, ctx: CheckContext, *, fetch_body: bool = True, canonical: bool = False
) -> CheckResult:
    """Check ``url`` once. Link faults come back as the result's outcome, never raised.

    ``canonical``: ``url`` is a canonical key (``linkwatch.urls.canonicalize``), so its
    scheme and form need no second look (redirect targets are always looked at).
    """
    checked_at = ctx.clock()
    started = time.monotonic()
    early = None if canonical else _precheck(url)
    if early is not None:
        return CheckResult(url, early[0], checked_at, error=early[1])
    trace = _Trace(url)
    token = DEADLINE.set(started + ctx.settings.timeout_s)
    try:
        async with asyncio.timeout(ctx.settings.timeout_s):
            outcome, error = await _follow(trace, ctx, fetch_body)
    except TimeoutError:
        outcome, error = Outcome.TIMEOUT, f"no complete answer within {ctx.settings.timeout_s:g} s"
    except Exception as exc:  # noqa: BLE001 - every failure becomes an outcome
        outcome, error = outcome_for_exception(exc)
    finally:
        DEADLINE.reset(token)
    page = trace.page
    return CheckResult(
        url=url, outcome=outcome, checked_at=checked_at, status=trace.status,
        final_url=trace.final_url, redirects=tuple(trace.chain),
        permanent_redirect=trace.permanent, elapsed_ms=int((time.monotonic() - started) * 1000),
        error=error, retry_after_s=trace.retry_after_s,
        title=page.title if page else None, content_hash=page.content_hash if page else None,
    )


DRAIN_MAX_BYTES = 16 * 1024


async def _release(response: httpx.Response) -> None:
    """Close a response; read a small unread rest first so the connection can be reused
    (closing mid-message forces httpcore to drop the connection)."""
    if not response.is_closed and not response.is_stream_consumed:
        length = response.headers.get("content-length", "")
        empty = response.request.method == "HEAD" or response.status_code in (204, 304)
        if empty or (length.isdigit() and int(length) <= DRAIN_MAX_BYTES):
            try:
                async for _ in response.aiter_raw():
                    pass
            except (httpx.HTTPError, OSError):
                pass
    await response.aclose()


def _location(response: httpx.Response) -> str | None:
    """The first ``Location``, its non-ASCII bytes percent-encoded as sent (what a browser
    requests). Not ``headers.get``: httpx joins a repeated header with ", " (some servers
    send the same ``Location`` twice) and decodes every header with one charset guessed
    for all of them (one Latin-1 header turns a UTF-8 ``Location`` into mojibake)."""
    for name, value in response.headers.raw:
        if name.lower() == b"location":
            return _NON_ASCII.sub(lambda m: f"%{ord(m.group()):02X}", value.decode("latin-1"))
    return None


async def _send(ctx: CheckContext, method: str, url: str, jar: httpx.Cookies) -> httpx.Response:
    parsed = parse_url(url)
    host = parsed.raw_host.decode("ascii", errors="replace")  # punycode, as host_of gives
    if not ctx.settings.proxy:
        reason = ctx.refusal(host)
        if reason is not None:
            raise AddressBlocked(reason)
    await ctx.limiter.take_turn(host)
    request = httpx.Request(method, parsed, headers=ctx.headers(parsed, host), stream=_NO_BODY,
                            extensions={"timeout": ctx.request_timeouts})
    if jar:
        jar.set_cookie_header(request)
    if ctx.transport is not None:
        response = await ctx.transport.handle_async_request(request)
        response.request = request
    else:
        response = await ctx.client.send(request, stream=True)
    if "set-cookie" in response.headers:
        jar.extract_cookies(response)
    return response


async def _ask(
    ctx: CheckContext, method: str, url: str, jar: httpx.Cookies
) -> tuple[str, httpx.Response]:
    """HEAD, falling back to GET unless HEAD gave a clear 2xx/3xx or asked us to wait
    (429, 503 with ``Retry-After``: asking again at once would ignore it)."""
    if method == "HEAD":
        try:
            response = await _send(ctx, "HEAD", url, jar)
        except (httpx.RemoteProtocolError, httpx.ReadError):
            pass  # some servers drop HEAD
        else:
            status = response.status_code
            if is_clear_success(status) or outcome_for_status(
                    status, response.headers) is Outcome.RATE_LIMITED:
                return "HEAD", response
            await _release(response)
    return "GET", await _send(ctx, "GET", url, jar)


async def _follow(trace: _Trace, ctx: CheckContext, fetch_body: bool) -> tuple[Outcome, str | None]:
    method = "GET" if fetch_body else "HEAD"
    jar = httpx.Cookies()
    current = trace.url
    for _hop in range(ctx.settings.max_redirects + 1):
        if ctx.robots is not None and not (await ctx.robots.for_url(current)).allows(
                current, ROBOTS_AGENT):
            return Outcome.SKIPPED_ROBOTS, f"robots.txt of {host_of(current)} disallows it"
        method, response = await _ask(ctx, method, current, jar)
        try:
            trace.status = response.status_code
            location = _location(response)
            if response.status_code in REDIRECT_CODES and location:
                try:
                    current = str(httpx.URL(current).join(location.strip()))
                except (httpx.InvalidURL, ValueError) as exc:
                    return Outcome.INVALID_URL, f"bad redirect Location {location[:200]!r}: {exc}"
                trace.chain.append(current)
                trace.codes.append(response.status_code)
                early = _precheck(current)
                if early is not None:
                    return early[0], f"redirected to {current[:300]}: {early[1]}"
                continue
            return await _final(trace, ctx, response, method, fetch_body)
        finally:
            await _release(response)
    return Outcome.TOO_MANY_REDIRECTS, f"more than {ctx.settings.max_redirects} redirects"


async def _final(
    trace: _Trace, ctx: CheckContext, response: httpx.Response, method: str, fetch_body: bool
) -> tuple[Outcome, str | None]:
    status = response.status_code
    outcome = outcome_for_status(status, response.headers)
    if outcome is Outcome.RATE_LIMITED:
        trace.retry_after_s = retry_after_seconds(response.headers.get("retry-after"), ctx.clock())
        return outcome, f"HTTP {status}"
    if not outcome.is_alive:
        reason = "bot challenge (cf-mitigated)" if response.headers.get("cf-mitigated") else ""
        return outcome, f"HTTP {status}" + (f": {reason}" if reason else "")
    if trace.chain and is_redirect_to_home(trace.url, trace.final_url):
        return Outcome.SOFT404, "deep link redirected to the site's home page"
    alive = Outcome.REDIRECTED if trace.chain else Outcome.OK
    if not (fetch_body and method == "GET" and status == 200 and is_html(response)):
        return alive, None
    cap = ctx.settings.max_body_bytes
    data = await read_body(response, cap, cap * MAX_DECODED_FACTOR)
    if data is None:
        return alive, None
    trace.page = page = page_of(response, data, drop=(last_segment(trace.final_url),))
    if page.says_not_found:
        return Outcome.SOFT404, f"page says not found: {(page.heading or page.title or '')[:120]!r}"
    if ctx.settings.soft404_probe and not is_home(trace.final_url):
        await _release(response)
        probe = await ctx.probes.get(trace.final_url, lambda: _probe(ctx, trace.final_url))
        comparable = page.content_hash if len(page.text) >= MIN_COMPARABLE_TEXT else None
        if looks_like_sibling(comparable, trace.final_url, probe):
            return Outcome.SOFT404, "same page as a made-up URL on this site"
    return alive, None


async def _fetch_robots(ctx: CheckContext, url: str) -> tuple[int, bytes]:
    """GET a robots.txt (up to 5 redirects, capped body) under the check's own limits."""
    jar = httpx.Cookies()
    for _hop in range(6):
        response = await _send(ctx, "GET", url, jar)
        try:
            location = _location(response)
            if response.status_code in REDIRECT_CODES and location:
                url = str(httpx.URL(url).join(location.strip()))
                continue
            body = b""
            if response.status_code == 200:
                body = await read_body(response, ROBOTS_MAX_BYTES, ROBOTS_MAX_BYTES) or b""
            return response.status_code, body
        finally:
            await _release(response)
    return 500, b""  # a redirect loop: treat as unreachable


async def _probe(ctx: CheckContext, url: str) -> ProbeResult | None:
    """Fetch a made-up sibling of ``url``; ``None`` when that tells us nothing."""
    probe_url, token = sibling_url(url, ctx.rng)
    trace = _Trace(probe_url)
    token_var = DEADLINE.set(time.monotonic() + min(PROBE_TIMEOUT_S, ctx.settings.timeout_s))
    try:
        async with asyncio.timeout(min(PROBE_TIMEOUT_S, ctx.settings.timeout_s)):
            jar = httpx.Cookies()
            current = probe_url
            for _hop in range(ctx.settings.max_redirects + 1):
                response = await _send(ctx, "GET", current, jar)
                try:
                    trace.status = response.status_code
                    location = _location(response)
                    if response.status_code in REDIRECT_CODES and location:
                        current = str(httpx.URL(current).join(location.strip()))
                        trace.chain.append(current)
                        continue
                    if response.status_code == 200 and is_html(response):
                        cap = ctx.settings.max_body_bytes
                        data = await read_body(response, cap, cap * MAX_DECODED_FACTOR)
                        if data is not None:
                            trace.page = page_of(response, data, drop=(token,))
                    break
                finally:
                    await _release(response)
    except Exception:  # noqa: BLE001 - a failed probe only means "no evidence"
        return None
    finally:
        DEADLINE.reset(token_var)
    return ProbeResult(trace.status, trace.final_url if trace.chain else None,
                       trace.page.content_hash if trace.page else None)


__all__ = ["CheckContext", "check_url", "open_context", "user_agent"]
