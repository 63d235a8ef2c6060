"""The Save Page Now 2 client against the fake: replies become data, trouble exceptions."""

from __future__ import annotations

import time

import pytest

from linkwatch.archive.spn2 import (
    Retry,
    SPN2Client,
    classify_message,
    classify_status_ext,
    start_delay_s,
)
from linkwatch.errors import ArchiveRateLimited, ArchiveUnavailable
from tests.archive.conftest import fast_settings


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("error:user-session-limit", Retry.SESSIONS),
        ("error:celery", Retry.SOON),
        ("error:soft-time-limit-exceeded", Retry.SOON),
        ("error:not-found", Retry.NEVER),
        ("error:blocked-url", Retry.NEVER),
        ("error:too-many-daily-captures", Retry.TOMORROW),
        ("error:max-daily-bandwidth", Retry.TOMORROW),
        ("error:brand-new-code", Retry.SOON),
    ],
    ids=lambda v: str(v),
)
def test_status_ext_codes_are_split_into_retry_classes(code, expected) -> None:
    assert classify_status_ext(code) is expected


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        (
            "You have already reached the limit of active Save Page Now sessions. Please wait.",
            Retry.SESSIONS,
        ),
        ("You cannot make more than 100,000 captures per day", Retry.ACCOUNT_DAILY),
        (
            "You have reached your daily not-logged-in captures limit of (200,) webpages",
            Retry.ACCOUNT_DAILY,
        ),
        ("You need to be logged in to use Save Page Now.", Retry.AUTH),
        ("Cannot start capture", Retry.SOON),
    ],
    ids=["sessions", "daily", "daily-anonymous", "login", "other"],
)
def test_message_only_replies_are_classified(message, expected) -> None:
    assert classify_message(message) is expected


@pytest.mark.parametrize(
    ("message", "seconds"),
    [
        ("Your capture will begin in 30s.", 30.0),
        ("The capture will start in 1 hours, 2 minutes, 3 seconds", 3723.0),
        ("The capture will start in 5 minutes", 300.0),
        ("nothing here", None),
    ],
)
def test_start_delay_is_read_from_the_message(message, seconds) -> None:
    assert start_delay_s(message) == seconds


@pytest.fixture
def client(wayback):
    c = SPN2Client(fast_settings(wayback, request_timeout_s=1.0))
    yield c
    c.close()


def test_submit_sends_the_keys_and_if_not_archived_within(wayback, client) -> None:
    reply = client.submit("http://new.test/")
    request = wayback.requests_of("save")[0]
    assert reply.job_id and reply.job_id.startswith("spn2-") and len(reply.job_id) == 45
    assert request["authorized"] and request["options"]["if_not_archived_within"] == "30d"


def test_a_second_submit_returns_the_same_job_with_a_message(wayback, client) -> None:
    wayback.state.capture_s = 5.0
    first, second = client.submit("http://same.test/"), client.submit("http://same.test/")
    assert first.job_id == second.job_id and second.same_snapshot


def test_an_error_inside_http_200_is_a_refusal(wayback, client) -> None:
    wayback.faults.save_replies = ["error:blocked-url"]
    reply = client.submit("http://x.test/")
    assert reply.job_id is None and reply.retry is Retry.NEVER
    assert reply.status_ext == "error:blocked-url"


@pytest.mark.parametrize(("reply", "retry"), [("401", Retry.AUTH), ("400", Retry.NEVER)])
def test_401_and_400_are_refusals_not_exceptions(wayback, client, reply, retry) -> None:
    wayback.faults.save_replies = [reply]
    assert client.submit("http://x.test/").retry is retry


@pytest.mark.parametrize(
    ("reply", "after"),
    [("429", -1.0), ("429:7", 7.0)],
    ids=["without-retry-after", "with-retry-after"],
)
def test_429_raises_rate_limited(wayback, client, reply, after) -> None:
    wayback.faults.save_replies = [reply]
    with pytest.raises(ArchiveRateLimited) as info:
        client.submit("http://x.test/")
    assert info.value.retry_after_s == after


@pytest.mark.parametrize("reply", ["502", "503", "520", "drop"])
def test_archive_trouble_raises_unavailable(wayback, client, reply) -> None:
    wayback.faults.save_replies = [reply]
    with pytest.raises(ArchiveUnavailable):
        client.submit("http://x.test/")


def test_a_slow_archive_hits_the_hard_deadline(wayback, client) -> None:
    wayback.faults.save_replies = ["slow"]
    wayback.faults.slow_s = 3.0
    started = time.monotonic()
    with pytest.raises(ArchiveUnavailable):
        client.submit("http://x.test/")
    assert time.monotonic() - started < 2.0


def test_polling_sees_pending_then_success_with_the_real_fields(wayback, client) -> None:
    job = client.submit("http://poll.test/").job_id
    assert job is not None
    first, second = client.status(job), client.status(job)
    assert first.state == "pending"
    assert second.state == "success" and second.timestamp == "20260101000000"
    assert second.original_url == "http://poll.test/" and second.http_status == 200


def test_an_unknown_job_looks_pending(client) -> None:
    assert client.status("spn2-" + "0" * 40).state == "pending"


def test_status_replies_carry_retry_after(wayback, client) -> None:
    wayback.faults.status_retry_after = "6"
    assert client.status("spn2-" + "1" * 40).retry_after_s == 6.0


def test_user_status_reports_slots_and_the_daily_budget(client) -> None:
    user = client.user_status()
    assert user is not None
    assert user.to_dict() == {
        "available": 8,
        "processing": 0,
        "daily_captures": 0,
        "daily_captures_limit": 30000,
    }


def test_without_keys_there_is_no_user_status_and_no_authorization(wayback) -> None:
    with SPN2Client(fast_settings(wayback, keys=False)) as anon:
        assert anon.user_status() is None
        assert anon.submit("http://x.test/").retry is Retry.AUTH
    assert not wayback.requests_of("save")[0]["has_auth"]
