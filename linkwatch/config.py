"""Settings: built once from defaults, ``linkwatch.toml``, ``LINKWATCH_*`` env, CLI flags.

Precedence, lowest first: the ``DEFAULT_*`` values below -> the TOML file (``--config FILE`` or
``./linkwatch.toml``) -> environment variables ``LINKWATCH_<SECTION>_<KEY>`` -> CLI flags.
An unknown key anywhere is a ``ConfigError`` naming the key and where it came from.
The result is a frozen ``Settings``; nothing else in linkwatch reads ``os.environ``.

Secrets (archive.org S3 keys) come from ``archive.credentials_file`` (a file others cannot
read, e.g. a systemd credential) or, for development, ``LINKWATCH_IA_ACCESS_KEY`` /
``LINKWATCH_IA_SECRET_KEY``. They are held in ``Secret`` whose ``repr``/``str`` is ``***``.
"""

from __future__ import annotations

import dataclasses
import difflib
import ipaddress
import json
import os
import re
import stat
import tomllib
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from linkwatch.errors import ConfigError
from linkwatch.scrub import redact_password

CONFIG_FILENAME = "linkwatch.toml"
ENV_PREFIX = "LINKWATCH_"
SECRET_ENV = ("LINKWATCH_IA_ACCESS_KEY", "LINKWATCH_IA_SECRET_KEY")

# corpus
DEFAULT_CORPUS_PATHS: tuple[str, ...] = ("corpus/**/*",)
DEFAULT_CORPUS_EXCLUDE: tuple[str, ...] = ()
DEFAULT_MAX_FILE_BYTES = 20 * 1024 * 1024
DEFAULT_MAX_LINKS_PER_DOC = 10_000
DEFAULT_MAX_URL_LENGTH = 8192
# worker processes for extraction (1: in-process; more only pays on idle multi-core hosts)
DEFAULT_CORPUS_JOBS = 1
# state and report
DEFAULT_STATE_PATH = "state/linkwatch.db"
DEFAULT_REPORT_DIR = "reports/"
DEFAULT_BUSY_TIMEOUT_S = 10.0
DEFAULT_REPORT_INDEX_ROWS = 100  # rows per section on index.html; the rest on section pages
DEFAULT_REPORT_PAGE_ROWS = 1000  # rows per page of a full section list
DEFAULT_REPORT_TREND_DAYS = 60  # days of check history in the trend chart
DEFAULT_REPORT_TIMELINE = 6  # last outcomes shown as evidence per failing link
# check
DEFAULT_CONCURRENCY = 16
DEFAULT_PER_HOST = 2
DEFAULT_HOST_INTERVAL_S = 1.0
DEFAULT_TIMEOUT_S = 20.0
DEFAULT_CONNECT_TIMEOUT_S = 5.0
DEFAULT_MAX_REDIRECTS = 10
DEFAULT_MAX_BODY_BYTES = 1024 * 1024
DEFAULT_CONTACT = ""
DEFAULT_STRIKES = 3
DEFAULT_STRIKE_SPACING = "3d"
DEFAULT_RECHECK_ALIVE = "1d"
DEFAULT_RECHECK_MAX = "30d"
DEFAULT_RECHECK_FAILING = "1d"
DEFAULT_UNVERIFIABLE_AFTER = "30d"
DEFAULT_RETRY_AFTER_CAP = "6h"
DEFAULT_FINGERPRINT_EVERY = "7d"  # re-read an alive page's body (title, text hash) this often
DEFAULT_RECHECK_RATE_LIMITED = "1m"  # a 429 without Retry-After holds the host this long
#: a check run waits for a host's Retry-After window only when it ends this soon after the
#: run started; a later window defers the host's remaining links to a later run
DEFAULT_RUN_DEADLINE = "10m"
# archive
DEFAULT_WAYBACK_URL = "https://web.archive.org"
DEFAULT_AVAILABILITY_URL = "https://archive.org"
DEFAULT_CAPTURES_PER_MINUTE = 6
DEFAULT_CONCURRENT_CAPTURES = 3
DEFAULT_CDX_PER_MINUTE = 24
DEFAULT_IF_NOT_ARCHIVED_WITHIN = "30d"
DEFAULT_ARCHIVE_REQUEST_TIMEOUT_S = 30.0
DEFAULT_POLL_TIMEOUT_S = 300.0
DEFAULT_POLL_INTERVAL_S = 6.0
DEFAULT_ARCHIVE_MAX_ATTEMPTS = 5
DEFAULT_MEMENTO_SOURCES = (
    "archive.today=https://archive.ph/timemap/",
    "Memento Time Travel=https://timetravel.mementoweb.org/timemap/link/",
)
DEFAULT_MEMENTO_PER_MINUTE = 10  # per archive host: archive.today answers bursts with 429s
DEFAULT_BACKOFF_429_S = 300.0  # the archive's own advice for a 429 without Retry-After
# the "minute" of the per-minute limits (bench and tests shorten it)
DEFAULT_ARCHIVE_RATE_WINDOW_S = 60.0
DEFAULT_ARCHIVE_RETRY_BACKOFF_S = 600.0  # first retry delay of a queue item; doubles per attempt
# schedule
DEFAULT_SCAN_EVERY = "1h"
DEFAULT_CHECK_EVERY = "15m"
DEFAULT_ARCHIVE_EVERY = "15m"
DEFAULT_REPORT_EVERY = "1d"
DEFAULT_REPORT_AT = ""
DEFAULT_STALL_AFTER = "10m"

