"""When a URL first appeared in a file, from the git history of that file: the access
date of a citation when the document states none (InternetArchiveBot's "time added").

One ``git log --follow -p`` of one file, read as a stream (bounded in time and bytes),
for a document whose content changed and that git tracks (one ``git ls-files`` per folder
tells, so a corpus of untracked or ignored files costs one process per folder, not one
per file); the date found is stored with the citation and
never computed again. Without git, outside a work tree or for a URL not committed yet,
there is no date (the next source in the chain applies).
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterable
from pathlib import Path

TIMEOUT_S = 20.0
MAX_BYTES = 64 * 1024 * 1024  # of one file's history
_MARK = "\x00linkwatch-commit "
#: how long a folder's list of tracked files is trusted (the daemon scans for weeks)
TRACKED_TTL_S = 60.0
_tracked: dict[Path, tuple[float, frozenset[str]]] = {}


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(GIT_OPTIONAL_LOCKS="0", LC_ALL="C")
    return env


def tracked(path: Path) -> bool:
    """Whether git tracks ``path`` (False outside a work tree or without git)."""
    folder = path.parent
    now = time.monotonic()
    cached = _tracked.get(folder)
    if cached is None or now - cached[0] > TRACKED_TTL_S:
        try:
            listing = subprocess.run(  # noqa: S603 - fixed argv, no shell
                ["git", "-C", str(folder), "ls-files", "-z", "--", "."],  # noqa: S607
                capture_output=True, timeout=TIMEOUT_S, env=_env(), check=False,
            )  # fmt: skip
            names = (
                frozenset(n for n in listing.stdout.decode("utf-8", "replace").split("\0") if n)
                if listing.returncode == 0
                else frozenset()
            )
        except (OSError, subprocess.SubprocessError):
            names = frozenset()
        cached = _tracked[folder] = (now, names)
    return path.name in cached[1]


def first_added(path: Path, urls: Iterable[str]) -> dict[str, str]:
    """``url -> author date (ISO-8601)`` of the oldest commit whose diff of ``path``
    adds a line containing it."""
    wanted = {u for u in urls if u}
    if not wanted or not tracked(path):
        return {}
    env = _env()
    try:
        proc = subprocess.Popen(  # noqa: S603 - fixed argv, no shell
            [  # noqa: S607 - git from PATH, like any git tool
                "git", "-C", str(path.parent), "log", "--follow", "--reverse", "--no-color",
                "--no-ext-diff", "--format=%x00linkwatch-commit %aI",
                "-p", "--", path.name,
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=env,
        )  # fmt: skip
    except OSError:
        return {}  # no git here
    found: dict[str, str] = {}
    started, read, when = time.monotonic(), 0, ""
    assert proc.stdout is not None
    try:
        for raw in proc.stdout:
            read += len(raw)
            if read > MAX_BYTES or time.monotonic() - started > TIMEOUT_S:
                break
            line = raw.decode("utf-8", "replace")
            if line.startswith(_MARK):
                when = line[len(_MARK) :].strip()
            elif line.startswith("+") and not line.startswith("+++") and when:
                for url in [u for u in wanted if u in line]:
                    found[url] = when
                    wanted.discard(url)
                if not wanted:
                    break
    finally:
        proc.kill()
        proc.wait(timeout=5)
        proc.stdout.close()
    return found
