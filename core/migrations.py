"""The schema of state.db as append-only, numbered migrations.

Never edit or reorder a migration that has shipped: add a new one. The queue is user data, so a
copy of the database is taken before any migration runs, and each runs in its own transaction.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from pathlib import Path

from upqueue.core.paths import BACKUP_DIR, private_dir, private_file

log = logging.getLogger(__name__)


_M001_INITIAL = """
        CREATE TABLE targets (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL UNIQUE,
            protocol TEXT NOT NULL DEFAULT 'tus',
            url TEXT NOT NULL,
            headers TEXT NOT NULL DEFAULT '{}',      -- JSON, non-secret headers only
            auth_kind TEXT NOT NULL DEFAULT 'none',  -- none | basic | bearer | header
            username TEXT,                           -- basic auth user; the password is in the keyring
            auth_header TEXT,                        -- header name for auth_kind=header; value in the keyring
            chunk_size INTEGER,                      -- NULL: the global setting
            options TEXT NOT NULL DEFAULT '{}',      -- JSON
            created_at TEXT NOT NULL
        );
        CREATE TABLE uploads (
            id INTEGER PRIMARY KEY,
            target_id INTEGER NOT NULL REFERENCES targets(id),
            path TEXT NOT NULL,
            name TEXT NOT NULL,
            size INTEGER NOT NULL,
            mtime_ns INTEGER NOT NULL,
            inode INTEGER NOT NULL,
            status TEXT NOT NULL,
            "offset" INTEGER NOT NULL DEFAULT 0,
            speed REAL NOT NULL DEFAULT 0,
            remote_url TEXT,
            remote_expires TEXT,
            error_title TEXT,
            error_message TEXT,
            attempts INTEGER NOT NULL DEFAULT 0,
            next_attempt_at REAL,
            lease_owner TEXT,
            lease_expires REAL,
            created_at TEXT NOT NULL,
            started_at TEXT,
            finished_at TEXT,
            paused_at REAL,
            updated_at TEXT NOT NULL,
            change_seq INTEGER NOT NULL DEFAULT 0,
            batch_id INTEGER,
            watch_id INTEGER,
            sha256 TEXT
        );
        CREATE INDEX uploads_status ON uploads(status);
        CREATE INDEX uploads_change_seq ON uploads(change_seq);
        CREATE INDEX uploads_created_at ON uploads(created_at);
        CREATE INDEX uploads_batch ON uploads(batch_id);
        CREATE TABLE removed_uploads (
            upload_id INTEGER PRIMARY KEY,
            change_seq INTEGER NOT NULL
        );
        CREATE INDEX removed_uploads_seq ON removed_uploads(change_seq);
        CREATE TABLE events (
            id INTEGER PRIMARY KEY,
            at TEXT NOT NULL,
            upload_id INTEGER,
            batch_id INTEGER,
            watch_id INTEGER,
            kind TEXT NOT NULL,
            status TEXT,
            title TEXT,
            message TEXT
        );
        CREATE INDEX events_upload ON events(upload_id);
        CREATE INDEX events_at ON events(at);
        CREATE TABLE settings (
            key TEXT PRIMARY KEY,
            value TEXT NOT NULL                      -- JSON
        );
        CREATE TABLE meta (
            key TEXT PRIMARY KEY,
            value TEXT NOT NULL
        );
"""

_M002_WATCHES = """
        CREATE TABLE watches (
            id INTEGER PRIMARY KEY,
            path TEXT NOT NULL,
            target_id INTEGER NOT NULL REFERENCES targets(id),
            recursive INTEGER NOT NULL DEFAULT 0,
            include TEXT NOT NULL DEFAULT '[]',       -- JSON list of globs
            exclude TEXT NOT NULL DEFAULT '[]',       -- JSON list of globs (added to the defaults)
            settle_seconds REAL NOT NULL DEFAULT 3,
            after_upload TEXT NOT NULL DEFAULT 'keep', -- keep | delete | move
            move_to TEXT,
            polling INTEGER NOT NULL DEFAULT 0,
            paused INTEGER NOT NULL DEFAULT 0,
            state TEXT NOT NULL DEFAULT 'starting',   -- starting | watching | unavailable | paused
            state_message TEXT,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            change_seq INTEGER NOT NULL DEFAULT 0
        );
        CREATE TABLE batches (
            id INTEGER PRIMARY KEY,
            watch_id INTEGER,
            state TEXT NOT NULL DEFAULT 'open',       -- open | finished | finished_with_failures
            total INTEGER NOT NULL DEFAULT 0,
            done INTEGER NOT NULL DEFAULT 0,
            failed INTEGER NOT NULL DEFAULT 0,
            created_at TEXT NOT NULL,
            finished_at TEXT,
            manifest_path TEXT,
            change_seq INTEGER NOT NULL DEFAULT 0
        );
        CREATE INDEX batches_watch ON batches(watch_id);
        CREATE TABLE seen_files (
            watch_id INTEGER NOT NULL,
            path TEXT NOT NULL,
            size INTEGER NOT NULL,
            mtime_ns INTEGER NOT NULL,
            inode INTEGER NOT NULL,
            upload_id INTEGER,
            at TEXT NOT NULL,
            PRIMARY KEY (watch_id, path)
        );
