"""Checking one URL: ``check_url(url, ctx) -> CheckResult``; never raises for link faults.

Request policy: ``HEAD`` first when only liveness is wanted, then a streamed ``GET``
whenever ``HEAD`` is not a clear 2xx/3xx; a streamed ``GET`` straight away when the body is
wanted (title, fingerprint, soft-404 detection). Redirects are followed by one follower
(``_follow``, also used by soft-404 probes and robots.txt): at most ``check.max_redirects``
hops, a hop seen a third time ends as a redirect loop, every target parsed by the URL
standard and re-checked for scheme and address policy (the policy itself runs at connect
time in ``linkwatch.check.transport``). One deadline (``check.timeout_s``) covers connect,
headers, body and every hop; waiting for a host's turn (politeness spacing) is not network
time and moves the deadline on by the time waited.
"""

from __future__ import annotations

import asyncio
import collections
import ipaddress
import random
import re
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import aiohttp
from multidict import CIMultiDict
from yarl import URL

from linkwatch import __version__
from linkwatch.check.body import ACCEPT_ENCODING, Page, is_html, read_body, read_page
from linkwatch.check.classify import (
    PERMANENT_CODES,
    REDIRECT_CODES,
    is_clear_success,
    outcome_for_exception,
    outcome_for_status,
)
from linkwatch.check.hosts import HostPool
from linkwatch.check.policy import AddressBlocked, AddressPolicy
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
from linkwatch.check.transport import Resolver, open_session, system_resolver
from linkwatch.clock import Clock, retry_after_seconds
from linkwatch.config import CheckSettings, Settings
from linkwatch.model import CheckResult, Outcome
from linkwatch.urlrules import UrlRules
from linkwatch.urls import ALLOWED_SCHEMES, InvalidURL, canonicalize, host_of, resolve

PROBE_TIMEOUT_S = 10.0
ROBOTS_HOPS = 5
MAX_VISITS = 3  # a hop seen this often is a redirect loop (two repeats)
CACHE_MAX = 10_000  # hosts whose headers and address verdicts are kept per run
_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.\-]*):")
_NON_ASCII = re.compile(r"[\x80-\xff]")
ROBOTS_AGENT = "linkwatch"
MAX_DECODED_FACTOR = 1  # inflated bytes parsed per raw byte allowed: no text the parser
# hands over (an attribute value, say) is ever longer than the cap
DRAIN_MAX_BYTES = 16 * 1024
#: a page with less main text than this (an app shell that a script fills in) looks like
#: every other page of its site: comparing it with a made-up sibling proves nothing
MIN_COMPARABLE_TEXT = 50


@dataclass
class CheckContext:
    """What every check shares within one run."""

    session: aiohttp.ClientSession
    settings: CheckSettings
    policy: AddressPolicy
    hosts: HostPool
    clock: Clock
    probes: ProbeCache = field(default_factory=ProbeCache)
    rng: random.Random = field(default_factory=random.Random)
    robots: RobotsCache | None = None
    rules: UrlRules = field(default_factory=UrlRules)  # check.exclude / check.accept
    #: every address the resolver vetted, by host (what a check connected to)
    addresses: dict[str, tuple[str, ...]] = field(default_factory=dict)
    _headers: dict[str, CIMultiDict[str]] = field(default_factory=dict)
    _refusals: dict[str, str | None] = field(default_factory=dict)

    def headers(self, host: str) -> CIMultiDict[str]:
        """The request headers for ``host``, built once per host."""
        found = self._headers.get(host)
        if found is None:
            found = CIMultiDict(
                {
                    "Accept": "text/html,application/xhtml+xml,*/*;q=0.8",
                    "Accept-Encoding": ACCEPT_ENCODING,
                    "User-Agent": user_agent(self.settings, host),
                }
            )
            for name, value in host_headers(self.settings, host).items():
                found.popall(name, None)
                if value:
                    found[name] = value
            if len(self._headers) < CACHE_MAX:
                self._headers[host] = found
        return found

    def refusal(self, host: str) -> str | None:
        """Why the address policy refuses ``host`` when it is an IP literal, else None
        (names are vetted on their resolved addresses at connect time)."""
        if host in self._refusals:
            return self._refusals[host]
        try:
            literal = ipaddress.ip_address(host.strip("[]"))
        except ValueError:
            reason = None
        else:
            reason = self.policy.refusal(literal)
        if len(self._refusals) < CACHE_MAX:
            self._refusals[host] = reason
        return reason


