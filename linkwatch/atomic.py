"""Replacing a file atomically and durably: a temporary file in the same folder, write,
flush, fsync, the wanted mode (mkstemp makes 0600), ``os.replace``, fsync of the folder.
On any error the temporary file is removed and the old file stays as it was. Used for the
report's files and for the documents ``linkwatch fix`` rewrites."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

TEMP_PREFIX = ".linkwatch-"


def fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return  # not supported here (e.g. some network file systems)
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def replace_file(target: Path, payload: bytes, mode: int, *, sync_dir: bool = True) -> None:
    """Replace ``target`` with ``payload`` (file mode ``mode``); raises ``OSError``."""
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=TEMP_PREFIX, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
            os.fchmod(handle.fileno(), mode)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    if sync_dir:
        fsync_dir(target.parent)
