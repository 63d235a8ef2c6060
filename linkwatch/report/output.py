"""Writing report files atomically and durably.

Each file: a temporary file in the same directory, write, flush, fsync, chmod 0644 (mkstemp
creates 0600, which a web server cannot read), ``os.replace``, fsync the directory. On any
error the temporary file is removed and the previous file stays as it was.

A report is many files: they are staged (written and synced in a staging folder beside
the report) and then moved into place, pages first and ``index.html`` + ``report.json``
last, so the index never links to a page that does not exist yet. Pages of an older report
that the new one no longer has are removed at the end.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from linkwatch.atomic import TEMP_PREFIX, fsync_dir, replace_file
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


@contextmanager
def staging(directory: Path) -> Iterator[Path]:
    """A staging folder inside the report folder (same file system: moving a file out of
    it is a rename), removed afterwards whatever happened."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
        folder = Path(tempfile.mkdtemp(dir=directory, prefix=TEMP_PREFIX + "staging-"))
    except OSError as exc:
        raise ReportError(f"cannot write into {directory}: {exc.strerror or exc}") from None
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def publish(folder: Path, directory: Path, names: Iterable[str], owned: re.Pattern[str]) -> None:
    """Move the staged files into ``directory``: pages first, ``index.html`` and
    ``report.json`` last (the index never links to a page that is not there yet), each
    folder synced after its renames; then pages of an older report that this one does not
    have are removed."""
    names = list(names)
    pages = [n for n in names if n not in LAST_FILES]
    try:
        for name in pages:
            (directory / name).parent.mkdir(parents=True, exist_ok=True)
            os.replace(folder / name, directory / name)
        for parent in {(directory / name).parent for name in pages}:
            fsync_dir(parent)
        for name in LAST_FILES:
            if name in names:
                os.replace(folder / name, directory / name)
                fsync_dir(directory)
    except OSError as exc:
        raise ReportError(f"cannot write {directory}: {exc.strerror or exc}") from None
    remove_stale(directory, set(names), owned)


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