def host_headers(settings: CheckSettings, host: str) -> dict[str, str]:
    """``check.host_headers`` for ``host``: the entries of every pattern it matches (the
    host itself or a parent domain), the most specific pattern last (it wins)."""
    matched = []
    for pattern, headers in settings.host_headers.items():
        p = pattern.lower().lstrip(".")
        if host == p or host.endswith("." + p):
            matched.append((len(p), headers))
    out: dict[str, str] = {}
    for _, headers in sorted(matched, key=lambda m: m[0]):
        out.update(headers)
    return out


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


class _Recording:
    """Resolver wrapper that remembers every vetted answer by host."""

    def __init__(self, resolve: Resolver, seen: dict[str, tuple[str, ...]]) -> None:
        self._resolve = resolve
        self._seen = seen

    async def __call__(self, host: str, port: int) -> list[str]:
        found = await self._resolve(host, port)
        if len(self._seen) < CACHE_MAX or host in self._seen:
            self._seen[host] = tuple(found)
        return found


@asynccontextmanager
async def open_context(
    settings: Settings,
    clock: Clock,
    *,
    extra_allow: tuple[str, ...] = (),
    resolver: Resolver = system_resolver,
    rng: random.Random | None = None,
) -> AsyncIterator[CheckContext]:
    """One shared session (no env proxies, no shared cookies) whose connections pass the
    address policy."""
    cs = settings.check
    policy = AddressPolicy.from_cidrs(cs.allow_networks + extra_allow, cs.deny_networks)
    addresses: dict[str, tuple[str, ...]] = {}
    pool = HostPool(cs.concurrency, cs.host_interval_s)
    session = open_session(
        policy,
        _Recording(resolver, addresses),
        concurrency=cs.concurrency,
        connect_timeout_s=cs.connect_timeout_s,
        ca_bundle=str(settings.resolve(cs.ca_bundle)) if cs.ca_bundle else "",
        proxy=cs.proxy,
        on_sent=(lambda host, at: pool.get(host).sent(at)) if cs.host_interval_s > 0 else None,
    )
    ctx = CheckContext(
        session,
        cs,
        policy,
        pool,
        clock,
        rng=rng or random.Random(),  # noqa: S311 - probe names only
        addresses=addresses,
        rules=UrlRules.compile(cs.exclude, cs.accept),
    )
    if cs.honor_robots:
        ctx.robots = RobotsCache(lambda url: _fetch_robots(ctx, url))
    try:
        yield ctx
    finally:
        if ctx.robots is not None:
            await ctx.robots.aclose()
        await ctx.probes.aclose()
        await session.close()


class _Ended(Exception):
    """A hop ended the check early with this outcome."""

    def __init__(self, outcome: Outcome, error: str) -> None:
        super().__init__(error)
        self.outcome = outcome
        self.error = error


@dataclass
class _Trace:
    """What happened so far in one check (kept when a later hop fails)."""

    url: str
    budget: asyncio.Timeout | None = None
    chain: list[str] = field(default_factory=list)
    codes: list[int] = field(default_factory=list)
    hosts: list[str] = field(default_factory=list)
    status: int | None = None
    retry_after_s: float | None = None
    page: Page | None = None
    waited_s: float = 0.0
    etag: str | None = None
    last_modified: str | None = None

    @property
    def final_url(self) -> str:
        return self.chain[-1] if self.chain else self.url

    @property
    def permanent(self) -> bool | None:
        return all(c in PERMANENT_CODES for c in self.codes) if self.codes else None

    def waited(self, seconds: float) -> None:
        """Politeness waits are not network time: move the deadline on by them."""
        if seconds > 0:
            self.waited_s += seconds
            if self.budget is not None and (when := self.budget.when()) is not None:
                self.budget.reschedule(when + seconds)


def _precheck(url: str) -> str | tuple[Outcome, str]:
    """The canonical key to request, or why ``url`` is never requested."""
    found = _SCHEME.match(url)
    scheme = found.group(1).lower() if found else ""
    if scheme and scheme not in ALLOWED_SCHEMES:
        return Outcome.SKIPPED_SCHEME, f"scheme {scheme!r} is not checked"
    try:
        return canonicalize(url)
    except InvalidURL as exc:
        return Outcome.INVALID_URL, str(exc)