#: settings that existed once, and why they are gone
REMOVED_KEYS = {
    "check.workers": "removed: one process checks every host (worker processes did not pay "
    "on the machines measured, see bench/README.md)",
}

_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)?")
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, None: 1}


def parse_duration(text: str | float | int) -> float:
    """``"90"``, ``"15m"``, ``"1h 30m"``, ``"3d"`` -> seconds. Raises ``ValueError``."""
    if isinstance(text, int | float):
        return float(text)
    s = text.strip().lower()
    pos, total = 0, 0.0
    for m in _DURATION.finditer(s):
        if s[pos : m.start()].strip():
            break
        total += float(m.group(1)) * _UNITS[m.group(2)]
        pos = m.end()
    if not s or s[pos:].strip():
        raise ValueError(f"not a duration: {text!r} (use e.g. 90s, 15m, 1h, 3d)")
    return total


class Secret:
    """A string that never prints itself."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    def __str__(self) -> str:
        return "***"

    def __bool__(self) -> bool:
        return bool(self._value)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


@dataclass(frozen=True)
class Rule:
    """What a setting's declared type says beyond its Python type (``Annotated``)."""

    name: str


DURATION = Rule("duration")  # "90s", "15m", "7d", "1h 30m"; a ``<key>_s`` field holds seconds
TIME_OF_DAY = Rule("time of day")  # "06:00", or empty
POSITIVE = Rule("positive")  # a zero would stop the work or divide by it
FRACTION = Rule("fraction")  # between 0 and 1
AT_LEAST_ZERO = Rule("zero or more")

#: the declared types of settings: each section below is its schema, read by ``_coerce``
Duration = Annotated[str, DURATION]
TimeOfDay = Annotated[str, TIME_OF_DAY]
PositiveInt = Annotated[int, POSITIVE]
PositiveFloat = Annotated[float, POSITIVE]
PositiveDuration = Annotated[str, DURATION, POSITIVE]
Fraction = Annotated[float, FRACTION]
Count = Annotated[int, AT_LEAST_ZERO]


_SCHEMAS: dict[type, dict[str, Any]] = {}


def schema(section: type) -> dict[str, Any]:
    """A settings section's keys and their declared types (the derived ``*_s`` seconds of
    durations are not keys)."""
    if section not in _SCHEMAS:
        hints = typing.get_type_hints(section, include_extras=True)
        _SCHEMAS[section] = {f.name: hints[f.name] for f in fields(section) if f.init}
    return _SCHEMAS[section]


def _rules(hint: Any) -> tuple[Any, tuple[Rule, ...]]:
    if typing.get_origin(hint) is Annotated:
        base, *extra = typing.get_args(hint)
        return base, tuple(r for r in extra if isinstance(r, Rule))
    return hint, ()


def _seconds(section: object) -> None:
    """Set ``<key>_s`` for every duration of ``section`` (a frozen dataclass)."""
    for key, hint in schema(type(section)).items():
        if DURATION in _rules(hint)[1]:
            text = getattr(section, key)
            object.__setattr__(section, f"{key}_s", parse_duration(text) if text else 0.0)


