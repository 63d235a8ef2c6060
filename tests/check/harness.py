"""Helpers the checker tests share: settings that allow loopback, one-off checks, links."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

from linkwatch.check import check_url, open_context
from linkwatch.check.transport import Resolver, system_resolver
from linkwatch.clock import Clock, iso, system_clock
from linkwatch.config import CheckSettings, Settings
from linkwatch.model import CheckResult
from linkwatch.store import Store
from linkwatch.urls import canonicalize, host_of
from tests.kit.rows import get, insert

LOOPBACK = ("127.0.0.0/8",)


def make_settings(**check: Any) -> Settings:
    base: dict[str, Any] = {
        "allow_networks": LOOPBACK,
        "host_interval_s": 0.0,
        "timeout_s": 3.0,
        "connect_timeout_s": 2.0,
    }
    base.update(check)
    return Settings(check=CheckSettings(**base))


def run_check(
    url: str,
    settings: Settings,
    *,
    fetch_body: bool = True,
    clock: Clock = system_clock,
    resolver: Resolver = system_resolver,
) -> CheckResult:
    async def go() -> CheckResult:
        async with open_context(settings, clock, resolver=resolver) as ctx:
            return await check_url(url, ctx, fetch_body=fetch_body)

    return asyncio.run(go())


def add_links(store: Store, urls: list[str], **fields: Any) -> list[int]:
    """Known links, as a scan would have recorded them."""
    ids = []
    with store.write() as db:
        for url in urls:
            key = canonicalize(url)
            row = {"url": key, "host": host_of(key), "first_seen_at": iso(store.clock())}
            row.update(fields)
            last = insert(db, "links", row)
            assert last is not None
            ids.append(int(last))
    return ids


def link_row(store: Store, link_id: int) -> dict[str, Any]:
    return dict(get(store.conn, "links", link_id))


def replace_check(settings: Settings, **check: Any) -> Settings:
    return dataclasses.replace(settings, check=dataclasses.replace(settings.check, **check))
