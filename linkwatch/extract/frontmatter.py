"""YAML front matter: split it off, parse it with safe-load semantics only (the C loader
when available), and cite every string value that is an absolute http(s) URL, keyed by its
dotted field path (``frontmatter:link``, ``frontmatter:sources.0.url``).

Hostile YAML cannot hurt: ``!!python/...`` tags are refused by the safe loader, YAML that
may nest deeper than ``MAX_YAML_NESTING`` is not parsed (libyaml would overflow the stack),
front matter whose aliases would expand to more than ``MAX_EXPANDED`` values (a "billion
laughs" alias bomb) is refused with a warning before it is loaded, and the walk over the
parsed value visits each container once, ``MAX_DEPTH`` levels deep, and stops after
``MAX_NODES`` values.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import yaml  # type: ignore[import-untyped, unused-ignore]

from linkwatch.extract.collect import Collector

# the C loader when PyYAML was built with libyaml; same safe semantics, much faster
SafeLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

MAX_FRONT_MATTER_CHARS = 256 * 1024
MAX_NODES = 20_000
MAX_EXPANDED = 100_000  # values once aliases are expanded: more is an alias bomb, refused
MAX_DEPTH = 64  # levels of nesting walked (a deeper walk would exhaust the stack)
MAX_YAML_NESTING = 1000  # deeper YAML is not parsed: libyaml overflows the C stack at ~20,000
SELF_URL_KEYS = ("url", "link", "permalink", "canonical_url", "canonical", "canonicalURL")
DATE_KEYS = (
    "accessed",
    "access_date",
    "accessdate",
    "date",
    "published",
    "date_published",
    "datePublished",
    "pubDate",
    "created",
)

_OPEN = re.compile(r"---[ \t]*\r?\n")
_CLOSE = re.compile(r"^(?:---|\.\.\.)[ \t]*\r?$", re.MULTILINE)
_ABSOLUTE = re.compile(r"^https?://[^\s]+$", re.IGNORECASE)


@dataclass
class FrontMatter:
    body_start: int = 0
    data: dict[str, Any] = field(default_factory=dict)
    self_url: str | None = None
    access_date: str | None = None


def split_front_matter(text: str) -> tuple[int, int] | None:
    """(start, end) of the YAML between the ``---`` fences, or None; body starts after."""
    m = _OPEN.match(text)
    if m is None:
        return None
    close = _CLOSE.search(text, m.end())
    if close is None:
        return None
    return m.end(), close.start()


def _iso_date(value: Any) -> str | None:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, str) and re.match(r"^\d{4}-\d{2}-\d{2}", value.strip()):
        from linkwatch.clock import iso, parse_instant

        try:
            return iso(parse_instant(value))
        except ValueError:
            return value.strip()[:10]
    return None


def _walk(
    value: Any,
    path: str,
    out: list[tuple[str, str]],
    seen: set[int],
    budget: list[int],
    depth: int = 0,
) -> None:
    budget[0] -= 1
    if budget[0] < 0:
        return
    if isinstance(value, str):
        if _ABSOLUTE.match(value.strip()):
            out.append((path, value.strip()))
        return
    if isinstance(value, dict | list):
        if id(value) in seen:
            return
        if depth >= MAX_DEPTH:
            budget[1] = 1
            return
        seen.add(id(value))
        items = value.items() if isinstance(value, dict) else enumerate(value)
        for key, child in items:
            _walk(child, f"{path}.{key}" if path else str(key), out, seen, budget, depth + 1)


def url_fields(data: Any) -> tuple[list[tuple[str, str]], bool, bool]:
    """(dotted path, URL) for every absolute http(s) string; then True if the walk was cut
    at ``MAX_NODES`` values, and True if it was cut at ``MAX_DEPTH`` levels of nesting."""
    out: list[tuple[str, str]] = []
    budget = [MAX_NODES, 0]
    _walk(data, "", out, set(), budget)
    return out, budget[0] < 0, budget[1] > 0


_UNREADABLE = object()


def nesting_bound(yaml_text: str) -> int:
    """An upper bound on how deeply ``yaml_text`` nests (flow brackets, block indentation,
    compact ``- - x`` forms), found without parsing it."""
    bound = yaml_text.count("[") + yaml_text.count("{")
    if bound > MAX_YAML_NESTING:
        return bound
    worst = 0
    for line in yaml_text.splitlines():
        body = line.lstrip(" ")
        levels = 2 * (len(line) - len(body)) + body.count("- ") + body.count("? ")
        worst = max(worst, levels + body.count(": "))
    return bound + worst + 1


def expanded_size(yaml_text: str) -> int:
    """How many values ``yaml_text`` holds once every alias is expanded (what a consumer
    that copies aliases, or a naive walk, would have to visit), from the event stream in
    linear time, without building anything."""
    sizes: dict[str, int] = {}
    stack: list[tuple[str | None, int]] = [(None, 0)]
    for event in yaml.parse(yaml_text, Loader=SafeLoader):
        if isinstance(event, yaml.AliasEvent):
            stack[-1] = (stack[-1][0], stack[-1][1] + sizes.get(event.anchor, 1))
        elif isinstance(event, yaml.ScalarEvent):
            if event.anchor:
                sizes[event.anchor] = 1
            stack[-1] = (stack[-1][0], stack[-1][1] + 1)
        elif isinstance(event, yaml.CollectionStartEvent):
            stack.append((event.anchor, 1))
        elif isinstance(event, yaml.CollectionEndEvent) and len(stack) > 1:
            anchor, size = stack.pop()
            if anchor:
                sizes[anchor] = size
            stack[-1] = (stack[-1][0], min(stack[-1][1] + size, 1 << 62))
        if stack[-1][1] > MAX_EXPANDED:
            return stack[-1][1]
    return max(total for _, total in stack)


def _parse(c: Collector, yaml_text: str) -> Any:
    """The parsed YAML, or ``_UNREADABLE`` (with a warning)."""
    if len(yaml_text) > MAX_FRONT_MATTER_CHARS:
        c.warn(f"front matter larger than {MAX_FRONT_MATTER_CHARS} characters; not read", line=1)
        return _UNREADABLE
    if nesting_bound(yaml_text) > MAX_YAML_NESTING:  # libyaml recurses: it would crash
        c.warn(
            f"front matter may nest deeper than {MAX_YAML_NESTING} levels; read as body text",
            line=1,
        )
        return _UNREADABLE
    try:
        if "*" in yaml_text and (size := expanded_size(yaml_text)) > MAX_EXPANDED:
            c.warn(
                f"front matter refused: its YAML aliases expand to about {size:,} values "
                f"(an alias bomb; at most {MAX_EXPANDED:,}); read as body text",
                line=1,
            )
            return _UNREADABLE
        return yaml.load(yaml_text, Loader=SafeLoader)  # noqa: S506 - a safe loader
    except yaml.YAMLError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        c.warn(f"front matter is not valid YAML; read as body text: {first}", line=1)
    except (RecursionError, ValueError, TypeError, OverflowError) as exc:
        c.warn(f"front matter could not be read; read as body text: {type(exc).__name__}", line=1)
    return _UNREADABLE


def read_front_matter(c: Collector) -> FrontMatter:
    """Parse the front matter of ``c.text`` (if any) and cite its URL fields."""
    span = split_front_matter(c.text)
    if span is None:
        if _OPEN.match(c.text):
            c.warn("front matter opened with --- but never closed; read as body", line=1)
        return FrontMatter()
    start, end = span
    newline = c.text.find("\n", end)
    fm = FrontMatter(body_start=len(c.text) if newline < 0 else newline + 1)
    data = _parse(c, c.text[start:end])
    if data is _UNREADABLE:
        return FrontMatter()  # nothing is lost: the block is read as part of the body
    if data is None:
        return fm
    if not isinstance(data, dict):
        c.warn("front matter is not a mapping of fields; read as body text", line=1)
        return FrontMatter()
    fm.data = data
    fields, cut, deep = url_fields(data)
    if cut:
        c.warn(f"front matter has more than {MAX_NODES} values; the rest were ignored", line=1)
    if deep:
        c.warn(f"front matter nested deeper than {MAX_DEPTH} levels; the rest were ignored", line=1)
    _cite_fields(c, fields, start, end, data)
    fm.self_url = next(
        (
            v.strip()
            for k in SELF_URL_KEYS
            if isinstance(v := data.get(k), str) and _ABSOLUTE.match(v.strip())
        ),
        None,
    )
    fm.access_date = next((d for k in DATE_KEYS if (d := _iso_date(data.get(k)))), None)
    return fm


def _sibling_date(data: Any, path: str) -> str | None:
    """An ``accessed`` (or other date) field beside a nested URL field
    (``sources: [{url: ..., accessed: 2021-05-01}]``): that citation's own date."""
    parts = path.split(".")[:-1]
    if not parts:
        return None  # a top-level field: the document's own date applies
    parent = data
    for part in parts:
        if isinstance(parent, dict):
            parent = parent.get(part)
        elif isinstance(parent, list) and part.isdigit() and int(part) < len(parent):
            parent = parent[int(part)]
        else:
            return None
    if not isinstance(parent, dict):
        return None
    found = next((d for k in DATE_KEYS if (d := _iso_date(parent.get(k)))), None)
    return found[:10] if found else None


def _cite_fields(
    c: Collector, fields: list[tuple[str, str]], start: int, end: int, data: Any
) -> None:
    after: dict[str, int] = {}
    for path, url in fields:
        at = c.text.find(url, after.get(url, start), end)
        if at < 0:
            key = path.rsplit(".", 1)[-1]
            at = c.text.find(f"{key}:", start, end)
            at = start if at < 0 else at
        else:
            after[url] = at + len(url)
        c.add(url, at, f"frontmatter:{path}", path, accessed=_sibling_date(data, path))
