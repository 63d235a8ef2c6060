"""Turning an HTTP answer or a transport exception into an ``Outcome`` (pure).

Only ``broken`` (404, 410, NXDOMAIN) and ``soft404`` are conclusive; everything a site does
to keep robots out (401/403/451, 999, bot challenges such as ``cf-mitigated``), rate
limits, server errors, timeouts and network trouble are inconclusive and never count
towards declaring a link dead.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Mapping

import aiohttp

from linkwatch.check.policy import AddressBlocked
from linkwatch.check.transport import NameNotResolved
from linkwatch.model import Outcome

log = logging.getLogger(__name__)

REDIRECT_CODES = frozenset({301, 302, 303, 307, 308})
PERMANENT_CODES = frozenset({301, 308})
BROKEN_CODES = frozenset({404, 410})
BLOCKED_CODES = frozenset({401, 402, 403, 407, 451, 999})


def is_clear_success(status: int) -> bool:
    """A HEAD answer we can trust without asking again with GET."""
    return 200 <= status < 400 and status not in (203, 204, 300, 305, 306)


def outcome_for_status(status: int, headers: Mapping[str, str] | None = None) -> Outcome:
    """The outcome of a final (non-redirect) HTTP answer (``headers`` case-insensitive)."""
    headers = headers or {}
    if headers.get("cf-mitigated", "").lower() == "challenge":
        return Outcome.BLOCKED
    if 200 <= status < 300 or status == 304:
        return Outcome.OK
    if status in BROKEN_CODES:
        return Outcome.BROKEN
    if status == 429:
        return Outcome.RATE_LIMITED
    if status == 503 and headers.get("retry-after"):
        return Outcome.RATE_LIMITED
    if status in BLOCKED_CODES:
        return Outcome.BLOCKED
    if status == 408:
        return Outcome.TIMEOUT
    if 500 <= status < 600:
        return Outcome.SERVER_ERROR
    if status in REDIRECT_CODES:
        return Outcome.SERVER_ERROR  # a redirect without a usable Location
    # other 4xx (400, 405, 406, 418, ...) usually mean "not for robots", not "gone"
    return Outcome.BLOCKED


def outcome_for_exception(exc: BaseException) -> tuple[Outcome, str]:
    """The outcome and a one-line reason for a failure to get an answer at all.

    Never raises: an exception nobody foresaw is logged with its traceback and reported
    as a ``network_error`` ("internal error: ...") so one URL cannot stop a run.
    """
    if isinstance(exc, AddressBlocked):
        return Outcome.SKIPPED_POLICY, str(exc)
    if isinstance(exc, NameNotResolved):
        return (Outcome.BROKEN if exc.permanent else Outcome.NETWORK_ERROR), str(exc)
    if isinstance(exc, TimeoutError | asyncio.TimeoutError | aiohttp.ServerTimeoutError):
        return Outcome.TIMEOUT, _describe(exc) or "deadline reached"
    if isinstance(exc, aiohttp.InvalidURL):
        return Outcome.INVALID_URL, _describe(exc)
    if isinstance(exc, aiohttp.ClientSSLError | ssl.SSLError) or _caused_by(exc, ssl.SSLError):
        return Outcome.NETWORK_ERROR, f"TLS: {exc}"[:300]
    if isinstance(exc, aiohttp.ClientResponseError):
        # the answer could not be parsed: a garbage status line, conflicting lengths, a
        # head too long, a broken chunk
        return Outcome.NETWORK_ERROR, f"bad HTTP answer: {exc.message or exc}"[:300]
    if isinstance(exc, aiohttp.ClientError | OSError):
        return Outcome.NETWORK_ERROR, _describe(exc)
    # a bug or a case nobody foresaw: one URL must not stop the run
    log.exception("unexpected error while checking a URL")
    return Outcome.NETWORK_ERROR, f"internal error: {_describe(exc)}"


def _caused_by(exc: BaseException, kind: type[BaseException]) -> bool:
    seen = 0
    cause = exc.__cause__ or exc.__context__
    while cause is not None and seen < 10:
        if isinstance(cause, kind):
            return True
        cause, seen = cause.__cause__ or cause.__context__, seen + 1
    return False


def is_unreachable(outcome: Outcome, error: str | None, status: int | None) -> bool:
    """A failure to reach the host at all (what a local network outage looks like)."""
    if status is not None:
        return False
    if outcome is Outcome.BROKEN:
        return True  # NXDOMAIN
    return outcome in (Outcome.NETWORK_ERROR, Outcome.TIMEOUT)


def _describe(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return f"{type(exc).__name__}: {text}"[:300]
