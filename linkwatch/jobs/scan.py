"""``scan_corpus``: extract the configured corpus into the store, re-reading only what changed.

A document is unchanged when its size and mtime match the store (no read at all), or when
its content hash does (only its size/mtime are updated). Changed documents are extracted
(in ``corpus.jobs`` worker processes when that is above 1 and there are many) and written in
batches of at most ``BATCH_DOCUMENTS`` documents, each its own short write transaction; no
transaction is held while files are read. ``stop`` set: the document in hand is finished,
the batch committed, and the scan returns.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
import time
from collections.abc import Callable, Generator, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from datetime import date, datetime
from multiprocessing import get_all_start_methods, get_context
from pathlib import Path
from typing import Any

from linkwatch.config import CorpusSettings, Settings
from linkwatch.errors import CorpusError
from linkwatch.extract import (
    EXTRACTOR_VERSION,
    Extraction,
    extract_document,
    iter_corpus_files,
    read_capped,
)
from linkwatch.extract.collect import link_key
from linkwatch.jobs.gitdates import first_added
from linkwatch.model import DocFormat, ExtractWarning
from linkwatch.store import Store
from linkwatch.store.corpus import CitationRecord, DocumentRecord, DocumentState
from linkwatch.urls import archived_original, cited_scheme, fragment_of, host_of, scheme_key

EARLIEST_ACCESS = date(2001, 1, 1)  # the Wayback Machine opened to the public in 2001

log = logging.getLogger(__name__)

BATCH_DOCUMENTS = 200
BATCH_CITATIONS = 5000
PARALLEL_MIN_DOCUMENTS = 400
MAX_WORKERS = 4
MAX_INVALID_KEY_CHARS = 2048
WARNING_SAMPLES = 20
VERSION_META_KEY = "extract.version"


@dataclass
class ScanSummary:
    documents_seen: int = 0
    documents_changed: int = 0
    documents_unchanged: int = 0
    documents_removed: int = 0
    citations_added: int = 0
    citations_ended: int = 0
    links_new: int = 0
    links_invalid: int = 0
    warnings: int = 0
    elapsed_s: float = 0.0
    stopped: bool = False
    warning_samples: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class _Task:
    path: str
    label: str
    previous_hash: str | None
    corpus: CorpusSettings  # the caps and extraction options
    known: bool = False  # the store has the document's citations from an earlier scan
    git_dates: bool = False  # look up when each URL was first committed to the file


@dataclass(frozen=True)
class _Scanned:
    label: str
    size: int
    mtime: float
    content_hash: str
    extraction: Extraction | None  # None: content unchanged (or unreadable, see below)
    unreadable: ExtractWarning | None = None  # a known document kept as it was
    git_dates: dict[str, str] = field(default_factory=dict)  # raw URL -> first committed


def document_label(path: Path | str, base_dir: str) -> str:
    """The path stored for a document: relative to the config's folder when inside it."""
    full = os.path.abspath(path)
    base = os.path.abspath(base_dir)
    if full.startswith(base + os.sep):
        return full[len(base) + 1 :].replace(os.sep, "/")
    return full.replace(os.sep, "/")


def _scan_one(task: _Task) -> _Scanned:
    """Read, hash and (if the hash changed) extract one file. Runs in worker processes."""
    path = Path(task.path)
    try:
        st = path.stat()
        data, too_big = read_capped(path, task.corpus.max_file_bytes)
    except OSError as exc:
        warning = ExtractWarning(task.label, f"cannot read: {exc.strerror or exc}")
        if task.known:  # a passing read error must not end every citation it has
            return _Scanned(task.label, 0, 0.0, "", None, warning)
        return _Scanned(task.label, 0, 0.0, "", Extraction(DocFormat.BINARY, warnings=[warning]))
    digest = hashlib.sha256(data).hexdigest()
    if digest == task.previous_hash:
        return _Scanned(task.label, st.st_size, st.st_mtime, digest, None)
    result = extract_document(
        task.label,
        data,
        max_links=task.corpus.max_links_per_doc,
        max_url_length=task.corpus.max_url_length,
        unused_references=task.corpus.unused_references,
        self_links=task.corpus.self_links,
    )
    if too_big:
        result.warnings.insert(0, ExtractWarning(task.label, too_big))
    dated: dict[str, str] = {}
    if task.git_dates and result.citations:
        dated = first_added(path, {c.raw for c in result.citations if c.accessed is None})
    return _Scanned(task.label, st.st_size, st.st_mtime, digest, result, git_dates=dated)


def _invalid_key(raw: str) -> str:
    if len(raw) <= MAX_INVALID_KEY_CHARS:
        return raw
    digest = hashlib.sha256(raw.encode("utf-8", "surrogatepass")).hexdigest()[:16]
    return f"{raw[:MAX_INVALID_KEY_CHARS]}…#{digest}"


