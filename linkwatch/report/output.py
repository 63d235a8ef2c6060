"""Writing report files atomically and durably.

Each file: a temporary file in the same directory, write, flush, fsync, chmod 0644 (mkstemp
creates 0600, which a web server cannot read), ``os.replace``, fsync the directory. On any
error the temporary file is removed and the previous file stays as it was.

A report is many files; they are written pages first and ``index.html`` + ``report.json``
last, so the index never links to a page that does not exist yet. Pages of an older report
that the new one no longer has are removed at the end.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Mapping
from pathlib import Path

from linkwatch.atomic import fsync_dir, replace_file
from linkwatch.errors import ReportError

FILE_MODE = 0o644
LAST_FILES = ("report.json", "index.html")


def write_report(path: str | Path, data: str | bytes, *, sync_dir: bool = True) -> int:
    """Replace ``path`` atomically with ``data``; returns the bytes written."""
    target = Path(path)
    payload = data.encode("utf-8") if isinstance(data, str) else data
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        replace_file(target, payload, FILE_MODE, sync_dir=sync_dir)
    except OSError as exc:
        raise ReportError(f"cannot write {target}: {exc.strerror or exc}") from None
    return len(payload)


def write_files(directory: Path, files: Mapping[str, str | bytes], owned: re.Pattern[str]) -> int:
    """Write every file of a report, ``index.html`` and ``report.json`` last.

    Returns the total bytes. Afterwards, pages matching ``owned`` that this report does not
    have are removed (pages of an older, larger report).
    """
    pages = [name for name in files if name not in LAST_FILES]
    total = sum(write_report(directory / name, files[name], sync_dir=False) for name in pages)
    for parent in {(directory / name).parent for name in pages}:
        fsync_dir(parent)
    for name in LAST_FILES:
        if name in files:
            total += write_report(directory / name, files[name])
    remove_stale(directory, set(files), owned)
    return total


def remove_stale(directory: Path, keep: set[str], owned: re.Pattern[str]) -> int:
    """Delete pages of an older report that this one does not have; returns how many."""
    removed = 0
    for candidate in [*directory.glob("*.html"), *directory.glob("docs/*.html")]:
        name = candidate.relative_to(directory).as_posix()
        if name not in keep and owned.match(name):
            with contextlib.suppress(OSError):
                candidate.unlink()
                removed += 1
    return removed