"""

# Files a watched folder's round could not queue at all (add_uploads rejected them): they count
# as failures of their batch and appear in its manifest, though no upload row exists for them.
_M003_BATCH_REJECTS = """
        CREATE TABLE batch_rejects (
            id INTEGER PRIMARY KEY,
            batch_id INTEGER NOT NULL,
            path TEXT NOT NULL,
            size INTEGER,
            title TEXT NOT NULL,
            message TEXT NOT NULL,
            at TEXT NOT NULL
        );
        CREATE INDEX batch_rejects_batch ON batch_rejects(batch_id);
"""

# Faults (issue 13). ctime_ns: the file's change time when queued, part of its fingerprint.
# confirmed_offset: the highest offset the server confirmed for the current remote upload, so
# only bytes the server stored count as progress that resets the retry count. all_sent: every
# byte of the current remote upload was handed to the server, recorded before its answer, so a
# HEAD answered 400/404 after a crash reads as done-but-unconfirmed rather than "start over".
_M004_FAULTS = """
        ALTER TABLE uploads ADD COLUMN ctime_ns INTEGER;
        ALTER TABLE uploads ADD COLUMN confirmed_offset INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE uploads ADD COLUMN all_sent INTEGER NOT NULL DEFAULT 0;
"""

# Ids are never reused (an upload removed from the list must not lend its id, and with it its
# history, to the next one): the last id handed out per table, seeded from what exists, removed
# uploads included. A target removed with "keep the history" stays as a row marked removed, so
# that its finished uploads keep their target.
_M005_ID_COUNTERS = """
        CREATE TABLE id_counters (
            name TEXT PRIMARY KEY,
            last_id INTEGER NOT NULL
        );
        INSERT INTO id_counters (name, last_id) SELECT 'uploads', coalesce(max(n), 0) FROM (
            SELECT max(id) AS n FROM uploads UNION ALL
            SELECT max(upload_id) FROM removed_uploads UNION ALL
            SELECT max(upload_id) FROM events);
        INSERT INTO id_counters (name, last_id) SELECT 'targets', coalesce(max(id), 0) FROM targets;
        ALTER TABLE targets ADD COLUMN removed_at TEXT;
"""

# Transports (issue 8): each upload's remote state belongs to its protocol, as JSON; the tus URL,
# expiry and all_sent flag move into it (the old columns keep their data, no longer written).
# Where a person finds the upload on the server is result_url. The processing stage's progress and
# message. A dataset's member files (a shapefile and its sidecars), the primary at position 0.
_M006_TRANSPORTS = """
        ALTER TABLE uploads ADD COLUMN remote_state TEXT;        -- JSON, the protocol's own
        ALTER TABLE uploads ADD COLUMN result_url TEXT;
        ALTER TABLE uploads ADD COLUMN processing_progress REAL; -- 0-100, NULL: none given
        ALTER TABLE uploads ADD COLUMN processing_message TEXT;
        UPDATE uploads
           SET remote_state = json_object('protocol', 'tus', 'url', remote_url,
                                          'expires', remote_expires, 'all_sent',
                                          json(CASE WHEN all_sent THEN 'true' ELSE 'false' END)),
               result_url = remote_url
         WHERE remote_url IS NOT NULL;
        CREATE TABLE upload_members (
            upload_id INTEGER NOT NULL,
            position INTEGER NOT NULL,
            path TEXT NOT NULL,
            name TEXT NOT NULL,
            size INTEGER NOT NULL,
            mtime_ns INTEGER NOT NULL,
            inode INTEGER NOT NULL,
            ctime_ns INTEGER,
            role TEXT NOT NULL DEFAULT 'member',     -- primary | member
            PRIMARY KEY (upload_id, position)
        );
"""

# Each entry is one SQL script; its position + 1 is the schema version it produces.
MIGRATIONS: list[str] = [
    _M001_INITIAL, _M002_WATCHES, _M003_BATCH_REJECTS, _M004_FAULTS, _M005_ID_COUNTERS,
    _M006_TRANSPORTS,
]


def apply(conn: sqlite3.Connection, db_path: Path) -> int:
    """Bring the database to the newest version; return that version.

    The version lives in ``PRAGMA user_version``. Before the first pending migration the
    database is copied (SQLite's online backup) to ``backups/state-v<N>-<time>.db`` beside it.
    """
    current = int(conn.execute("PRAGMA user_version").fetchone()[0])
    target = len(MIGRATIONS)
    if current > target:
        raise RuntimeError(
            f"state.db is at schema version {current}, newer than this upqueue ({target}). "
            "Install the newer upqueue again, or move the data directory aside."
        )
    if current == target:
        return current
    if current > 0:
        backup_dir = private_dir(db_path.parent / BACKUP_DIR)
        copy_path = private_file(backup_dir / f"state-v{current}-{time.strftime('%Y%m%d-%H%M%S')}.db")
        with sqlite3.connect(copy_path) as copy:
            conn.backup(copy)
        log.info("backed up state.db to %s before migrating", copy_path)
    for version in range(current, target):
        # executescript() commits any open transaction first, so the script carries its own.
        script = f"BEGIN IMMEDIATE;\n{MIGRATIONS[version]}\nPRAGMA user_version = {version + 1};\nCOMMIT;"
        try:
            conn.executescript(script)
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        log.info("migrated state.db to version %d", version + 1)
    return target
