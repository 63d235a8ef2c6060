"""When a URL first appeared in a file, from the git history of that file: the access
date of a citation when the document states none (InternetArchiveBot's "time added").

One ``git log --follow -p`` of one file, read as a stream (bounded in time and bytes),
for a document whose content changed; the date found is stored with the citation and
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


def first_added(path: Path, urls: Iterable[str]) -> dict[str, str]:
    """``url -> author date (ISO-8601)`` of the oldest commit whose diff of ``path``
    adds a line containing it."""
    wanted = {u for u in urls if u}
    if not wanted:
        return {}
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(GIT_OPTIONAL_LOCKS="0", LC_ALL="C")
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
