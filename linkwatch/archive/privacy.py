"""Which URLs may be sent to a public archive (pure).

Save Page Now makes every capture public, so linkwatch submits a URL only when its last
check connected to public addresses: every address of every redirect hop (the vetted
answers the checker connected to; a public name that resolves to a private address is
private). A URL the address policy refused, opened only through ``check.allow_networks``,
never checked, or whose last check did not connect, is held back with the reason.
``archive.submit_networks`` is the only way to let non-public targets be submitted (a
private archive instance; tests whose fake archive and pages sit on loopback).
Look-ups (CDX, availability) send nothing the archive would publish and are not held back.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

from linkwatch.check.policy import AddressPolicy, parse_networks

#: the first words of every reason, so the report and ``status`` can group them
HELD_BACK = "not sent to the archive"


def submit_refusal(
    last_outcome: str | None,
    last_status: int | None,
    addresses: Sequence[str],
    submit_networks: Sequence[str] = (),
) -> str | None:
    """Why the URL must not be submitted for capture, or None when it may."""
    if last_outcome is None:
        return f"never checked: {HELD_BACK} until a check reaches it at a public address"
    if last_outcome == "skipped_policy":
        return f"private address: {HELD_BACK}"
    if last_status is None or not addresses:
        return f"the last check did not connect: {HELD_BACK} until one does"
    policy = AddressPolicy(allow=parse_networks(submit_networks, "archive.submit_networks"))
    for address in addresses:
        if policy.refusal(address.split("%", 1)[0]) is not None:
            return (
                f"private address {address}: {HELD_BACK} "
                "(archive.submit_networks opens a range for a private archive)"
            )
    return None


#: names that never resolve on the public internet (RFC 6761, RFC 8375, common intranets)
PRIVATE_SUFFIXES = (
    ".local", ".localhost", ".internal", ".intranet", ".lan", ".home", ".home.arpa", ".corp",
    ".private", ".test", ".invalid", ".example", ".onion",
)  # fmt: skip


def lookup_refusal(
    host: str,
    last_outcome: str | None,
    addresses: Sequence[str],
    submit_networks: Sequence[str] = (),
) -> str | None:
    """Why a URL must not be named to a third-party archive (a Memento TimeMap look-up
    tells that archive, and an aggregator every archive behind it, the URL), or None.

    Looser than ``submit_refusal`` (a dead site's name often resolves no more, and asking
    for a copy publishes nothing), but never a private address or a private-looking name.
    """
    if last_outcome == "skipped_policy":
        return f"private address: {HELD_BACK}"
    policy = AddressPolicy(allow=parse_networks(submit_networks, "archive.submit_networks"))
    for address in addresses:
        if policy.refusal(address.split("%", 1)[0]) is not None:
            return f"private address {address}: {HELD_BACK}"
    name = host.strip("[]").rstrip(".").lower()
    try:
        literal = ipaddress.ip_address(name)
    except ValueError:
        literal = None
    if literal is not None:
        return (
            None if policy.refusal(str(literal)) is None else f"private address {name}: {HELD_BACK}"
        )
    if not addresses and ("." not in name or name.endswith(PRIVATE_SUFFIXES)):
        return f"private name {name}: {HELD_BACK}"
    return None
