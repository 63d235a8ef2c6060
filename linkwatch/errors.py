"""Errors linkwatch raises on purpose.

::

    LinkwatchError                 base; every error linkwatch raises on purpose
    ├── ConfigError                invalid/missing config, unknown key, unreadable secrets
    ├── CorpusError                corpus path missing/unreadable (one bad file is NOT an error)
    ├── StoreError                 cannot open/migrate the database; schema newer than code
    │   ├── StoreBusyError         write lock not acquired within the busy timeout
    │   └── DaemonRunningError     another daemon already holds this state
    ├── ArchiveError
    │   ├── ArchiveRateLimited     carries retry_after_s
    │   └── ArchiveUnavailable     timeout, 5xx, malformed response
    └── ReportError                template/render/write failure

Link faults (404, DNS failure, timeouts, blocked addresses) are never exceptions: they are
``CheckResult`` values. Per-file extraction problems are ``ExtractWarning`` records.
Messages never contain secrets.
"""

from __future__ import annotations


class LinkwatchError(Exception):
    """Base of every error linkwatch raises on purpose."""

    exit_code = 1


class ConfigError(LinkwatchError):
    exit_code = 2


class CorpusError(LinkwatchError):
    exit_code = 5


class StoreError(LinkwatchError):
    exit_code = 3


class StoreBusyError(StoreError):
    exit_code = 6


class DaemonRunningError(StoreError):
    exit_code = 7


class ArchiveError(LinkwatchError):
    exit_code = 8


class ArchiveRateLimited(ArchiveError):
    def __init__(self, message: str, retry_after_s: float) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class ArchiveUnavailable(ArchiveError):
    """The archive is in trouble (5xx, a timeout, a dropped connection, garbage).
    ``replied`` is False when no answer came at all: a submission may then be running."""

    def __init__(self, message: str, *, replied: bool = True) -> None:
        super().__init__(message)
        self.replied = replied


class ReportError(LinkwatchError):
    exit_code = 4
