"""What not to check, and what counts as alive where: ``check.exclude`` and
``check.accept`` (lychee's ``--exclude`` and ``--accept``), compiled once.

- ``check.exclude``: regular expressions searched in the URL (``"^https://intranet\\."``),
  or shell globs matched against the whole URL written ``glob:https://*.example.org/*``.
  A URL that matches is never requested: it is shown "not checked: excluded by
  check.exclude" from the first run (cited, so never dropped silently).
- ``check.accept``: ``"403"`` or ``"403,429"`` (everywhere), or ``"403@<regex>"`` (only for
  URLs the regex finds): a site that always answers 403 to bots, say. An accepted status
  is alive, with the status kept in the result.
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass

from linkwatch.errors import ConfigError


@dataclass(frozen=True)
class UrlRules:
    exclude: tuple[tuple[str, re.Pattern[str]], ...] = ()
    accept: tuple[tuple[frozenset[int], re.Pattern[str] | None], ...] = ()

    @classmethod
    def compile(cls, exclude: tuple[str, ...], accept: tuple[str, ...]) -> UrlRules:
        ex = []
        for text in exclude:
            pattern = fnmatch.translate(text[5:]) if text.startswith("glob:") else text
            ex.append((text, _regex(pattern, "check.exclude", text)))
        acc = []
        for text in accept:
            codes, _, where = text.partition("@")
            try:
                numbers = frozenset(int(c) for c in codes.split(",") if c.strip())
            except ValueError:
                numbers = frozenset()
            if not numbers or not all(100 <= n <= 599 for n in numbers):
                raise ConfigError(
                    f'check.accept: {text!r} is not STATUS[,STATUS...][@regex] (e.g. "403")'
                )
            acc.append((numbers, _regex(where, "check.accept", text) if where else None))
        return cls(tuple(ex), tuple(acc))

    def excluded_by(self, url: str) -> str | None:
        """The ``check.exclude`` entry that ``url`` matches, if any."""
        return next((text for text, rx in self.exclude if rx.search(url)), None)

    def accepts(self, url: str, status: int | None) -> bool:
        if status is None:
            return False
        return any(
            status in codes and (where is None or where.search(url)) for codes, where in self.accept
        )


def _regex(pattern: str, key: str, text: str) -> re.Pattern[str]:
    try:
        return re.compile(pattern)
    except re.error as exc:
        raise ConfigError(f"{key}: {text!r} is not a valid regular expression ({exc})") from None