@dataclass(frozen=True)
class CorpusSettings:
    paths: tuple[str, ...] = DEFAULT_CORPUS_PATHS
    exclude: tuple[str, ...] = DEFAULT_CORPUS_EXCLUDE
    max_file_bytes: PositiveInt = DEFAULT_MAX_FILE_BYTES
    max_links_per_doc: PositiveInt = DEFAULT_MAX_LINKS_PER_DOC
    max_url_length: PositiveInt = DEFAULT_MAX_URL_LENGTH
    jobs: PositiveInt = DEFAULT_CORPUS_JOBS
    #: a citation's access date from the first git commit that added its URL to the file
    #: (when the document states none and the corpus is a git work tree)
    git_dates: bool = True
    #: a Markdown link reference definition no link uses is a citation too (CommonMark
    #: renders nothing for it)
    unused_references: bool = False
    #: the document's own URL (``<link rel=canonical>``, ``<meta property=og:url>``) is a
    #: citation too; it is the base for relative URLs either way
    self_links: bool = False


@dataclass(frozen=True)
class StateSettings:
    path: str = DEFAULT_STATE_PATH
    #: a shared state for several workers: ``postgresql://user@host/db`` (a password is
    #: better kept in ``~/.pgpass`` or ``PGPASSWORD`` than here); ``sqlite:///PATH`` or
    #: empty keeps the SQLite file at ``path``
    url: str = ""
    busy_timeout_s: float = DEFAULT_BUSY_TIMEOUT_S


@dataclass(frozen=True)
class ReportSettings:
    dir: str = DEFAULT_REPORT_DIR
    title: str = "linkwatch report"
    index_rows: PositiveInt = DEFAULT_REPORT_INDEX_ROWS
    page_rows: PositiveInt = DEFAULT_REPORT_PAGE_ROWS
    trend_days: PositiveInt = DEFAULT_REPORT_TREND_DAYS
    timeline: int = DEFAULT_REPORT_TIMELINE


@dataclass(frozen=True)
class CheckSettings:
    concurrency: PositiveInt = DEFAULT_CONCURRENCY
    per_host: PositiveInt = DEFAULT_PER_HOST
    host_interval_s: float = DEFAULT_HOST_INTERVAL_S
    timeout_s: PositiveFloat = DEFAULT_TIMEOUT_S
    connect_timeout_s: PositiveFloat = DEFAULT_CONNECT_TIMEOUT_S
    max_redirects: PositiveInt = DEFAULT_MAX_REDIRECTS
    max_body_bytes: PositiveInt = DEFAULT_MAX_BODY_BYTES
    contact: str = DEFAULT_CONTACT
    user_agent: str = ""
    host_user_agents: Mapping[str, str] = field(default_factory=dict)
    #: extra request headers per host (and its subdomains), e.g.
    #: ``{ "example.org" = { "Accept-Language" = "de" } }``; an empty value drops one of
    #: linkwatch's own (``Accept = ""``: the HTTP client's ``*/*`` then)
    host_headers: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    allow_networks: tuple[str, ...] = ()
    deny_networks: tuple[str, ...] = ()
    proxy: str = ""
    # extra CA certificates (PEM file) trusted besides the system's, e.g. an intranet CA
    ca_bundle: str = ""
    honor_robots: bool = False
    strikes: PositiveInt = DEFAULT_STRIKES
    strike_spacing: Duration = DEFAULT_STRIKE_SPACING
    recheck_alive: Duration = DEFAULT_RECHECK_ALIVE
    recheck_max: Duration = DEFAULT_RECHECK_MAX
    recheck_failing: Duration = DEFAULT_RECHECK_FAILING
    unverifiable_after: Duration = DEFAULT_UNVERIFIABLE_AFTER
    retry_after_cap: Duration = DEFAULT_RETRY_AFTER_CAP
    soft404_probe: bool = True
    #: URLs never requested (regexes, or ``glob:`` patterns), shown "not checked"
    exclude: tuple[str, ...] = ()
    #: statuses that count as alive: ``"403"`` or ``"403@<regex of URLs>"``
    accept: tuple[str, ...] = ()
    #: a live page whose main text is less alike than this to the first time it was read
    #: (SimHash similarity: ~1.0 edited, ~0.5 replaced) has drifted: its citation points
    #: at something else now
    drift_below: Fraction = 0.75
    fingerprint_every: Duration = DEFAULT_FINGERPRINT_EVERY
    recheck_rate_limited: Duration = DEFAULT_RECHECK_RATE_LIMITED
    run_deadline: Duration = DEFAULT_RUN_DEADLINE
    # seconds, set from the durations above
    strike_spacing_s: float = field(default=0.0, init=False, repr=False)
    recheck_alive_s: float = field(default=0.0, init=False, repr=False)
    recheck_max_s: float = field(default=0.0, init=False, repr=False)
    recheck_failing_s: float = field(default=0.0, init=False, repr=False)
    unverifiable_after_s: float = field(default=0.0, init=False, repr=False)
    retry_after_cap_s: float = field(default=0.0, init=False, repr=False)
    fingerprint_every_s: float = field(default=0.0, init=False, repr=False)
    recheck_rate_limited_s: float = field(default=0.0, init=False, repr=False)
    run_deadline_s: float = field(default=0.0, init=False, repr=False)

    def __post_init__(self) -> None:
        _seconds(self)


