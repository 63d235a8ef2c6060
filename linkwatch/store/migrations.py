"""The database schema, as sqlite-utils migrations. Append new steps; never edit old ones.

Times are UTC ISO-8601 text (``linkwatch.clock.iso``). Booleans are 0/1 integers.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlite_utils import Database, Migrations

migrations = Migrations("linkwatch")
KNOWN_STEPS: list[str] = []


def step(fn: Callable[[Database], None]) -> Callable[[Database], None]:
    """Register a migration step (in order) and remember its name."""
    KNOWN_STEPS.append(fn.__name__)
    return migrations()(fn)


def _run(db: Database, script: str) -> None:
    # executescript() would COMMIT the surrounding migration transaction: run one by one
    for statement in script.split(";\n"):
        if statement.strip():
            db.execute(statement)


@step
def m001_initial(db: Database) -> None:
    _run(
        db,
        """
        CREATE TABLE documents (
            id INTEGER PRIMARY KEY,
            path TEXT NOT NULL UNIQUE,          -- as found under the corpus paths
            content_hash TEXT,                  -- sha256 of the bytes
            size INTEGER,
            mtime REAL,
            format TEXT,                        -- linkwatch.model.DocFormat
            front_matter_url TEXT,              -- the document's own URL, if named
            access_date TEXT,                   -- front matter date, for snapshot choice
            first_scanned_at TEXT,
            last_scanned_at TEXT,
            warnings TEXT NOT NULL DEFAULT '[]',-- JSON list of extraction warnings
            removed_at TEXT                     -- set when the file disappears
        );

        CREATE TABLE links (
            id INTEGER PRIMARY KEY,
            url TEXT NOT NULL UNIQUE,           -- canonical key (linkwatch.urls.canonicalize)
            host TEXT NOT NULL DEFAULT '',
            first_seen_at TEXT NOT NULL,
            invalid_reason TEXT,                -- set for invalid URLs: never sent anywhere
            archived_copy TEXT,                 -- a citation already points at an archive URL
            state TEXT NOT NULL DEFAULT 'new',  -- linkwatch.model.LinkState
            state_since TEXT,
            strikes INTEGER NOT NULL DEFAULT 0, -- conclusive failures since the last success
            first_strike_at TEXT,
            last_strike_at TEXT,
            failing_since TEXT,
            last_ok_at TEXT,
            last_checked_at TEXT,
            last_outcome TEXT,
            last_status INTEGER,
            last_final_url TEXT,
            last_error TEXT,
            redirect_permanent INTEGER,
            check_interval_s REAL,
            next_check_at TEXT,                 -- due when <= now; NULL means due now
            title TEXT,                         -- fingerprint for content-drift detection
            content_hash TEXT
        );
        CREATE INDEX links_due ON links(next_check_at);
        CREATE INDEX links_host ON links(host);
        CREATE INDEX links_state ON links(state);

        CREATE TABLE citations (
            id INTEGER PRIMARY KEY,
            document_id INTEGER NOT NULL REFERENCES documents(id),
            link_id INTEGER NOT NULL REFERENCES links(id),
            occurrence INTEGER NOT NULL DEFAULT 0, -- nth citation of this link+source in the doc
            line INTEGER NOT NULL,
            col INTEGER NOT NULL DEFAULT 0,
            text TEXT NOT NULL DEFAULT '',      -- anchor text or context
            source TEXT NOT NULL,               -- a@href, img@srcset, frontmatter:link, text, ...
            raw_url TEXT NOT NULL,              -- exactly as written
            fragment TEXT NOT NULL DEFAULT '',
            first_seen_at TEXT NOT NULL,
            last_seen_at TEXT NOT NULL,
            ended_at TEXT                       -- NULL while the document still cites it
        );
        CREATE UNIQUE INDEX citations_key
            ON citations(document_id, link_id, source, occurrence) WHERE ended_at IS NULL;
        CREATE INDEX citations_link ON citations(link_id);

        CREATE TABLE checks (
            id INTEGER PRIMARY KEY,
            link_id INTEGER NOT NULL REFERENCES links(id),
            run_id INTEGER,
            checked_at TEXT NOT NULL,
            outcome TEXT NOT NULL,              -- linkwatch.model.Outcome
            status INTEGER,
            final_url TEXT,
            redirects TEXT NOT NULL DEFAULT '[]', -- JSON list, the chain
            elapsed_ms INTEGER NOT NULL DEFAULT 0,
            error TEXT,
            strike INTEGER NOT NULL DEFAULT 0,  -- counted as a conclusive strike
            network_down INTEGER NOT NULL DEFAULT 0 -- run judged a local outage: not a strike
        );
        CREATE UNIQUE INDEX checks_key ON checks(link_id, checked_at);

        CREATE TABLE state_changes (
            id INTEGER PRIMARY KEY,
            link_id INTEGER NOT NULL REFERENCES links(id),
            at TEXT NOT NULL,
            from_state TEXT,
            to_state TEXT NOT NULL,
            reason TEXT
        );
        CREATE INDEX state_changes_at ON state_changes(at);

        CREATE TABLE hosts (
            host TEXT PRIMARY KEY,
            not_before TEXT,                    -- Retry-After: no request before this
            last_answer_at TEXT,                -- last time the host answered at all
            user_agent TEXT
        );

        CREATE TABLE snapshots (
            id INTEGER PRIMARY KEY,
            link_id INTEGER NOT NULL REFERENCES links(id),
            timestamp TEXT NOT NULL,            -- Wayback 14-digit timestamp
            url TEXT NOT NULL,                  -- replay URL
            status INTEGER,                     -- archived HTTP status, if known
            source TEXT NOT NULL,               -- cdx, availability, spn2, citation
            verified INTEGER NOT NULL DEFAULT 0,
            found_at TEXT NOT NULL
        );
        CREATE UNIQUE INDEX snapshots_key ON snapshots(link_id, timestamp);

        CREATE TABLE archive_queue (
            link_id INTEGER PRIMARY KEY REFERENCES links(id),
            reason TEXT NOT NULL,               -- new, failing, manual
            priority INTEGER NOT NULL DEFAULT 0,-- lower is sooner
            status TEXT NOT NULL DEFAULT 'pending', -- pending, submitted, done, failed
            enqueued_at TEXT NOT NULL,
            attempts INTEGER NOT NULL DEFAULT 0,
            next_attempt_at TEXT,
            job_id TEXT,
            submitted_at TEXT,
            last_error TEXT,
            updated_at TEXT NOT NULL
        );
        CREATE INDEX archive_queue_next ON archive_queue(status, next_attempt_at);

        CREATE TABLE runs (
            id INTEGER PRIMARY KEY,
            job TEXT NOT NULL,                  -- scan, check, archive, report, cycle
            started_at TEXT NOT NULL,
            finished_at TEXT,
            status TEXT NOT NULL DEFAULT 'running', -- running, ok, error, aborted
            summary TEXT NOT NULL DEFAULT '{}',
            error TEXT,
            pid INTEGER
        );
        CREATE INDEX runs_job ON runs(job, started_at);

        CREATE TABLE meta (
            key TEXT PRIMARY KEY,
            value TEXT
        );
        """,
    )


@step
def m002_links_best_snapshot(db: Database) -> None:
    """The snapshot to use instead of a link, chosen by the archive stage (IABot rule)."""
    _run(
        db,
        """
        ALTER TABLE links ADD COLUMN snapshot_url TEXT;
        ALTER TABLE links ADD COLUMN snapshot_timestamp TEXT
        """,
    )


@step
def m003_check_fingerprint_at(db: Database) -> None:
    """When a link's page fingerprint (title, content_hash) was last taken (issue 3)."""
    _run(db, "ALTER TABLE links ADD COLUMN fingerprint_at TEXT")


