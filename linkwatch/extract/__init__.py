"""Extraction: every cited URL in a document, with where and how it is cited.

``extract_document(path, data)`` is pure (bytes in, records out): the format is recognised
from the content (``sniff``), YAML front matter is read first (``frontmatter``), then the
body as HTML, Markdown or plain text, or a PDF's link annotations. Problems with a document
are ``ExtractWarning`` records on the result, never exceptions.

``iter_corpus_files(settings)`` lists the configured corpus; ``linkwatch.jobs.scan``
records a scan in the store.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from pathlib import Path

from linkwatch.config import DEFAULT_MAX_LINKS_PER_DOC, DEFAULT_MAX_URL_LENGTH, Settings
from linkwatch.errors import CorpusError
from linkwatch.extract.collect import Collector
from linkwatch.extract.frontmatter import read_front_matter
from linkwatch.extract.html import extract_html, find_base
from linkwatch.extract.markdown import extract_markdown
from linkwatch.extract.pdf import extract_pdf
from linkwatch.extract.sniff import binary_reason, body_format, decode, is_pdf
from linkwatch.extract.text import extract_text
from linkwatch.model import Citation, DocFormat, ExtractWarning

# bump when extraction changes what it finds: the next scan re-reads every document
EXTRACTOR_VERSION = "3"


@dataclass(frozen=True)
class Extraction:
    """What one document cites.

    ``keys`` maps each distinct ``Citation.url`` to ``(canonical key, None)``,
    ``(None, reason it is invalid)`` or, for a scheme never requested (``mailto:``, ...),
    ``(None, None)``.
    """

    format: DocFormat
    citations: list[Citation] = field(default_factory=list)
    warnings: list[ExtractWarning] = field(default_factory=list)
    self_url: str | None = None
    access_date: str | None = None
    keys: dict[str, tuple[str | None, str | None]] = field(default_factory=dict)


def extract_document(
    document: str,
    data: bytes,
    *,
    max_links: int = DEFAULT_MAX_LINKS_PER_DOC,
    max_url_length: int = DEFAULT_MAX_URL_LENGTH,
    unused_references: bool = False,
    self_links: bool = False,
) -> Extraction:
    """The citations in one document's bytes (``document`` is only a label); the options
    are ``corpus.*`` settings of the same names."""
    if is_pdf(data):
        c = Collector(document, "", max_links=max_links, max_url_length=max_url_length)
        extract_pdf(c, data)
        return _result(c, DocFormat.PDF)
    reason = binary_reason(data)
    if reason is not None:
        c = Collector(document, "", max_links=max_links, max_url_length=max_url_length)
        c.warn(f"{reason}; skipped")
        return _result(c, DocFormat.BINARY)
    text, decode_warning = decode(data)
    c = Collector(
        document,
        text,
        max_links=max_links,
        max_url_length=max_url_length,
        unused_references=unused_references,
        self_links=self_links,
    )
    if decode_warning:
        c.warn(decode_warning)
    fm = read_front_matter(c)
    c.base = fm.self_url
    start, end = fm.body_start, len(text)
    fmt = body_format(text[start : start + 65536])
    self_url = fm.self_url
    if fmt is DocFormat.HTML:
        base, canonical = find_base(c, start, end)
        self_url = self_url or (c.resolve(canonical) if canonical else None)
        c.base = (c.resolve(base) if base else None) or c.base or self_url
        extract_html(c, start, end)
    elif fmt is DocFormat.MARKDOWN:
        extract_markdown(c, start, end)
        c.date_link_titles()
    else:
        extract_text(c, start, end)
    return _result(c, fmt, self_url, fm.access_date)


def _result(
    c: Collector, fmt: DocFormat, self_url: str | None = None, access_date: str | None = None
) -> Extraction:
    return Extraction(fmt, c.citations(), c.warnings, self_url, access_date, c.keys)


def read_capped(path: Path, max_bytes: int) -> tuple[bytes, str | None]:
    """At most ``max_bytes`` of a file, and a warning if it was longer."""
    with path.open("rb") as fh:
        data = fh.read(max_bytes + 1)
    if len(data) > max_bytes:
        return data[:max_bytes], f"larger than {max_bytes} bytes; only the first {max_bytes} read"
    return data, None


def iter_corpus_files(settings: Settings) -> Iterator[Path]:
    """Files matching ``corpus.paths`` and not ``corpus.exclude``, sorted, each once.

    Paths and globs are relative to the config file's directory. A pattern whose fixed
    part (the folder before the first wildcard) does not exist is a ``CorpusError``.
    Hidden files and folders (``.git``, ...) are skipped inside folders and globs, and
    links to folders are not followed (as ``glob`` would: a link back up loops for ever).
    """
    excluded: set[str] = set()
    for pattern in settings.corpus.exclude:
        full = str(settings.resolve(pattern))
        excluded.update(os.path.normpath(p) for p in glob.iglob(full, recursive=True))
    seen: set[str] = set()
    for pattern in settings.corpus.paths:
        for path in _expand(settings.resolve(pattern)):
            key = os.path.normpath(path)
            if key in seen or key in excluded or _under(key, excluded):
                continue
            seen.add(key)
            yield path


def _under(path: str, excluded: set[str]) -> bool:
    parent = os.path.dirname(path)
    while parent and parent not in excluded:
        up = os.path.dirname(parent)
        if up == parent:
            return False
        parent = up
    return bool(parent)


def _expand(full: Path) -> Iterator[Path]:
    text = str(full)
    if not glob.has_magic(text):
        if full.is_file():
            yield full
        elif full.is_dir():
            yield from walk_files(full)
        else:
            raise CorpusError(f"corpus path {full} does not exist; fix corpus.paths")
        return
    fixed_parts = _fixed_parts(full)
    fixed = Path(*fixed_parts) if fixed_parts else Path(".")
    if not fixed.is_dir():
        raise CorpusError(f"corpus folder {fixed} does not exist; fix corpus.paths ({full})")
    wild = full.parts[len(fixed_parts) :]
    depth = None if "**" in wild else len(wild) - 1
    found = [
        path
        for path in walk_files(fixed, depth=depth)
        if _matches(wild, path.relative_to(fixed).parts)
    ]
    yield from sorted(found, key=str)


def _matches(pattern: tuple[str, ...], parts: tuple[str, ...]) -> bool:
    """Whether path ``parts`` match glob ``pattern`` parts (``**``: any number of folders)."""
    if not pattern:
        return not parts
    if pattern[0] == "**":
        return any(_matches(pattern[1:], parts[i:]) for i in range(len(parts) + 1))
    return bool(parts) and fnmatchcase(parts[0], pattern[0]) and _matches(pattern[1:], parts[1:])


def _fixed_parts(full: Path) -> list[str]:
    parts: list[str] = []
    for part in full.parts:
        if glob.has_magic(part):
            break
        parts.append(part)
    return parts


def walk_files(root: Path, *, depth: int | None = None) -> Iterator[Path]:
    """Every regular, non-hidden file under ``root`` (at most ``depth`` folders down),
    sorted per folder. Links to folders are not followed (a link back up would loop)."""
    base = len(root.parts)
    for dirpath, dirnames, filenames in os.walk(root):
        if depth is not None and len(Path(dirpath).parts) - base >= depth:
            dirnames[:] = []
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if not name.startswith("."):
                yield Path(dirpath) / name


__all__ = [
    "EXTRACTOR_VERSION",
    "Extraction",
    "extract_document",
    "iter_corpus_files",
    "read_capped",
    "walk_files",
]