@dataclass(frozen=True)
class ArchiveSettings:
    enabled: bool = True
    wayback_url: str = DEFAULT_WAYBACK_URL
    availability_url: str = DEFAULT_AVAILABILITY_URL
    credentials_file: str = ""
    captures_per_minute: PositiveInt = DEFAULT_CAPTURES_PER_MINUTE
    concurrent_captures: PositiveInt = DEFAULT_CONCURRENT_CAPTURES
    cdx_per_minute: PositiveInt = DEFAULT_CDX_PER_MINUTE
    if_not_archived_within: Duration = DEFAULT_IF_NOT_ARCHIVED_WITHIN
    request_timeout_s: PositiveFloat = DEFAULT_ARCHIVE_REQUEST_TIMEOUT_S
    poll_timeout_s: PositiveFloat = DEFAULT_POLL_TIMEOUT_S
    poll_interval_s: float = DEFAULT_POLL_INTERVAL_S
    max_attempts: PositiveInt = DEFAULT_ARCHIVE_MAX_ATTEMPTS
    backoff_429_s: float = DEFAULT_BACKOFF_429_S
    rate_window_s: PositiveFloat = DEFAULT_ARCHIVE_RATE_WINDOW_S
    #: CIDRs whose (non-public) addresses may still be submitted for capture: a private
    #: archive instance, tests on loopback. Public addresses never need it.
    submit_networks: tuple[str, ...] = ()
    #: an explicit proxy for every archive request; proxies never come from the environment
    proxy: str = ""
    retry_backoff_s: float = DEFAULT_ARCHIVE_RETRY_BACKOFF_S
    #: other archives asked (RFC 7089 TimeMaps) for a dead link the Wayback Machine has
    #: no good copy of from before it was cited: ``name=TimeMap URL prefix``
    memento_sources: tuple[str, ...] = DEFAULT_MEMENTO_SOURCES
    memento_per_minute: PositiveInt = DEFAULT_MEMENTO_PER_MINUTE
    # seconds, set from the durations above
    if_not_archived_within_s: float = field(default=0.0, init=False, repr=False)

    def __post_init__(self) -> None:
        _seconds(self)


@dataclass(frozen=True)
class ScheduleSettings:
    scan_every: Duration = DEFAULT_SCAN_EVERY
    check_every: Duration = DEFAULT_CHECK_EVERY
    archive_every: Duration = DEFAULT_ARCHIVE_EVERY
    report_every: Duration = DEFAULT_REPORT_EVERY
    report_at: TimeOfDay = DEFAULT_REPORT_AT
    # the watchdog stops pinging when a running job has made no progress for this long
    stall_after: Duration = DEFAULT_STALL_AFTER
    # seconds, set from the durations above
    scan_every_s: float = field(default=0.0, init=False, repr=False)
    check_every_s: float = field(default=0.0, init=False, repr=False)
    archive_every_s: float = field(default=0.0, init=False, repr=False)
    report_every_s: float = field(default=0.0, init=False, repr=False)
    stall_after_s: float = field(default=0.0, init=False, repr=False)

    def __post_init__(self) -> None:
        _seconds(self)