async def check_url(
    url: str,
    ctx: CheckContext,
    *,
    fetch_body: bool = True,
    canonical: bool = False,
    etag: str | None = None,
    last_modified: str | None = None,
) -> CheckResult:
    """Check ``url`` once. Link faults come back as the result's outcome, never raised.

    ``canonical``: ``url`` is a canonical key (``linkwatch.urls.canonicalize``), so its
    scheme and form need no second look (redirect targets are always looked at).
    ``etag`` / ``last_modified``: validators from the last check, sent on a ``GET`` so an
    unchanged page can answer ``304``.
    """
    checked_at = ctx.clock()
    started = time.monotonic()
    key = url if canonical else _precheck(url)
    if isinstance(key, tuple):
        return CheckResult(url, key[0], checked_at, error=key[1])
    excluded = ctx.rules.excluded_by(key)
    if excluded is not None:
        why = f"excluded by check.exclude {excluded!r}"
        return CheckResult(key, Outcome.SKIPPED_EXCLUDED, checked_at, error=why)
    trace = _Trace(key)
    try:
        async with asyncio.timeout(ctx.settings.timeout_s) as budget:
            trace.budget = budget
            outcome, error = await _check(trace, ctx, fetch_body, (etag, last_modified))
    except TimeoutError:
        outcome, error = Outcome.TIMEOUT, f"no complete answer within {ctx.settings.timeout_s:g} s"
    except _Ended as ended:
        outcome, error = ended.outcome, ended.error
    except Exception as exc:  # noqa: BLE001 - every failure becomes an outcome
        outcome, error = outcome_for_exception(exc)
    page = trace.page
    addresses = tuple(dict.fromkeys(a for h in trace.hosts for a in _addresses_of(ctx, h)))
    if not outcome.is_alive and ctx.rules.accepts(trace.url, trace.status):
        outcome, error = Outcome.OK, f"HTTP {trace.status} accepted (check.accept)"
    return CheckResult(
        url=trace.url,
        outcome=outcome,
        checked_at=checked_at,
        status=trace.status,
        final_url=trace.final_url,
        redirects=tuple(trace.chain),
        permanent_redirect=trace.permanent,
        elapsed_ms=int((time.monotonic() - started - trace.waited_s) * 1000),
        error=error,
        retry_after_s=trace.retry_after_s,
        title=page.title if page else None,
        content_hash=page.content_hash if page else None,
        sketch=page.sketch if page else None,
        addresses=addresses,
        etag=trace.etag,
        last_modified=trace.last_modified,
    )


def _addresses_of(ctx: CheckContext, host: str) -> tuple[str, ...]:
    """What a check of ``host`` connected to: the literal itself, or the vetted answers."""
    found = ctx.addresses.get(host)
    if found is not None:
        return found
    try:
        literal = (str(ipaddress.ip_address(host.strip("[]"))),)
    except ValueError:
        return ()
    if len(ctx.addresses) < CACHE_MAX:
        ctx.addresses[host] = literal
    return literal


async def _release(response: aiohttp.ClientResponse) -> None:
    """Close a response; read a small unread rest first so the connection can be reused
    (closing mid-message drops the connection)."""
    if not response.closed and response.connection is not None:
        length = response.headers.get("content-length", "")
        if length.isdigit() and int(length) <= DRAIN_MAX_BYTES:
            try:
                await response.content.read()
            except (aiohttp.ClientError, OSError, ValueError):
                pass
    response.release()


def _location(response: aiohttp.ClientResponse) -> str | None:
    """The first ``Location``, its non-ASCII bytes percent-encoded as sent (what a browser
    requests): some servers send the same ``Location`` twice, and a UTF-8 or Latin-1
    ``Location`` must be followed by its bytes, not a charset guess."""
    for name, value in response.raw_headers:
        if name.lower() == b"location":
            return _NON_ASCII.sub(lambda m: f"%{ord(m.group()):02X}", value.decode("latin-1"))
    return None


