"""The address policy (SSRF guard): which addresses may be contacted, enforced at connect time."""

from __future__ import annotations

import asyncio
import ipaddress
import socket

import pytest

from linkwatch.check.policy import AddressBlocked, AddressPolicy, literal_address
from linkwatch.check.transport import NameNotResolved, VettingResolver, system_resolver
from linkwatch.config import Settings
from linkwatch.model import Outcome
from linkwatch.urls import canonicalize
from tests.check.harness import make_settings, run_check
from tests.kit.simweb import SimWeb

REFUSED = [
    "127.0.0.1",
    "10.0.0.5",
    "172.16.3.4",
    "192.168.1.1",
    "169.254.169.254",
    "100.64.0.1",
    "0.0.0.0",  # noqa: S104 - an address to refuse, not to bind
    "224.0.0.1",
    "255.255.255.255",
    "192.0.2.1",
    "::1",
    "::",
    "fe80::1",
    "fc00::1",
    "fd12:3456::1",
    "ff02::1",
    "::ffff:127.0.0.1",
    "::ffff:10.0.0.1",
    "::127.0.0.1",
    "64:ff9b::7f00:1",
    "64:ff9b::a00:5",
    "64:ff9b:1::a00:5",
    "2002:7f00:1::",
    "2002:a00:5::1",
    "2001:0:4136:e378:8000:63bf:80ff:fffe",
]
ALLOWED = ["8.8.8.8", "93.184.216.34", "2606:4700::1111", "64:ff9b::808:808", "2002:808:808::1"]


@pytest.mark.parametrize("address", REFUSED)
def test_non_public_addresses_are_refused_by_default(address: str) -> None:
    assert AddressPolicy().refusal(address) is not None


@pytest.mark.parametrize("address", ALLOWED)
def test_public_addresses_are_allowed(address: str) -> None:
    assert AddressPolicy().refusal(address) is None


def test_refusal_names_the_embedded_address() -> None:
    reason = AddressPolicy().refusal("64:ff9b::7f00:1")
    assert reason is not None and "127.0.0.1" in reason and "loopback" in reason


def test_allow_networks_open_a_range_and_deny_wins() -> None:
    policy = AddressPolicy.from_cidrs(allow=["10.0.0.0/8"], deny=["10.9.0.0/16"])
    assert policy.is_allowed("10.1.2.3")
    assert policy.is_allowed("::ffff:10.1.2.3")
    assert not policy.is_allowed("10.9.1.1")
    assert not policy.is_allowed("192.168.1.1")


def test_a_bad_cidr_is_a_config_error() -> None:
    from linkwatch.errors import ConfigError

    with pytest.raises(ConfigError, match="not a CIDR"):
        AddressPolicy.from_cidrs(allow=["intranet"])


@pytest.mark.parametrize(
    ("host", "address"),
    [
        ("2130706433", "127.0.0.1"),
        ("0x7f.1", "127.0.0.1"),
        ("127.1", "127.0.0.1"),
        ("0177.0.0.1", "127.0.0.1"),
        ("0x7f000001", "127.0.0.1"),
        ("[::1]", "::1"),
        ("10.0.0.5", "10.0.0.5"),
    ],
)
def test_obfuscated_ip_literals_are_recognised(host: str, address: str) -> None:
    assert literal_address(host) == ipaddress.ip_address(address)


@pytest.mark.parametrize("host", ["example.com", "cafe.be", "deadbeef", "1.2.3.4.5"])
def test_host_names_are_not_literals(host: str) -> None:
    assert literal_address(host) is None


@pytest.mark.parametrize("host", ["2130706433", "0x7f.1", "127.1", "localhost"])
def test_connect_time_guard_blocks_what_the_os_resolver_maps_to_loopback(host: str) -> None:
    resolver = VettingResolver(AddressPolicy(), system_resolver)
    with pytest.raises(AddressBlocked, match="loopback"):
        asyncio.run(resolver.resolve(host, 80))


def test_loopback_is_skipped_without_an_allow_network(web: SimWeb) -> None:
    result = run_check(web.url(0, "/ok/private"), make_settings(allow_networks=()))
    assert result.outcome is Outcome.SKIPPED_POLICY
    assert "loopback" in (result.error or "")
    assert web.hits(0, "/ok/private") == []


def test_obfuscated_literal_url_is_skipped(web: SimWeb) -> None:
    result = run_check(f"http://2130706433:{web.port}/ok/x", make_settings(allow_networks=()))
    assert result.outcome is Outcome.SKIPPED_POLICY


def _only(host_to_answers: dict[str, list[list[str]]]):  # type: ignore[no-untyped-def]
    """A resolver that answers each name from a script, one answer list per call."""
    calls: dict[str, int] = {}

    async def resolve(host: str, port: int) -> list[str]:
        script = host_to_answers.get(host)
        if script is None:
            raise NameNotResolved(host, "Name or service not known", permanent=True)
        n = calls.get(host, 0)
        calls[host] = n + 1
        return script[min(n, len(script) - 1)]

    resolve.calls = calls  # type: ignore[attr-defined]
    return resolve


def test_dns_rebinding_cannot_swap_the_address_after_the_check(web: SimWeb) -> None:
    """Public (here: allowed) on the first lookup, private on the second: the connection
    goes to the address that was vetted, and a later connection is refused."""
    settings = make_settings(allow_networks=(f"{web.address(0)}/32",))
    resolver = _only({"rebind.test": [[web.address(0)], [web.address(1)]]})
    url = f"http://rebind.test:{web.port}/ok/rebind"
    first = run_check(url, settings, resolver=resolver, fetch_body=False)
    second = run_check(url, settings, resolver=resolver, fetch_body=False)
    assert first.outcome is Outcome.OK
    assert second.outcome is Outcome.SKIPPED_POLICY
    assert f"resolves to {web.address(1)}" in (second.error or "")
    assert len(web.hits(0, "/ok/rebind")) == 1 and web.hits(1, "/ok/rebind") == []
    assert resolver.calls["rebind.test"] == 2  # type: ignore[attr-defined]