@dataclass(frozen=True)
class WorkerSettings:
    """``linkwatch worker`` on a shared (PostgreSQL) state."""

    #: how long a claim on a host (or the archive lane, or the leader role) holds without
    #: renewal: a crashed worker's hosts go to the others after this
    lease: PositiveDuration = "60s"
    #: hosts claimed at once (a worker claims again as soon as it has finished them);
    #: 0: a fair share (hosts no other worker holds, divided among the live workers and
    #: the slots), at most four times the slot's share of ``check.concurrency``
    hosts_per_claim: Count = 0
    #: the wait between looks for work when nothing is due or everything is claimed
    idle: PositiveDuration = "2s"
    #: checking threads per worker, each claiming its own hosts and sharing
    #: ``check.concurrency``: a slot that finishes claims again at once
    slots: PositiveInt = 4
    lease_s: float = field(default=0.0, init=False, repr=False)
    idle_s: float = field(default=0.0, init=False, repr=False)

    def __post_init__(self) -> None:
        _seconds(self)


NOTIFY_EVENTS = ("dead", "recovered", "drifted", "moved", "capture_failed", "stalled")


@dataclass(frozen=True)
class NotifySettings:
    #: an Atom feed of the latest events beside the report (reports/feed.xml)
    feed: bool = True
    #: a JSON POST of each event (or of a digest) to this URL
    webhook_url: str = ""
    #: a file (mode 0600) holding the webhook's bearer token
    webhook_secret_file: str = ""
    #: a command given each event (or the digest) as JSON on its stdin, e.g. ["notify-send"]
    exec: tuple[str, ...] = ()
    #: one message per run with every new event, instead of one per event
    digest: bool = False
    #: the kinds of event to send
    events: tuple[str, ...] = NOTIFY_EVENTS


@dataclass(frozen=True)
class FixSettings:
    #: "robustlinks": keep href, add data-originalurl/-versionurl/-versiondate;
    #: "replace": also point href at the snapshot
    html_style: Literal["robustlinks", "replace"] = "robustlinks"
    #: "append": [text](original) ([archived](snapshot)); "replace": the snapshot instead
    markdown_style: Literal["append", "replace"] = "append"


@dataclass(frozen=True)
class Credentials:
    access_key: Secret
    secret_key: Secret

    def revealed(self) -> tuple[str, str]:
        """Both keys, for the scrubber that removes them from remote text."""
        return self.access_key.reveal(), self.secret_key.reveal()


