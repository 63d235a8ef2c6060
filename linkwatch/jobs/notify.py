"""Telling people when something changes: the events the check and archive jobs recorded
(newly dead, recovered, drifted, moved, capture failed for good) and the daemon's own
(stalled), delivered once to each
configured channel and retried until they are:

- an Atom feed beside the report (``reports/feed.xml``, the latest events, stable ids);
- a webhook: a JSON POST to ``notify.webhook_url`` (the address policy of the checker
  applies; a bearer token from ``notify.webhook_secret_file``; no proxy from the
  environment), one per event or one digest per run;
- a command: ``notify.exec``, the event (or the digest) as JSON on its stdin.

An event that could not be delivered is retried with a growing back-off and shows in
``status`` (undelivered per channel, the last error).
"""

from __future__ import annotations

import json
import socket
import subprocess
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from xml.sax.saxutils import escape

from linkwatch.clock import Clock, iso
from linkwatch.config import Settings, load_secret_file
from linkwatch.report import write_report
from linkwatch.scrub import scrub
from linkwatch.store import Store
from linkwatch.store.events import Event

FEED_ENTRIES = 100
TIMEOUT_S = 15.0
RETRY_S = 300.0  # the first retry; doubles, at most a day
TITLES = {
    "dead": "Dead",
    "recovered": "Recovered",
    "drifted": "Content drifted",
    "moved": "Moved permanently",
    "capture_failed": "Capture failed for good",
    "stalled": "The daemon is stalled",
}


def channels(settings: Settings) -> list[str]:
    n = settings.notify
    return [
        name
        for name, on in (("feed", n.feed), ("webhook", bool(n.webhook_url)), ("exec", bool(n.exec)))
        if on
    ]


def deliver(settings: Settings, store: Store, clock: Clock) -> dict[str, Any]:
    """Deliver what is due to every channel; returns what was sent and what failed."""
    now = clock()
    out: dict[str, Any] = {}
    for channel in channels(settings):
        events = [
            e for e in store.undelivered(channel, iso(now)) if e.kind in settings.notify.events
        ]
        if channel == "feed":
            if events or not _feed_path(settings).exists():
                write_feed(settings, store, now)
            store.mark_delivered(channel, [e.id for e in events], iso(now))
            out[channel] = len(events)
            continue
        sent = failed = 0
        batches = [events] if settings.notify.digest and events else [[e] for e in events]
        for batch in batches:
            try:
                _send(channel, settings, batch)
            except DeliveryError as exc:
                attempts = max(e.attempts for e in batch) + 1
                wait = min(86400.0, RETRY_S * 2 ** (attempts - 1))
                store.mark_failed(
                    [e.id for e in batch], f"{channel}: {exc}", iso(now + timedelta(seconds=wait))
                )
                failed += len(batch)
                continue
            store.mark_delivered(channel, [e.id for e in batch], iso(now))
            sent += len(batch)
        out[channel] = {"sent": sent, "failed": failed}
    return out


class DeliveryError(Exception):
    pass


def _payload(batch: list[Event]) -> bytes:
    body: Any = batch[0].to_json() if len(batch) == 1 else {"events": [e.to_json() for e in batch]}
    return json.dumps(body, ensure_ascii=False).encode()


def _send(channel: str, settings: Settings, batch: list[Event]) -> None:
    if channel == "webhook":
        _post(settings, _payload(batch))
    else:
        _run(settings, _payload(batch))


def _post(settings: Settings, data: bytes) -> None:
    import httpx  # here, not at import: ``status`` reads channels() without the HTTP stack

    from linkwatch.check.policy import AddressPolicy

    n = settings.notify
    host = urlsplit(n.webhook_url).hostname or ""
    cs = settings.check
    policy = AddressPolicy.from_cidrs(cs.allow_networks, cs.deny_networks)
    try:
        answers = {str(info[4][0]) for info in socket.getaddrinfo(host, None)}
    except OSError as exc:
        raise DeliveryError(f"cannot resolve {host}: {exc.strerror or exc}") from None
    refused = next((r for a in answers if (r := policy.refusal(a)) is not None), None)
    if refused:  # the same rule as every check: no private target unless opened
        raise DeliveryError(f"{host}: {refused} (check.allow_networks opens a range)")
    headers = {"Content-Type": "application/json", "User-Agent": "linkwatch notify"}
    if n.webhook_secret_file:
        token = load_secret_file(str(settings.resolve(n.webhook_secret_file)))
        headers["Authorization"] = f"Bearer {token.reveal()}"
    try:
        with httpx.Client(trust_env=False, timeout=TIMEOUT_S, follow_redirects=False) as client:
            res = client.post(n.webhook_url, content=data, headers=headers)
    except httpx.HTTPError as exc:
        raise DeliveryError(type(exc).__name__) from None
    if not 200 <= res.status_code < 300:
        secrets = (headers.get("Authorization", ""),)
        raise DeliveryError(f"HTTP {res.status_code} {scrub(res.text[:200], secrets)}".strip())


def _run(settings: Settings, data: bytes) -> None:
    try:
        done = subprocess.run(  # noqa: S603 - argv from the configuration, no shell
            list(settings.notify.exec),
            input=data,
            capture_output=True,
            timeout=TIMEOUT_S * 2,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise DeliveryError(f"{settings.notify.exec[0]}: {exc}") from None
    if done.returncode != 0:
        why = done.stderr.decode("utf-8", "replace").strip()[-200:]
        raise DeliveryError(f"exit {done.returncode}" + (f": {why}" if why else ""))


def _feed_path(settings: Settings) -> Path:
    return settings.report_dir / "feed.xml"


def _entry(e: Event) -> str:
    """One Atom entry; an event of the daemon itself (``stalled``) names no URL."""
    title = escape(TITLES.get(e.kind, e.kind)) + (f": {escape(e.url)}" if e.url else "")
    link = f'<link rel="related" href="{escape(e.url, {chr(34): "&quot;"})}"/>' if e.url else ""
    return (
        f"<entry><id>tag:linkwatch,2026:event/{e.id}</id><title>{title}</title>"
        f"<updated>{escape(e.at)}</updated>{link}"
        f'<category term="{escape(e.kind)}"/>'
        f'<content type="text">{escape(e.detail)}</content></entry>\n'
    )


def write_feed(settings: Settings, store: Store, now: datetime) -> None:
    """``feed.xml``: the latest events as Atom (RFC 4287), newest first."""
    events = [e for e in store.recent_events(FEED_ENTRIES) if e.kind in settings.notify.events]
    title = escape(settings.report.title)
    entries = "".join(_entry(e) for e in events)
    updated = events[0].at if events else iso(now)
    feed = (
        '<?xml version="1.0" encoding="utf-8"?>\n'
        '<feed xmlns="http://www.w3.org/2005/Atom">\n'
        f"<id>tag:linkwatch,2026:feed/{escape(str(settings.report_dir))}</id>"
        f"<title>{title}: changes</title><updated>{escape(updated)}</updated>"
        '<link rel="alternate" href="index.html"/>'
        "<author><name>linkwatch</name></author>\n"
        f"{entries}</feed>\n"
    )
    settings.report_dir.mkdir(parents=True, exist_ok=True)
    write_report(_feed_path(settings), feed)