async def _send(
    ctx: CheckContext,
    trace: _Trace,
    method: str,
    url: str,
    jar: dict[str, aiohttp.CookieJar],
    validators: tuple[str | None, str | None] = (None, None),
) -> aiohttp.ClientResponse:
    host = host_of(url)
    if not ctx.settings.proxy:
        reason = ctx.refusal(host)
        if reason is not None:
            raise AddressBlocked(reason)
    trace.waited(await ctx.hosts.get(host).take_turn())
    headers = ctx.headers(host)
    cookies = jar.get("jar")
    etag, modified = validators
    if cookies is not None or (method == "GET" and (etag or modified)):
        headers = headers.copy()
        if cookies is not None:
            found = cookies.filter_cookies(URL(url, encoded=True))
            if found:
                headers["Cookie"] = "; ".join(f"{k}={m.coded_value}" for k, m in found.items())
        if method == "GET" and etag:
            headers["If-None-Match"] = etag
        if method == "GET" and modified:
            headers["If-Modified-Since"] = modified
    trace.hosts.append(host)
    response = await ctx.session.request(
        method, URL(url, encoded=True), headers=headers, allow_redirects=False
    )
    if "set-cookie" in response.headers:
        if cookies is None:
            cookies = jar["jar"] = aiohttp.CookieJar(unsafe=True, quote_cookie=False)
        cookies.update_cookies(response.cookies, response.url)
    return response


async def _ask(
    ctx: CheckContext,
    trace: _Trace,
    method: str,
    url: str,
    jar: dict[str, aiohttp.CookieJar],
    validators: tuple[str | None, str | None],
) -> tuple[str, aiohttp.ClientResponse]:
    """HEAD, falling back to GET unless HEAD gave a clear 2xx/3xx or asked us to wait
    (429, 503 with ``Retry-After``: asking again at once would ignore it)."""
    if method == "HEAD":
        try:
            response = await _send(ctx, trace, "HEAD", url, jar)
        except (aiohttp.ServerDisconnectedError, aiohttp.ClientPayloadError, aiohttp.ClientOSError):
            pass  # some servers drop HEAD
        else:
            status = response.status
            if (
                is_clear_success(status)
                or outcome_for_status(status, response.headers) is Outcome.RATE_LIMITED
            ):
                return "HEAD", response
            await _release(response)
    return "GET", await _send(ctx, trace, "GET", url, jar, validators)


async def _follow(
    ctx: CheckContext,
    trace: _Trace,
    method: str,
    *,
    max_hops: int,
    robots: bool = False,
    validators: tuple[str | None, str | None] = (None, None),
) -> tuple[str, aiohttp.ClientResponse]:
    """Request ``trace.url`` and follow its redirects; the final answer, still open (the
    caller releases it). Ends the check early (``_Ended``) on a loop, too many hops, a
    robots.txt refusal or a redirect to something that is no http(s) URL."""
    jar: dict[str, aiohttp.CookieJar] = {}
    current = trace.url
    visits: collections.Counter[str] = collections.Counter()
    for _hop in range(max_hops + 1):
        visits[current] += 1
        if visits[current] >= MAX_VISITS:
            raise _Ended(Outcome.TOO_MANY_REDIRECTS, f"redirect loop through {current[:300]}")
        if (
            robots
            and ctx.robots is not None
            and not (await ctx.robots.for_url(current)).allows(current, ROBOTS_AGENT)
        ):
            raise _Ended(Outcome.SKIPPED_ROBOTS, f"robots.txt of {host_of(current)} disallows it")
        method, response = await _ask(ctx, trace, method, current, jar, validators)
        trace.status = response.status
        location = _location(response) if response.status in REDIRECT_CODES else None
        if not location:
            return method, response
        await _release(response)
        target = resolve(location.strip(), current)
        if target is None:
            raise _Ended(Outcome.INVALID_URL, f"bad redirect Location {location[:200]!r}")
        trace.chain.append(target)
        trace.codes.append(response.status)
        key = _precheck(target)
        if isinstance(key, tuple):
            raise _Ended(key[0], f"redirected to {target[:300]}: {key[1]}")
        current = key
    raise _Ended(Outcome.TOO_MANY_REDIRECTS, f"more than {max_hops} redirects")