@dataclass(frozen=True)
class Settings:
    corpus: CorpusSettings = field(default_factory=CorpusSettings)
    state: StateSettings = field(default_factory=StateSettings)
    report: ReportSettings = field(default_factory=ReportSettings)
    check: CheckSettings = field(default_factory=CheckSettings)
    archive: ArchiveSettings = field(default_factory=ArchiveSettings)
    schedule: ScheduleSettings = field(default_factory=ScheduleSettings)
    fix: FixSettings = field(default_factory=FixSettings)
    notify: NotifySettings = field(default_factory=NotifySettings)
    worker: WorkerSettings = field(default_factory=WorkerSettings)
    credentials: Credentials | None = None
    source: str = "defaults"
    base_dir: str = "."

    def resolve(self, path: str) -> Path:
        """A path from the config, relative to the config file's directory."""
        p = Path(path).expanduser()
        return p if p.is_absolute() else Path(os.path.normpath(Path(self.base_dir) / p))

    @property
    def state_path(self) -> Path:
        return self.resolve(self.state.path)

    @property
    def shared_state(self) -> bool:
        """The state is a PostgreSQL database shared by workers, not a local file."""
        return self.state.url.split(":", 1)[0] in ("postgresql", "postgres")

    @property
    def state_target(self) -> str | Path:
        """What ``open_store`` opens: the PostgreSQL URL, or the SQLite file (a
        ``sqlite:///`` URL's path resolved like ``state.path``)."""
        if self.shared_state:
            return self.state.url
        if self.state.url.startswith("sqlite:///"):
            return self.resolve(self.state.url[len("sqlite:///") :])
        return self.state_path

    @property
    def state_where(self) -> str:
        """The state's location for messages (a PostgreSQL URL without its password)."""
        if self.shared_state:
            return redact_password(self.state.url)
        return str(self.state_target)

    @property
    def report_dir(self) -> Path:
        return self.resolve(self.report.dir)

    def masked(self) -> dict[str, Any]:
        """Effective settings for ``status``: plain data, secrets masked."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "credentials":
                out[f.name] = None if value is None else {"access_key": "***", "secret_key": "***"}
            elif dataclasses.is_dataclass(value) and not isinstance(value, type):
                out[f.name] = {
                    g.name: _plain(getattr(value, g.name)) for g in fields(value) if g.init
                }
            else:
                out[f.name] = value
        return out


def _plain(value: Any) -> Any:
    if isinstance(value, tuple):
        return list(value)
    if isinstance(value, Mapping):
        return dict(value)
    return value


_SECTIONS: dict[str, type] = {
    f.name: f.default_factory  # type: ignore[misc]
    for f in fields(Settings)
    if f.default_factory is not dataclasses.MISSING
}


def _coerce(hint: Any, raw: Any, *, typed: bool) -> Any:
    """Check and convert one value to its declared type; ``typed`` sources (TOML) must
    already have the type, text sources (env, flags) are parsed. Raises ``ValueError``."""
    kind, rules = _rules(hint)
    value = _convert(kind, raw, typed=typed)
    for rule in rules:
        _enforce(rule, value)
    return value


def _convert(kind: Any, raw: Any, *, typed: bool) -> Any:
    origin = typing.get_origin(kind)
    if kind is bool:
        if isinstance(raw, bool):
            return raw
        if isinstance(raw, str) and raw.lower() in ("1", "true", "yes", "on"):
            return True
        if isinstance(raw, str) and raw.lower() in ("0", "false", "no", "off", ""):
            return False
        raise ValueError(f"expected true or false, got {raw!r}")
    if kind is int:
        if isinstance(raw, bool) or (typed and not isinstance(raw, int)):
            raise ValueError(f"expected an integer, got {raw!r}")
        return int(raw)
    if kind is float:
        if isinstance(raw, bool) or (typed and not isinstance(raw, int | float)):
            raise ValueError(f"expected a number, got {raw!r}")
        return float(raw)
    if origin is tuple:
        if isinstance(raw, str) and not typed:
            raw = (
                json.loads(raw)
                if raw.strip().startswith("[")
                else [p.strip() for p in raw.split(",") if p.strip()]
            )
        if not isinstance(raw, list | tuple) or not all(isinstance(x, str) for x in raw):
            raise ValueError("expected a list of strings")
        return tuple(raw)
    if origin is Mapping:
        if isinstance(raw, str):
            raw = json.loads(raw)
        if not isinstance(raw, Mapping):
            raise ValueError("expected a table")
        return dict(raw)
    if not isinstance(raw, str):
        raise ValueError(f"expected a string, got {type(raw).__name__}")
    if origin is Literal and raw not in typing.get_args(kind):
        raise ValueError(f"must be one of {', '.join(typing.get_args(kind))}, got {raw!r}")
    return raw


def _enforce(rule: Rule, value: Any) -> None:
    if rule is DURATION and value:
        parse_duration(value)
    elif rule is TIME_OF_DAY and value:
        if not re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d", value):
            raise ValueError(f"expected a time of day HH:MM, got {value!r}")
    elif rule is POSITIVE:
        number = parse_duration(value) if isinstance(value, str) else value
        if number <= 0:
            raise ValueError(f"must be greater than 0 (it is {value})")
    elif rule is FRACTION and not 0 <= value <= 1:
        raise ValueError(f"must be between 0 and 1 (it is {value})")
    elif rule is AT_LEAST_ZERO and value < 0:
        raise ValueError(f"must be 0 or more (it is {value})")


def _merge(
    layers: dict[str, dict[str, Any]],
    data: Mapping[str, Any],
    origin: str,
    *,
    typed: bool = False,
) -> None:
    for section, values in data.items():
        if section not in _SECTIONS:
            near = difflib.get_close_matches(section, sorted(_SECTIONS), n=1)
            hint = f" (did you mean [{near[0]}]?)" if near else ""
            raise ConfigError(f"unknown section [{section}] in {origin}{hint}")
        if not isinstance(values, Mapping):
            raise ConfigError(f"[{section}] in {origin} must be a table")
        known = schema(_SECTIONS[section])
        for key, raw in values.items():
            if f"{section}.{key}" in REMOVED_KEYS:
                raise ConfigError(
                    f"{section}.{key} in {origin}: "
                    f"{REMOVED_KEYS[section + '.' + key]}; delete the line"
                )
            if key not in known:
                near = difflib.get_close_matches(key, sorted(known), n=1)
                hint = f" (did you mean {section}.{near[0]}?)" if near else ""
                raise ConfigError(f"unknown key {section}.{key} in {origin}{hint}")
            try:
                value = _coerce(known[key], raw, typed=typed)
            except (ValueError, TypeError) as exc:  # json.JSONDecodeError is a ValueError
                raise ConfigError(f"{section}.{key} in {origin}: {exc}") from None
            layers.setdefault(section, {})[key] = value


def _env_layer(env: Mapping[str, str]) -> dict[str, dict[str, str]]:
    data: dict[str, dict[str, str]] = {}
    for name, value in env.items():
        if not name.startswith(ENV_PREFIX) or name in SECRET_ENV:
            continue
        rest = name[len(ENV_PREFIX) :].lower()
        section = next((s for s in _SECTIONS if rest.startswith(s + "_")), None)
        if section is None:
            if rest in ("config",):
                continue
            raise ConfigError(f"unknown environment variable {name} (no section {rest!r})")
        key = rest[len(section) + 1 :]
        if key not in schema(_SECTIONS[section]):
            raise ConfigError(f"unknown key {section}.{key} in environment variable {name}")
        data.setdefault(section, {})[key] = value
    return data


def find_config(explicit: str | None, env: Mapping[str, str]) -> Path | None:
    if explicit:
        path = Path(explicit)
        if not path.is_file():
            raise ConfigError(f"config file not found: {explicit}")
        return path
    if env.get("LINKWATCH_CONFIG"):
        return find_config(env["LINKWATCH_CONFIG"], {})
    local = Path(CONFIG_FILENAME)
    return local if local.is_file() else None


def load_settings(
    config_path: str | None = None,
    *,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Mapping[str, Any]] | None = None,
) -> Settings:
    """Build the frozen ``Settings`` (the only function that reads the environment)."""
    env = os.environ if env is None else env
    layers: dict[str, dict[str, Any]] = {}
    path = find_config(config_path, env)
    source, base_dir = "defaults", "."
    if path is not None:
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"cannot read {path}: {exc}") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path} is not valid TOML: {exc}") from None
        _merge(layers, data, str(path), typed=True)
        source, base_dir = str(path), str(path.parent)
    _merge(layers, _env_layer(env), "the environment")
    if overrides:
        _merge(
            layers,
            {s: {k: v for k, v in kv.items() if v is not None} for s, kv in overrides.items()},
            "command-line options",
        )
    sections = {name: factory(**layers.get(name, {})) for name, factory in _SECTIONS.items()}
    _check_networks(sections)
    _check_host_headers(sections["check"].host_headers)
    _check_memento_sources(sections["archive"].memento_sources)
    from linkwatch.urlrules import UrlRules

    UrlRules.compile(sections["check"].exclude, sections["check"].accept)  # errors name keys
    unknown = set(sections["notify"].events) - set(NOTIFY_EVENTS)
    if unknown:
        known = ", ".join(NOTIFY_EVENTS)
        raise ConfigError(f"notify.events: unknown {', '.join(sorted(unknown))} (known: {known})")
    hook = sections["notify"].webhook_url
    if hook and urlsplit(hook).scheme not in ("http", "https"):
        raise ConfigError(f"notify.webhook_url: {hook!r} is not an http(s) URL")
    state_url = sections["state"].url
    if state_url and state_url.split(":", 1)[0] not in ("postgresql", "postgres", "sqlite"):
        raise ConfigError(
            f"state.url: {redact_password(state_url)!r} is not postgresql://... or sqlite:///PATH"
        )
    creds = load_credentials(sections["archive"].credentials_file, env, base_dir)
    return Settings(**sections, credentials=creds, source=source, base_dir=base_dir)


def job_intervals(settings: Settings) -> dict[str, float]:
    """Each job's interval in seconds (0: not on a timer)."""
    s = settings.schedule
    return {
        "scan": s.scan_every_s,
        "check": s.check_every_s,
        "archive": s.archive_every_s,
        "report": s.report_every_s,
    }


