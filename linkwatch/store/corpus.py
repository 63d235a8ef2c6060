"""Documents and citations: recording what a scan extracted (issue 2).

One ``links`` row per canonical URL (invalid URLs: one row per raw text, with
``invalid_reason`` and state ``invalid``; URLs of a scheme never requested, such as
``mailto:``, one row per URL as written, born with outcome ``skipped_scheme``). A citation
is identified within its document by (link, source, occurrence); when a document stops
citing it, ``ended_at`` is set and the row stays as history. A document that disappears
gets ``removed_at`` and its citations end.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from linkwatch.model import ExtractWarning
from linkwatch.store.core import StoreCore


def warnings_json(warnings: Sequence[ExtractWarning]) -> str:
    """``documents.warnings``: a JSON list of ``{"message", "line"}`` (read by
    ``warnings_of``)."""
    return json.dumps(
        [{"message": w.message, "line": w.line} for w in warnings], ensure_ascii=False
    )


def warnings_of(path: str, raw: str | None) -> tuple[ExtractWarning, ...]:
    """``documents.warnings`` (a JSON list of ``{"message", "line"}``) as records; text
    that is not such a list is kept as one warning rather than lost."""
    try:
        value = json.loads(raw or "[]")
    except ValueError:
        return (ExtractWarning(path, str(raw)),)
    if not isinstance(value, list):
        return (ExtractWarning(path, str(value)),)
    return tuple(
        ExtractWarning(path, str(w.get("message", w)), w.get("line"))
        if isinstance(w, dict)
        else ExtractWarning(path, str(w))
        for w in value
    )


@dataclass(frozen=True, slots=True)
class CitationRecord:
    """One citation as the store keeps it (link key already canonical or invalid)."""

    link: str
    host: str
    line: int
    col: int
    text: str
    source: str
    raw_url: str
    fragment: str = ""
    invalid_reason: str | None = None
    archived_copy: str | None = None
    #: the scheme of a URL cited but never requested (``mailto``, ``tel``, ``data``, ...)
    skipped_scheme: str | None = None
    #: the day the document says this source was seen, and the day git says the URL was
    #: first committed to the file (``YYYY-MM-DD``; see ``ACCESS_DATE``)
    stated_date: str | None = None
    git_date: str | None = None


#: a citation's access date, by the first source that has one: the date the document
#: states for it, the document's own date, the first git commit adding it, first seen
#: (SQL over ``citations c JOIN documents d``)
ACCESS_DATE = "COALESCE(c.stated_date, d.access_date, c.git_date, c.first_seen_at)"
ACCESS_SOURCE = (
    "CASE WHEN c.stated_date IS NOT NULL THEN 'stated in the citation' "
    "WHEN d.access_date IS NOT NULL THEN 'the document''s date' "
    "WHEN c.git_date IS NOT NULL THEN 'first git commit' ELSE 'first seen by linkwatch' END"
)


@dataclass(frozen=True)
class DocumentRecord:
    """A scanned document and everything it cites now."""

    path: str
    size: int
    mtime: float
    content_hash: str
    format: str
    self_url: str | None = None
    access_date: str | None = None
    warnings: list[ExtractWarning] = field(default_factory=list)
    citations: list[CitationRecord] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class DocumentState:
    id: int
    size: int | None
    mtime: float | None
    content_hash: str | None
    removed: bool


@dataclass
class RecordCounts:
    citations_added: int = 0
    citations_ended: int = 0
    links_new: int = 0
    links_invalid: int = 0

    def add(self, other: RecordCounts) -> None:
        self.citations_added += other.citations_added
        self.citations_ended += other.citations_ended
        self.links_new += other.links_new
        self.links_invalid += other.links_invalid


class CorpusStore(StoreCore):
    def document_states(self) -> dict[str, DocumentState]:
        """Every known document by path (one query; a rescan compares against this)."""
        rows = self.conn.execute(
            "SELECT path, id, size, mtime, content_hash, removed_at FROM documents"
        )
        return {
            path: DocumentState(id_, size, mtime, digest, removed is not None)
            for path, id_, size, mtime, digest, removed in rows
        }

    def touch_document(self, path: str, size: int, mtime: float) -> None:
        """The file's time or size changed but its content did not."""
        with self.write():
            self.conn.execute(
                "UPDATE documents SET size = ?, mtime = ? WHERE path = ?", [size, mtime, path]
            )

    def record_documents(self, docs: list[DocumentRecord]) -> RecordCounts:
        """Store a batch of scanned documents in one short write transaction."""
        counts = RecordCounts()
        now = self.now()
        with self.write():
            for doc in docs:
                counts.add(self._record_document(doc, now))
        return counts

    def remove_documents(self, paths: list[str]) -> int:
        """Mark documents as gone and end their citations; returns citations ended."""
        now, ended = self.now(), 0
        with self.write():
            for path in paths:
                doc_id = self.scalar(
                    "SELECT id FROM documents WHERE path = ? AND removed_at IS NULL", [path]
                )
                if doc_id is None:
                    continue
                self.conn.execute("UPDATE documents SET removed_at = ? WHERE id = ?", [now, doc_id])
                ended += self.conn.execute(
                    "UPDATE citations SET ended_at = ? WHERE document_id = ? AND ended_at IS NULL",
                    [now, doc_id],
                ).rowcount
        return ended

    def _upsert_document(self, doc: DocumentRecord, now: str) -> int:
        warnings = warnings_json(doc.warnings)
        row = self.conn.execute(
            """
            INSERT INTO documents (path, content_hash, size, mtime, format, front_matter_url,
                access_date, first_scanned_at, last_scanned_at, warnings, removed_at)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL)
            ON CONFLICT(path) DO UPDATE SET content_hash = excluded.content_hash,
                size = excluded.size, mtime = excluded.mtime, format = excluded.format,
                front_matter_url = excluded.front_matter_url,
                access_date = excluded.access_date, last_scanned_at = excluded.last_scanned_at,
                warnings = excluded.warnings, removed_at = NULL
            RETURNING id
            """,
            [
                doc.path,
                doc.content_hash,
                doc.size,
                doc.mtime,
                doc.format,
                doc.self_url,
                doc.access_date,
                now,
                now,
                warnings,
            ],
        ).fetchone()
        return int(row[0])

    def _link_ids(self, doc: DocumentRecord, now: str, counts: RecordCounts) -> dict[str, int]:
        links: dict[str, CitationRecord] = {}
        for c in doc.citations:
            links.setdefault(c.link, c)
        for invalid in (False, True):
            rows = [
                (c.link, c.host, now, c.invalid_reason, "invalid" if invalid else "new", now)
                for c in links.values()
                if (c.invalid_reason is not None) is invalid
            ]
            cur = self.conn.executemany(
                """INSERT INTO links (url, host, first_seen_at, invalid_reason, state,
                    state_since) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(url) DO NOTHING""",
                rows,
            )
            added = max(cur.rowcount, 0)
            counts.links_new += added
            counts.links_invalid += added if invalid else 0
        self.conn.executemany(  # cited, never requested: said so from the first scan
            """UPDATE links SET last_outcome = 'skipped_scheme', last_checked_at = ?,
                last_error = ? WHERE url = ? AND coalesce(last_outcome, '') != 'skipped_scheme'""",
            [
                (now, f"a {c.skipped_scheme}: link, never requested", c.link)
                for c in links.values()
                if c.skipped_scheme is not None
            ],
        )
        ids: dict[str, int] = {}
        keys = list(links)
        for i in range(0, len(keys), 500):
            chunk = keys[i : i + 500]
            marks = ",".join("?" * len(chunk))
            for id_, url in self.conn.execute(
                f"SELECT id, url FROM links WHERE url IN ({marks})",  # noqa: S608
                chunk,
            ):
                ids[url] = id_
        copies = {(c.archived_copy, ids[c.link]) for c in doc.citations if c.archived_copy}
        self.conn.executemany(
            "UPDATE links SET archived_copy = ? WHERE id = ? "
            "AND (archived_copy IS NULL OR archived_copy != ?)",
            [(copy, id_, copy) for copy, id_ in sorted(copies)],
        )
        return ids

    def _record_document(self, doc: DocumentRecord, now: str) -> RecordCounts:
        counts = RecordCounts()
        doc_id = self._upsert_document(doc, now)
        ids = self._link_ids(doc, now, counts)
        old = {
            (link_id, source, occ): (cid, (line, col, text, raw, frag, stated), git)
            for cid, link_id, source, occ, line, col, text, raw, frag, stated, git in (
                self.conn.execute(
                    """SELECT id, link_id, source, occurrence, line, col, text, raw_url,
                    fragment, stated_date, git_date FROM citations
                    WHERE document_id = ? AND ended_at IS NULL""",
                    [doc_id],
                )
            )
        }
        seen: Counter[tuple[int, str]] = Counter()
        inserts, updates = [], []
        for c in doc.citations:
            link_id = ids[c.link]
            occurrence = seen[(link_id, c.source)]
            seen[(link_id, c.source)] += 1
            values = (c.line, c.col, c.text, c.raw_url, c.fragment, c.stated_date)
            prior = old.pop((link_id, c.source, occurrence), None)
            if prior is None:
                inserts.append(
                    (doc_id, link_id, occurrence, *values, c.git_date, c.source, now, now)
                )
            elif prior[1] != values or (prior[2] is None and c.git_date):
                # a git date, once found, is kept (the history behind it does not change)
                updates.append((*values, prior[2] or c.git_date, now, prior[0]))
        self.conn.executemany(
            """INSERT INTO citations (document_id, link_id, occurrence, line, col, text, raw_url,
                fragment, stated_date, git_date, source, first_seen_at, last_seen_at)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
            inserts,
        )
        self.conn.executemany(
            """UPDATE citations SET line = ?, col = ?, text = ?, raw_url = ?, fragment = ?,
                stated_date = ?, git_date = ?, last_seen_at = ? WHERE id = ?""",
            updates,
        )
        self.conn.executemany(
            "UPDATE citations SET ended_at = ? WHERE id = ?",
            [(now, cid) for cid, _values, _git in old.values()],
        )
        counts.citations_added = len(inserts)
        counts.citations_ended = len(old)
        return counts

    def links_in_states(self, states: Sequence[str], drift_below: float) -> int:
        """Cited links (not acknowledged) in any of ``states`` (``drifted``: alive but
        less alike than ``drift_below``)."""
        plain = [s for s in states if s != "drifted"]
        marks = ",".join("?" * len(plain)) or "NULL"
        drifted = "drifted" in states
        return int(
            self.scalar(
                f"SELECT count(*) FROM links l WHERE (l.state IN ({marks}) "  # noqa: S608
                "OR (? = 1 AND l.state = 'alive' AND l.similarity < ?)) AND l.ack_at IS NULL "
                "AND EXISTS (SELECT 1 FROM citations c WHERE c.link_id = l.id "
                "AND c.ended_at IS NULL)",
                [*plain, int(drifted), drift_below],
            )
            or 0
        )

    def acknowledge(self, url: str, note: str, at: str, until: str | None) -> bool:
        """Mark the link ``url`` (canonical) acknowledged; False when no such link."""
        with self.write() as db:
            cur = db.execute(
                "UPDATE links SET ack_note = ?, ack_at = ?, ack_until = ? WHERE url = ?",
                [note, at, until, url],
            )
        return int(cur.rowcount) > 0

    def unacknowledge(self, url: str) -> bool:
        with self.write() as db:
            cur = db.execute(
                "UPDATE links SET ack_note = NULL, ack_at = NULL, ack_until = NULL "
                "WHERE url = ? AND ack_at IS NOT NULL",
                [url],
            )
        return int(cur.rowcount) > 0
