"""The fix job: the citations the store says need a repair, the document files as they
are, ``repair.propose`` in between; a unified diff for review, or the files rewritten.

A file is rewritten only when it is exactly what the last scan read (its SHA-256 matches
the store's); the write is atomic (a temporary file beside it, fsync, the original's
permissions, ``os.replace``, fsync of the folder) and followed by a rescan, so the store
knows the new citations (the archived copies now cited beside their originals).
"""

from __future__ import annotations

import difflib
import hashlib
import re
import stat
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from linkwatch.atomic import replace_file
from linkwatch.config import Settings
from linkwatch.errors import CorpusError
from linkwatch.model import LinkState
from linkwatch.repair import Change, Skip, Styles, Target, apply, propose
from linkwatch.store import Store
from linkwatch.store.repair import FixCandidate
from linkwatch.urls import archived_original, host_of

KINDS = ("dead", "drifted", "moved")
_SECOND_LEVEL = frozenset(["co", "com", "org", "net", "gov", "ac", "edu", "or", "ne", "go"])
_LINES = re.compile(r"[^\n]*\n|[^\n]+$")


@dataclass
class DocumentFix:
    document: str  # as stored (relative to the config's folder when inside it)
    path: Path
    content_hash: str = ""  # of the bytes the last scan read
    before: str = ""
    changes: list[Change] = field(default_factory=list)
    skipped: list[Skip] = field(default_factory=list)
    error: str | None = None

    @property
    def after(self) -> str:
        return apply(self.before, self.changes)

    def diff(self) -> str:
        if not self.changes:
            return ""
        lines = difflib.unified_diff(
            _LINES.findall(self.before),
            _LINES.findall(self.after),
            fromfile=f"a/{self.document}",
            tofile=f"b/{self.document}",
        )
        out = []
        for line in lines:
            out.append(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n")
        return "".join(out)


@dataclass
class FixPlan:
    documents: list[DocumentFix]

    @property
    def changes(self) -> int:
        return sum(len(d.changes) for d in self.documents)

    def diff(self) -> str:
        return "".join(d.diff() for d in self.documents)

    def records(self) -> list[dict[str, Any]]:
        """One object per proposed change (``--format json``), then one per citation
        that needs a fix but gets none (``"skipped"``) or a document that cannot be fixed."""
        out: list[dict[str, Any]] = []
        for d in self.documents:
            if d.error:
                out.append({"document": d.document, "error": d.error})
            for c in d.changes:
                line = d.before.count("\n", 0, c.start) + 1
                out.append(
                    {
                        "document": d.document,
                        "line": line,
                        "old": d.before[c.start : c.end] or None,
                        "new": c.new,
                        "kind": c.target.kind,
                        "url": c.target.url,
                        "reason": c.target.reason,
                        "evidence": c.target.evidence,
                        "snapshot": c.target.snapshot,
                        "new_url": c.target.new_url,
                        "access_date": c.target.access_date,
                        "access_source": c.target.access_source,
                    }
                )
            for s in d.skipped:
                out.append(
                    {
                        "document": d.document,
                        "line": s.target.line,
                        "url": s.target.url,
                        "kind": s.target.kind,
                        "skipped": s.why,
                    }
                )
        return out


def _site(host: str) -> str:
    labels = host.lower().removeprefix("www.").split(".")
    if len(labels) >= 3 and len(labels[-1]) == 2 and labels[-2] in _SECOND_LEVEL:
        return ".".join(labels[-3:])
    return ".".join(labels[-2:])


def _target(row: FixCandidate, only: str, drift_below: float) -> Target | None:
    if archived_original(row.raw_url) is not None:
        return None  # the citation is the archived copy itself
    alive = row.state == LinkState.ALIVE
    drifted = alive and row.similarity is not None and row.similarity < drift_below
    if row.state == LinkState.DEAD or drifted:
        kind = "drifted" if drifted else "dead"
        if only not in (kind, "all") or not row.snapshot_url:
            return None
        status = f" (HTTP {row.last_status})" if row.last_status else ""
        reason = (
            f"content drift: the page's text is {row.similarity:.0%} like the one first read"
            if drifted
            else f"dead since {(row.since or '')[:10]}: {row.last_outcome}{status}"
        )
        return Target(
            row.line,
            row.column,
            row.raw_url,
            row.source,
            row.url,
            kind,
            reason=reason,
            evidence=f"{row.snapshot_archive or 'Wayback Machine'} copy of "
            f"{(row.snapshot_timestamp or '')[:8]}; access date {row.access_date[:10]} "
            f"({row.access_source})",
            snapshot=row.snapshot_url,
            snapshot_timestamp=row.snapshot_timestamp,
            access_date=row.access_date[:10],
            access_source=row.access_source,
        )
    if only not in ("moved", "all") or not row.final_url:
        return None
    if _site(host_of(row.final_url)) != _site(host_of(row.url)):
        return None  # moved to another site: a curator decides
    return Target(
        row.line,
        row.column,
        row.raw_url,
        row.source,
        row.url,
        "moved",
        reason="moved permanently (301/308) to a live page on the same site",
        evidence=f"last check redirected to {row.final_url}",
        new_url=row.final_url,
    )


def _path(settings: Settings, document: str) -> Path:
    path = Path(document)
    return path if path.is_absolute() else Path(settings.base_dir) / path


def _read(doc: DocumentFix, content_hash: str) -> bool:
    try:
        data = doc.path.read_bytes()
    except OSError as exc:
        doc.error = f"cannot read: {exc.strerror or exc}"
        return False
    if hashlib.sha256(data).hexdigest() != content_hash:
        doc.error = "changed since the last scan: run `linkwatch scan` first"
        return False
    try:
        doc.before = data.decode("utf-8")
    except UnicodeDecodeError:
        doc.error = "not UTF-8: fix this document by hand"
        return False
    return True


def plan_fixes(
    settings: Settings, store: Store, *, only: str = "all", documents: Sequence[str] = ()
) -> FixPlan:
    """The changes ``fix`` proposes (nothing is written)."""
    styles = Styles(settings.fix.html_style, settings.fix.markdown_style)
    by_doc: dict[str, list[FixCandidate]] = {}
    drift_below = settings.check.drift_below
    for row in store.fix_candidates(documents, drift_below):
        by_doc.setdefault(row.document, []).append(row)
    plan = FixPlan([])
    for document, rows in by_doc.items():
        targets = [t for row in rows if (t := _target(row, only, drift_below)) is not None]
        if not targets or rows[0].format not in ("html", "markdown", "text"):
            continue
        doc = DocumentFix(document, _path(settings, document), rows[0].content_hash)
        plan.documents.append(doc)
        if not _read(doc, rows[0].content_hash):
            continue
        for found in propose(doc.before, rows[0].format, targets, styles):
            if isinstance(found, Change):
                doc.changes.append(found)
            else:
                doc.skipped.append(found)
    return plan


def write_fixes(plan: FixPlan) -> list[str]:
    """Write every document with changes (refused when it changed since it was read);
    returns the documents written. Nothing half-written is ever left behind."""
    written = []
    for doc in plan.documents:
        if not doc.changes or doc.error:
            continue
        data = doc.path.read_bytes()
        if hashlib.sha256(data).hexdigest() != doc.content_hash:  # changed since it was read
            doc.error = "changed since the last scan: run `linkwatch scan` first"
            continue
        _atomic_write(doc.path, doc.after.encode("utf-8"))
        written.append(doc.document)
    return written


def _atomic_write(path: Path, data: bytes) -> None:
    """The document replaced atomically, keeping its permissions."""
    try:
        replace_file(path, data, stat.S_IMODE(path.stat().st_mode))
    except OSError as exc:
        raise CorpusError(f"cannot write {path}: {exc.strerror or exc}") from None