def _check_networks(sections: Mapping[str, Any]) -> None:
    """CIDR lists are refused at load time, naming the key."""
    for section, key in (
        ("check", "allow_networks"),
        ("check", "deny_networks"),
        ("archive", "submit_networks"),
    ):
        for text in getattr(sections[section], key):
            try:
                ipaddress.ip_network(text.strip(), strict=False)
            except ValueError:
                raise ConfigError(
                    f"{section}.{key}: {text!r} is not a CIDR network (e.g. 10.0.0.0/8)"
                ) from None


#: headers the HTTP client owns: a per-host value would break the request framing
FRAMING_HEADERS = frozenset({"host", "content-length", "transfer-encoding", "connection",
                             "te", "upgrade", "keep-alive", "proxy-connection"})  # fmt: skip
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")


def _check_host_headers(table: Mapping[str, Any]) -> None:
    for host, headers in table.items():
        where = f"check.host_headers.{host}"
        if not isinstance(headers, Mapping):
            raise ConfigError(f"{where}: expected a table of header = value")
        for name, value in headers.items():
            if not isinstance(value, str):
                raise ConfigError(f"{where}.{name}: expected a string")
            if not _TOKEN.fullmatch(name):
                raise ConfigError(f"{where}: {name!r} is not a header name")
            if name.lower() in FRAMING_HEADERS:
                raise ConfigError(f"{where}: {name} is set by the HTTP client, not here")
            if any(c in value for c in "\r\n\0"):
                raise ConfigError(f"{where}.{name}: a header value cannot hold line breaks")