def test_one_disallowed_answer_blocks_the_host(web: SimWeb) -> None:
    settings = make_settings(allow_networks=(f"{web.address(0)}/32",))
    resolver = _only({"mixed.test": [[web.address(0), "10.0.0.5"]]})
    result = run_check(f"http://mixed.test:{web.port}/ok/m", settings, resolver=resolver)
    assert result.outcome is Outcome.SKIPPED_POLICY
    assert "10.0.0.5" in (result.error or "")


@pytest.mark.parametrize(
    "target",
    [
        "http://10.0.0.5/admin",
        "http://2130706433/",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::ffff:127.0.0.1]/",
        "http://internal.test:{port}/ok/secret",
        "http://{other}:{port}/ok/secret",
    ],
    ids=[
        "private",
        "decimal-loopback",
        "metadata",
        "mapped-loopback",
        "name-to-private",
        "other-loopback-host",
    ],
)
def test_redirects_into_private_ranges_are_refused(web: SimWeb, target: str) -> None:
    settings = make_settings(allow_networks=(f"{web.address(0)}/32",))
    resolver = _only({"internal.test": [[web.address(1)]], web.address(0): [[web.address(0)]]})
    to = target.format(port=web.port, other=web.address(1))
    result = run_check(web.url(0, f"/redirect-to?to={to}"), settings, resolver=resolver)
    assert result.outcome is Outcome.SKIPPED_POLICY
    assert result.redirects == (canonicalize(to),)  # as a browser reads it
    assert web.hits(1, "/ok/secret") == []


@pytest.mark.parametrize(
    ("permanent", "expected"),
    [(True, Outcome.BROKEN), (False, Outcome.NETWORK_ERROR)],
    ids=["nxdomain", "temporary-dns-failure"],
)
def test_name_resolution_failures(settings: Settings, permanent: bool, expected: Outcome) -> None:
    async def resolve(host: str, port: int) -> list[str]:
        raise NameNotResolved(host, "no such name", permanent=permanent)

    result = run_check("http://gone.example/page", settings, resolver=resolve)
    assert result.outcome is expected
    assert "gone.example" in (result.error or "")


def test_env_proxies_are_ignored(
    web: SimWeb, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTP_PROXY", "http://10.0.0.1:3128")
    monkeypatch.setenv("ALL_PROXY", "http://10.0.0.1:3128")
    assert run_check(web.url(0, "/ok/no-proxy"), settings).outcome is Outcome.OK


@pytest.mark.parametrize(
    ("code", "permanent"),
    [
        ("EAI_NONAME", True),
        ("EAI_NODATA", True),
        ("EAI_AGAIN", False),
        ("EAI_FAIL", False),
        ("EAI_SYSTEM", False),
        ("EAI_MEMORY", False),
    ],
    ids=lambda v: str(v),
)
def test_only_a_name_that_does_not_exist_is_a_permanent_dns_failure(
    monkeypatch: pytest.MonkeyPatch, code: str, permanent: bool
) -> None:
    """EAI_SYSTEM (e.g. out of file descriptors) says nothing about the link."""
    if not hasattr(socket, code):
        pytest.skip(f"{code} not on this platform")
    errno = getattr(socket, code)

    async def failing(self: object, *args: object, **kwargs: object) -> object:
        raise socket.gaierror(errno, "resolver said no")

    async def resolve() -> bool:
        monkeypatch.setattr(type(asyncio.get_running_loop()), "getaddrinfo", failing)
        try:
            await system_resolver("host.example", 80)
        except NameNotResolved as exc:
            return exc.permanent
        raise AssertionError("resolved")

    assert asyncio.run(resolve()) is permanent


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/",
        "http://0177.0.0.1/",
        "http://0x7f.0.0.1/",
        "http://2130706433/",
        "http://127.1/",
        "http://0x7f000001/",
        "http://[::ffff:127.0.0.1]/",
        "http://017700000001/",
    ],
)
def test_every_form_of_one_address_gets_the_same_verdict_and_reason(url: str) -> None:
    """The URL standard's host parser reads them all as 127.0.0.1, as a browser does."""
    result = run_check(url, make_settings(allow_networks=()))
    assert result.outcome is Outcome.SKIPPED_POLICY, result
    assert "127.0.0.1" in (result.error or "") and "loopback" in (result.error or "")


def test_the_host_checked_is_the_host_a_browser_opens(web: SimWeb) -> None:
    """``http://evil.test:PORT\\@good.test/...``: a lenient parser checks good.test, a
    browser opens evil.test (the backslash ends the authority). linkwatch asks evil.test,
    so a hostile citation cannot borrow a healthy host's verdict."""
    resolver = _only({"evil.test": [[web.address(2)]], "good.test": [[web.address(3)]]})
    url = f"http://evil.test:{web.port}\\@good.test/ok/borrowed"
    result = run_check(url, make_settings(), resolver=resolver)
    assert resolver.calls == {"evil.test": 1}  # type: ignore[attr-defined]
    assert web.hits(3, "/ok/borrowed") == [] and result.status == 404
    assert result.outcome is Outcome.BROKEN


def test_an_emoji_host_is_checked_as_punycode(web: SimWeb) -> None:
    resolver = _only({"xn--df-oiy.ws": [[web.address(4)]]})
    result = run_check(f"http://✪df.ws:{web.port}/ok/star", make_settings(), resolver=resolver)
    assert result.outcome is Outcome.OK, result
    assert web.hits(4, "/ok/star")
