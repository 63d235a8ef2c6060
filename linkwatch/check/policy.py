"""AddressPolicy: which resolved IP addresses linkwatch may contact (the SSRF guard).

An address is allowed when, after unwrapping every IPv4 address embedded in an IPv6 one
(IPv4-mapped ``::ffff:a.b.c.d``, IPv4-compatible ``::a.b.c.d``, 6to4 ``2002::/16``, NAT64
``64:ff9b::/96`` and ``64:ff9b:1::/48``, Teredo ``2001::/32``), every form is global
unicast: not loopback, private, link-local, CGNAT (100.64/10), unique-local, multicast,
reserved or unspecified. ``deny`` CIDRs always win; ``allow`` CIDRs open ranges (an
intranet, or 127.0.0.0/8 for tests). The policy is applied at connect time on the address
actually connected to (``linkwatch.check.transport``); ``literal_address`` also catches
obfuscated IPv4 literals (``2130706433``, ``0x7f.1``, ``127.1``, ``0177.0.0.1``) that the
OS resolver accepts but ``ipaddress`` does not.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from linkwatch.errors import ConfigError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

_NAT64 = (ipaddress.IPv6Network("64:ff9b::/96"), ipaddress.IPv6Network("64:ff9b:1::/48"))
_IPV4_COMPAT = ipaddress.IPv6Network("::/96")
_CGNAT = ipaddress.IPv4Network("100.64.0.0/10")


class AddressBlocked(Exception):
    """A connection was refused by the address policy; the message is the reason."""


def parse_networks(cidrs: Iterable[str], key: str) -> tuple[Network, ...]:
    nets = []
    for text in cidrs:
        try:
            nets.append(ipaddress.ip_network(text.strip(), strict=False))
        except ValueError:
            raise ConfigError(f"{key}: {text!r} is not a CIDR network (e.g. 10.0.0.0/8)") from None
    return tuple(nets)


def embedded_addresses(ip: IPAddress) -> list[IPAddress]:
    """Every IPv4 address hidden inside ``ip`` (innermost first), then ``ip`` itself.

    A NAT64 address is judged by the IPv4 address it translates to only (its prefix is a
    translator's, reserved by itself), so IPv6-only networks with DNS64 keep working.
    """
    if not isinstance(ip, ipaddress.IPv6Address):
        return [ip]
    if any(ip in net for net in _NAT64):
        return [ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)]
    found: list[IPAddress] = []
    if ip.ipv4_mapped is not None:
        found.append(ip.ipv4_mapped)
    if ip.sixtofour is not None:
        found.append(ip.sixtofour)
    if ip.teredo is not None:
        found.extend(ip.teredo)
    if ip in _IPV4_COMPAT and int(ip) > 1:
        found.append(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
    return [*found, ip]


def _is_public(ip: IPAddress) -> bool:
    return (
        ip.is_global
        and not ip.is_multicast
        and not ip.is_reserved
        and not ip.is_unspecified
        and not ip.is_loopback
        and not ip.is_link_local
        and not (isinstance(ip, ipaddress.IPv4Address) and ip in _CGNAT)
    )


def _kind(ip: IPAddress) -> str:
    for name in ("loopback", "link_local", "multicast", "unspecified", "reserved", "private"):
        if getattr(ip, f"is_{name}"):
            return name.replace("_", "-")
    if isinstance(ip, ipaddress.IPv4Address) and ip in _CGNAT:
        return "CGNAT"
    return "non-public"


@dataclass(frozen=True)
class AddressPolicy:
    """Which addresses may be contacted. ``AddressPolicy()`` allows only public ones."""

    allow: tuple[Network, ...] = ()
    deny: tuple[Network, ...] = ()

    @classmethod
    def from_cidrs(cls, allow: Sequence[str] = (), deny: Sequence[str] = ()) -> AddressPolicy:
        return cls(
            parse_networks(allow, "check.allow_networks"),
            parse_networks(deny, "check.deny_networks"),
        )

    def refusal(self, ip: IPAddress | str) -> str | None:
        """``None`` when ``ip`` may be contacted, else the reason it may not."""
        addr = ipaddress.ip_address(ip) if isinstance(ip, str) else ip
        forms = embedded_addresses(addr)
        for form in forms:
            if any(form.version == net.version and form in net for net in self.deny):
                return f"address {addr} is in a denied network"
        if any(form.version == net.version and form in net for form in forms for net in self.allow):
            return None
        for form in forms:
            if not _is_public(form):
                inner = "" if form == addr else f" (embeds {form})"
                return f"address {addr}{inner} is {_kind(form)}, not public"
        return None

    def is_allowed(self, ip: IPAddress | str) -> bool:
        return self.refusal(ip) is None

    def vet(self, host: str, addresses: Sequence[str]) -> str:
        """The address to connect to, or ``AddressBlocked`` if any answer is disallowed."""
        if not addresses:
            raise AddressBlocked(f"{host} has no address")
        for address in addresses:
            reason = self.refusal(address.split("%", 1)[0])
            if reason is not None:
                shown = "" if address == host else f"{host} resolves to {address}: "
                raise AddressBlocked(shown + reason)
        return addresses[0]


def literal_address(host: str) -> IPAddress | None:
    """The IP a host string denotes by itself, including obfuscated IPv4 forms."""
    text = host.strip("[]")
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        pass
    if not text or not all(c in "0123456789abcdefxABCDEFX." for c in text):
        return None
    try:
        return ipaddress.IPv4Address(socket.inet_aton(text))
    except OSError:
        return None