def _check_memento_sources(entries: tuple[str, ...]) -> None:
    for entry in entries:
        name, sep, prefix = entry.partition("=")
        if not sep or not name.strip() or urlsplit(prefix.strip()).scheme not in ("http", "https"):
            raise ConfigError(
                f"archive.memento_sources: {entry!r} is not name=TimeMap URL prefix "
                '(e.g. "archive.today=https://archive.ph/timemap/")'
            )


def load_credentials(
    credentials_file: str, env: Mapping[str, str], base_dir: str = "."
) -> Credentials | None:
    """archive.org S3 keys: a file others cannot read, else the development env vars.

    The file holds ``access:secret`` on one line (or two lines), as in
    ``Authorization: LOW access:secret``. A group/world-readable file is refused.
    """
    if credentials_file:
        path = Path(credentials_file)
        if not path.is_absolute():
            path = Path(base_dir) / path
        creds_dir = env.get("CREDENTIALS_DIRECTORY")
        if not path.exists() and creds_dir and (Path(creds_dir) / path.name).exists():
            path = Path(creds_dir) / path.name
        text = _read_private(path, "archive credentials file")
        if text.strip().lower() in ("", "none"):
            return None  # the units' SetCredential=ia-s3:none default (no key file): no keys
        parts = [p.strip() for p in re.split(r"[:\n]", text.strip(), maxsplit=1)]
        if len(parts) != 2 or not all(parts):
            raise ConfigError(f"archive credentials file {path} must hold 'ACCESS_KEY:SECRET_KEY'")
        return Credentials(Secret(parts[0]), Secret(parts[1]))
    access, secret = (env.get(name, "") for name in SECRET_ENV)
    if access and secret:
        return Credentials(Secret(access), Secret(secret))
    if access or secret:
        raise ConfigError("set both LINKWATCH_IA_ACCESS_KEY and LINKWATCH_IA_SECRET_KEY")
    return None


def _read_private(path: Path, what: str) -> str:
    """A secret file's text; a ConfigError when it cannot be read or others can read it."""
    try:
        mode = path.stat().st_mode
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read {what} {path}: {exc.strerror}") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ConfigError(f"{what} {path} is readable by others; run: chmod 600 {path}")
    return text


def load_secret_file(path_text: str) -> Secret:
    """One secret (a webhook token) from a file others cannot read, or a ConfigError."""
    path = Path(path_text)
    text = _read_private(path, "secret file").strip()
    if not text:
        raise ConfigError(f"secret file {path} is empty")
    return Secret(text)