@step
def m004_links_addresses_and_validators(db: Database) -> None:
    """What the last check connected to (the archive submits only public targets) and the
    page's validators for a conditional GET (issues 10, 11, 17)."""
    _run(
        db,
        """
        ALTER TABLE links ADD COLUMN last_addresses TEXT;
        ALTER TABLE links ADD COLUMN etag TEXT;
        ALTER TABLE links ADD COLUMN last_modified TEXT
        """,
    )


@step
def m005_snapshots_of_other_archives(db: Database) -> None:
    """Snapshots held by other archives (Memento), named; the chosen one's archive on the
    link (issue 11). Two archives may hold copies from the same second."""
    _run(
        db,
        """
        ALTER TABLE snapshots ADD COLUMN archive TEXT NOT NULL DEFAULT 'Wayback Machine';
        ALTER TABLE links ADD COLUMN snapshot_archive TEXT;
        DROP INDEX snapshots_key;
        CREATE UNIQUE INDEX snapshots_key ON snapshots(link_id, archive, timestamp)
        """,
    )


@step
def m006_citation_access_dates(db: Database) -> None:
    """A citation's own date (stated in the document) and the day git says its URL was
    first committed to the file: two links of the access-date chain (issue 15)."""
    _run(
        db,
        """
        ALTER TABLE citations ADD COLUMN stated_date TEXT;
        ALTER TABLE citations ADD COLUMN git_date TEXT
        """,
    )


@step
def m007_links_content_sketch(db: Database) -> None:
    """A SimHash of the page's main text the first time it was read and the latest one,
    and how alike they are: content drift (issue 15)."""
    _run(
        db,
        """
        ALTER TABLE links ADD COLUMN first_sketch TEXT;
        ALTER TABLE links ADD COLUMN sketch TEXT;
        ALTER TABLE links ADD COLUMN similarity REAL
        """,
    )


@step
def m008_links_acknowledged(db: Database) -> None:
    """A finding a curator acknowledged (known dead, gone on purpose): kept out of the
    dead list, shown with its note, until a date or for good (issue 14)."""
    _run(
        db,
        """
        ALTER TABLE links ADD COLUMN ack_note TEXT;
        ALTER TABLE links ADD COLUMN ack_at TEXT;
        ALTER TABLE links ADD COLUMN ack_until TEXT
        """,
    )


@step
def m009_events(db: Database) -> None:
    """What changed, for the notification channels (Atom feed, webhook, command):
    each event once per channel, retried until delivered (issue 14)."""
    _run(
        db,
        """
        CREATE TABLE events (
            id INTEGER PRIMARY KEY,
            kind TEXT NOT NULL,                 -- dead, recovered, drifted, moved, capture_failed
            url TEXT NOT NULL,
            at TEXT NOT NULL,
            detail TEXT NOT NULL DEFAULT '',
            delivered TEXT NOT NULL DEFAULT '{}', -- channel -> when
            attempts INTEGER NOT NULL DEFAULT 0,
            next_attempt_at TEXT,
            last_error TEXT
        );
        CREATE INDEX events_at ON events(at)
        """,
    )
