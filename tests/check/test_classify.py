"""What an answer (or a failure to get one) means, as tables, in memory: the decisions
``check_url`` takes at the edge, without a socket. The same answers from real servers,
quirks included, are in ``test_outcomes.py`` and ``test_edge.py``."""

from __future__ import annotations

import ssl

import aiohttp
import pytest
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from linkwatch.check.classify import (
    is_clear_success,
    is_unreachable,
    outcome_for_exception,
    outcome_for_status,
)
from linkwatch.check.policy import AddressBlocked
from linkwatch.check.transport import NameNotResolved
from linkwatch.model import Outcome


@pytest.mark.parametrize(
    ("status", "headers", "outcome"),
    [
        (200, {}, Outcome.OK),
        (204, {}, Outcome.OK),
        (304, {}, Outcome.OK),  # our conditional GET: unchanged
        (404, {}, Outcome.BROKEN),
        (410, {}, Outcome.BROKEN),
        (429, {}, Outcome.RATE_LIMITED),
        (503, {"retry-after": "120"}, Outcome.RATE_LIMITED),  # "wait", not "broken"
        (503, {}, Outcome.SERVER_ERROR),
        (500, {}, Outcome.SERVER_ERROR),
        (403, {}, Outcome.BLOCKED),  # live but hostile: never dead
        (401, {}, Outcome.BLOCKED),
        (451, {}, Outcome.BLOCKED),
        (999, {}, Outcome.BLOCKED),  # LinkedIn's "no robots"
        (200, {"cf-mitigated": "challenge"}, Outcome.BLOCKED),  # a challenge page, not content
        (403, {"cf-mitigated": "Challenge"}, Outcome.BLOCKED),
        (405, {}, Outcome.BLOCKED),  # "not for robots", not "gone"
        (418, {}, Outcome.BLOCKED),
        (408, {}, Outcome.TIMEOUT),
        (302, {}, Outcome.SERVER_ERROR),  # a redirect with no usable Location
    ],
)
def test_a_final_answer_means(status: int, headers: dict[str, str], outcome: Outcome) -> None:
    assert outcome_for_status(status, headers) is outcome


@pytest.mark.parametrize(
    ("status", "trusted"),
    [(200, True), (301, True), (204, False), (203, False), (300, False), (404, False)],
)
def test_only_a_clear_head_answer_spares_the_get(status: int, trusted: bool) -> None:
    assert is_clear_success(status) is trusted


@pytest.mark.parametrize(
    ("exc", "outcome", "says"),
    [
        (AddressBlocked("10.0.0.1 is a private address"), Outcome.SKIPPED_POLICY, "private"),
        (NameNotResolved("gone.test", "NXDOMAIN", permanent=True), Outcome.BROKEN, "gone.test"),
        (NameNotResolved("x.test", "SERVFAIL", permanent=False), Outcome.NETWORK_ERROR, "x.test"),
        (TimeoutError(), Outcome.TIMEOUT, "TimeoutError"),
        (aiohttp.ServerTimeoutError("read"), Outcome.TIMEOUT, "read"),
        (aiohttp.InvalidURL("http://[::1"), Outcome.INVALID_URL, "InvalidURL"),
        (ssl.SSLError(1, "certificate verify failed"), Outcome.NETWORK_ERROR, "TLS:"),
        (ConnectionResetError(104, "reset by peer"), Outcome.NETWORK_ERROR, "reset"),
        (ValueError("a bug"), Outcome.NETWORK_ERROR, "internal error"),
    ],
)
def test_a_failure_to_get_an_answer_means(exc: Exception, outcome: Outcome, says: str) -> None:
    got, reason = outcome_for_exception(exc)
    assert got is outcome and says in reason and len(reason) <= 300


def test_an_unparsable_answer_is_a_network_error_naming_what_was_wrong() -> None:
    exc = aiohttp.ClientResponseError(
        aiohttp.RequestInfo(URL("http://a.test/"), "GET", CIMultiDictProxy(CIMultiDict())),
        (),
        message="Data after `Connection: close`",
    )
    got, reason = outcome_for_exception(exc)
    assert got is Outcome.NETWORK_ERROR and reason.startswith("bad HTTP answer:")


@pytest.mark.parametrize(
    ("outcome", "status", "unreachable"),
    [
        (Outcome.NETWORK_ERROR, None, True),
        (Outcome.TIMEOUT, None, True),
        (Outcome.BROKEN, None, True),  # NXDOMAIN: what an offline resolver says too
        (Outcome.BROKEN, 404, False),  # a server answered
        (Outcome.TIMEOUT, 408, False),
        (Outcome.BLOCKED, 403, False),
    ],
)
def test_what_counts_toward_a_network_outage(
    outcome: Outcome, status: int | None, unreachable: bool
) -> None:
    assert is_unreachable(outcome, None, status) is unreachable