def citation_records(extraction: Extraction, max_url_length: int) -> list[CitationRecord]:
    """Citations keyed by their link: canonical URL, the original of an archived copy, the
    URL as written for a scheme never requested (``mailto:``, ...), or the raw text of an
    invalid URL."""
    out: list[CitationRecord] = []
    links: dict[str, tuple[str | None, str | None, str | None]] = {}
    for c in extraction.citations:
        if c.url not in links:
            links[c.url] = _link_of(c.url, extraction, max_url_length)
        key, reason, copy = links[c.url]
        scheme = cited_scheme(c.url) if key is None and reason is None else None
        if scheme is not None:
            out.append(
                CitationRecord(
                    scheme_key(c.url),
                    "",
                    c.line,
                    c.column,
                    c.text,
                    c.source,
                    c.raw,
                    skipped_scheme=scheme,
                )
            )
        elif key is None:
            out.append(
                CitationRecord(
                    _invalid_key(c.raw or c.url),
                    "",
                    c.line,
                    c.column,
                    c.text,
                    c.source,
                    c.raw,
                    fragment_of(c.url),
                    reason or "invalid URL",
                )
            )
        else:
            out.append(
                CitationRecord(
                    key,
                    host_of(key),
                    c.line,
                    c.column,
                    c.text,
                    c.source,
                    c.raw,
                    fragment_of(c.url),
                    None,
                    copy,
                )
            )
    return out


def _link_of(
    url: str, extraction: Extraction, max_url_length: int
) -> tuple[str | None, str | None, str | None]:
    """(link key, invalid reason, archived copy) for one cited URL."""
    found = extraction.keys.get(url)
    if found is None:
        found = (None, None) if cited_scheme(url) else link_key(url, max_url_length)
    key, reason = found
    if key is not None:
        archived = archived_original(url)
        if archived is not None:
            original, _ = link_key(archived[0], max_url_length)
            if original is not None:
                return original, None, url
    return key, reason, None


def access_date(text: str | None, now: datetime) -> str | None:
    """``text`` as a date (``YYYY-MM-DD``) when it can be a day a source was cited: not
    before 2001 (the Wayback Machine's first public year) and not in the future."""
    if not text or len(text) < 10:
        return None
    try:
        day = date.fromisoformat(text[:10])
    except ValueError:
        return None
    return day.isoformat() if EARLIEST_ACCESS <= day <= now.date() else None


def _record(
    scanned: _Scanned, extraction: Extraction, max_url_length: int, now: datetime
) -> DocumentRecord:
    return DocumentRecord(
        path=scanned.label,
        size=scanned.size,
        mtime=scanned.mtime,
        content_hash=scanned.content_hash,
        format=str(extraction.format),
        self_url=extraction.self_url,
        access_date=access_date(extraction.access_date, now),
        warnings=list(extraction.warnings),
        citations=[
            replace(
                r,
                stated_date=access_date(c.accessed, now),
                git_date=access_date(scanned.git_dates.get(c.raw), now),
            )
            for c, r in zip(
                extraction.citations, citation_records(extraction, max_url_length), strict=True
            )
        ],
    )


def _workers(jobs: int, count: int) -> int:
    """Worker processes to use: ``corpus.jobs`` for many documents, capped by the CPUs.

    Workers are forked, so only from a single-threaded process (a fork while another
    thread holds a lock can deadlock); otherwise extraction runs in-process.
    """
    if jobs <= 1 or count < PARALLEL_MIN_DOCUMENTS or threading.active_count() > 1:
        return 1
    if "fork" not in get_all_start_methods():
        return 1
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, min(jobs, MAX_WORKERS, cpus or 1))


def _run_tasks(tasks: list[_Task], workers: int) -> Generator[_Scanned, None, None]:
    if workers <= 1:
        yield from map(_scan_one, tasks)
        return
    method = "fork" if threading.active_count() == 1 else "spawn"
    with ProcessPoolExecutor(workers, mp_context=get_context(method)) as pool:
        results = pool.map(_scan_one, tasks, chunksize=256)
        try:
            yield from results
        finally:
            pool.shutdown(wait=True, cancel_futures=True)


def extract_paths(
    items: list[tuple[Path, str]], settings: Settings, *, workers: int | None = None
) -> Generator[tuple[str, Extraction], None, None]:
    """Extract files (path, label) in order, in worker processes when there are many."""
    c = settings.corpus
    tasks = [_Task(str(path), label, None, c) for path, label in items]
    if workers is None:
        workers = _workers(c.jobs, len(tasks))
    results = _run_tasks(tasks, workers)
    try:
        for scanned in results:
            assert scanned.extraction is not None  # no previous hash was given
            yield scanned.label, scanned.extraction
    finally:
        results.close()