async def _check(
    trace: _Trace,
    ctx: CheckContext,
    fetch_body: bool,
    validators: tuple[str | None, str | None],
) -> tuple[Outcome, str | None]:
    method, response = await _follow(
        ctx,
        trace,
        "GET" if fetch_body else "HEAD",
        max_hops=ctx.settings.max_redirects,
        robots=True,
        validators=validators,
    )
    try:
        return await _final(trace, ctx, response, method, fetch_body)
    finally:
        await _release(response)


async def _final(
    trace: _Trace,
    ctx: CheckContext,
    response: aiohttp.ClientResponse,
    method: str,
    fetch_body: bool,
) -> tuple[Outcome, str | None]:
    status = response.status
    headers = response.headers
    outcome = outcome_for_status(status, headers)
    if outcome is Outcome.RATE_LIMITED:
        trace.retry_after_s = retry_after_seconds(headers.get("retry-after"), ctx.clock())
        return outcome, f"HTTP {status}"
    if not outcome.is_alive:
        reason = "bot challenge (cf-mitigated)" if headers.get("cf-mitigated") else ""
        return outcome, f"HTTP {status}" + (f": {reason}" if reason else "")
    if trace.chain and is_redirect_to_home(trace.url, trace.final_url):
        return Outcome.SOFT404, "deep link redirected to the site's home page"
    trace.etag = headers.get("etag")
    trace.last_modified = headers.get("last-modified")
    alive = Outcome.REDIRECTED if trace.chain else Outcome.OK
    if not (fetch_body and method == "GET" and status == 200 and is_html(headers)):
        return alive, None
    cap = ctx.settings.max_body_bytes
    page = await read_page(
        response.content.iter_any(),
        headers,
        cap,
        cap * MAX_DECODED_FACTOR,
        drop=(last_segment(trace.final_url),),
    )
    if page is None:
        return alive, None
    trace.page = page
    if page.parked:
        return Outcome.SOFT404, "a domain parking page: the domain changed hands"
    if page.says_not_found:
        return Outcome.SOFT404, f"page says not found: {(page.heading or page.title or '')[:120]!r}"
    if ctx.settings.soft404_probe and not is_home(trace.final_url):
        await _release(response)
        final = trace.final_url
        probe = await ctx.probes.get(final, lambda: _probe(ctx, final))
        comparable = page.content_hash if page.text_chars >= MIN_COMPARABLE_TEXT else None
        if looks_like_sibling(comparable, final, probe):
            return Outcome.SOFT404, "same page as a made-up URL on this site"
    return alive, None


async def _fetch_robots(ctx: CheckContext, url: str) -> tuple[int, bytes]:
    """GET a robots.txt (up to 5 redirects, capped body) under the check's own limits."""
    trace = _Trace(url)
    try:
        _method, response = await _follow(ctx, trace, "GET", max_hops=ROBOTS_HOPS)
    except _Ended:
        return 500, b""  # a redirect loop: treat as unreachable
    try:
        if response.status in REDIRECT_CODES:
            return 500, b""
        body = b""
        if response.status == 200:
            body = (
                await read_body(
                    response.content.iter_any(),
                    response.headers.get("content-encoding", ""),
                    ROBOTS_MAX_BYTES,
                    ROBOTS_MAX_BYTES,
                )
                or b""
            )
        return response.status, body
    finally:
        await _release(response)


async def _probe(ctx: CheckContext, url: str) -> ProbeResult | None:
    """Fetch a made-up sibling of ``url``; ``None`` when that tells us nothing."""
    probe_url, token = sibling_url(url, ctx.rng)
    trace = _Trace(probe_url)
    try:
        async with asyncio.timeout(min(PROBE_TIMEOUT_S, ctx.settings.timeout_s)) as budget:
            trace.budget = budget
            _method, response = await _follow(
                ctx, trace, "GET", max_hops=ctx.settings.max_redirects
            )
            try:
                if response.status == 200 and is_html(response.headers):
                    cap = ctx.settings.max_body_bytes
                    trace.page = await read_page(
                        response.content.iter_any(),
                        response.headers,
                        cap,
                        cap * MAX_DECODED_FACTOR,
                        drop=(token,),
                    )
            finally:
                await _release(response)
    except Exception:  # noqa: BLE001 - a failed probe only means "no evidence"
        return None
    return ProbeResult(
        trace.status,
        trace.final_url if trace.chain else None,
        trace.page.content_hash if trace.page else None,
    )


__all__ = ["CheckContext", "check_url", "open_context", "user_agent"]