def _plan(
    settings: Settings,
    files: Iterable[Path],
    known: dict[str, DocumentState],
    force: bool,
    summary: ScanSummary,
) -> tuple[list[_Task], set[str]]:
    tasks: list[_Task] = []
    labels: set[str] = set()
    c = settings.corpus
    for path in files:
        label = document_label(path, settings.base_dir)
        if label in labels:
            continue
        labels.add(label)
        prev = known.get(label)
        if prev is not None and not prev.removed and not force:
            try:
                st = path.stat()
            except OSError:
                st = None
            if st is not None and prev.size == st.st_size and prev.mtime == st.st_mtime:
                summary.documents_unchanged += 1
                continue
        previous_hash = None if prev is None or prev.removed or force else prev.content_hash
        tasks.append(
            _Task(
                str(path),
                label,
                previous_hash,
                c,
                prev is not None and not prev.removed,
                c.git_dates,
            )
        )
    return tasks, labels


def extraction_version(settings: Settings) -> str:
    """The extractor's version and the settings that change what it finds: a change of
    either re-reads every document on the next scan."""
    c = settings.corpus
    options = [name for name in ("unused_references", "self_links") if getattr(c, name)]
    return "+".join([EXTRACTOR_VERSION, *options])


def scan_corpus(
    settings: Settings,
    store: Store,
    *,
    progress: Callable[[int, int], None] | None = None,
    stop: threading.Event | None = None,
    workers: int | None = None,
) -> ScanSummary:
    """Extract the configured corpus into ``store``; only changed documents are read."""
    started = time.monotonic()
    summary = ScanSummary()
    files = list(iter_corpus_files(settings))
    known = store.document_states()
    version = extraction_version(settings)
    force = store.get_meta(VERSION_META_KEY) != version
    tasks, labels = _plan(settings, files, known, force, summary)
    summary.documents_seen = len(labels)
    gone = sorted(p for p, d in known.items() if not d.removed and p not in labels)
    if gone and not labels:
        raise CorpusError(
            f"the corpus ({', '.join(settings.corpus.paths)}) holds no documents now, but "
            f"{len(gone)} were known: is its disk mounted? Nothing was changed; to retire "
            "them all, point corpus.paths elsewhere or delete the state database"
        )
    if gone:
        summary.citations_ended += store.remove_documents(gone)
        summary.documents_removed = len(gone)
    total = len(labels)
    done = summary.documents_unchanged
    if progress:
        progress(done, total)
    if workers is None:
        workers = _workers(settings.corpus.jobs, len(tasks))
    results = _run_tasks(tasks, workers)
    try:
        _consume(settings, store, results, summary, done, total, progress, stop)
    finally:
        results.close()
    if force and not summary.stopped:
        store.set_meta(VERSION_META_KEY, version)
    summary.elapsed_s = round(time.monotonic() - started, 3)
    return summary


def _consume(
    settings: Settings,
    store: Store,
    results: Iterator[_Scanned],
    summary: ScanSummary,
    done: int,
    total: int,
    progress: Callable[[int, int], None] | None,
    stop: threading.Event | None,
) -> None:
    batch: list[DocumentRecord] = []
    pending = 0
    for scanned in results:
        done += 1
        if scanned.unreadable is not None:
            _note_warnings(summary, [scanned.unreadable])  # read again on the next scan
        elif scanned.extraction is None:
            store.touch_document(scanned.label, scanned.size, scanned.mtime)
            summary.documents_unchanged += 1
        else:
            record = _record(
                scanned, scanned.extraction, settings.corpus.max_url_length, store.clock()
            )
            _note_warnings(summary, scanned.extraction.warnings)
            batch.append(record)
            pending += len(record.citations)
            summary.documents_changed += 1
        if len(batch) >= BATCH_DOCUMENTS or pending >= BATCH_CITATIONS:
            _flush(store, batch, summary)
            batch, pending = [], 0
        if progress:
            progress(done, total)
        if stop is not None and stop.is_set():
            summary.stopped = True
            break
    _flush(store, batch, summary)


def _note_warnings(summary: ScanSummary, warnings: list[ExtractWarning]) -> None:
    for w in warnings:
        summary.warnings += 1
        where = f"{w.document}:{w.line}" if w.line else w.document
        log.info("%s: %s", where, w.message)
        if len(summary.warning_samples) < WARNING_SAMPLES:
            summary.warning_samples.append(f"{where}: {w.message}")


def _flush(store: Store, batch: list[DocumentRecord], summary: ScanSummary) -> None:
    if not batch:
        return
    counts = store.record_documents(batch)
    summary.citations_added += counts.citations_added
    summary.citations_ended += counts.citations_ended
    summary.links_new += counts.links_new
    summary.links_invalid += counts.links_invalid
