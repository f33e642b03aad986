"""The embedded index's SQLite schema, versioned with step-by-step migrations.

SQLite is the durable truth; the NumPy arrays in ``cache/`` are derived from it
and rebuilt when stale. ``removed`` logs deleted rowids so a cache can tell what
left without rereading every row.

Version 2 (capture metadata, docs/metadata.md) adds nullable columns — cheap in
SQLite whatever the row count: ``ALTER TABLE … ADD COLUMN`` rewrites no row — and
``image_keys``, the folded place and camera names of each row (``kind`` "place" or
"camera"), indexed by key so a place or camera filter is an index lookup. Rows
from version 1 keep every feature and have ``meta_version`` NULL until the next
``picfind index`` reads their headers (no model run).
"""

from __future__ import annotations

import json
import sqlite3
import time

from picfind.errors import StoreError

SCHEMA_VERSION = 2

_MIGRATIONS: dict[int, str] = {
    1: """
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE images (
        rowid INTEGER PRIMARY KEY AUTOINCREMENT,
        id TEXT NOT NULL UNIQUE,
        path TEXT NOT NULL UNIQUE,
        content_hash TEXT NOT NULL,
        size INTEGER NOT NULL,
        mtime_ns INTEGER NOT NULL,
        width INTEGER NOT NULL,
        height INTEGER NOT NULL,
        format TEXT NOT NULL,
        model TEXT NOT NULL,          -- whose features these are (the index's model)
        class_ids BLOB NOT NULL,      -- uint16[k], most probable first
        class_probs BLOB NOT NULL,    -- float32[k]
        embedding BLOB NOT NULL,      -- float16[D], unit norm
        indexed_at REAL NOT NULL
    );
    CREATE INDEX images_hash ON images (content_hash);
    CREATE TABLE removed (seq INTEGER PRIMARY KEY AUTOINCREMENT, image_rowid INTEGER NOT NULL);
    CREATE TRIGGER images_removed AFTER DELETE ON images
    BEGIN
        INSERT INTO removed (image_rowid) VALUES (old.rowid);
    END;
    """,
    2: """
    ALTER TABLE images ADD COLUMN taken TEXT;          -- local, ISO: 2019-07-14T12:34:56
    ALTER TABLE images ADD COLUMN taken_day INTEGER;   -- 20190714
    ALTER TABLE images ADD COLUMN taken_md INTEGER;    -- 714
    ALTER TABLE images ADD COLUMN utc_offset INTEGER;  -- minutes east of UTC
    ALTER TABLE images ADD COLUMN taken_source TEXT;
    ALTER TABLE images ADD COLUMN lat REAL;
    ALTER TABLE images ADD COLUMN lon REAL;
    ALTER TABLE images ADD COLUMN city TEXT;
    ALTER TABLE images ADD COLUMN region TEXT;
    ALTER TABLE images ADD COLUMN country TEXT;
    ALTER TABLE images ADD COLUMN country_code TEXT;
    ALTER TABLE images ADD COLUMN place_label TEXT;
    ALTER TABLE images ADD COLUMN make TEXT;
    ALTER TABLE images ADD COLUMN camera_model TEXT;   -- "model" is the index's model
    ALTER TABLE images ADD COLUMN lens TEXT;
    ALTER TABLE images ADD COLUMN camera TEXT;
    ALTER TABLE images ADD COLUMN meta_version INTEGER;
    CREATE INDEX images_taken_day ON images (taken_day);
    CREATE TABLE image_keys (
        image_rowid INTEGER NOT NULL,
        kind TEXT NOT NULL,               -- "place" | "camera"
        key TEXT NOT NULL
    );
    CREATE INDEX image_keys_key ON image_keys (kind, key, image_rowid);
    CREATE INDEX image_keys_row ON image_keys (image_rowid);
    CREATE TRIGGER images_keys_removed AFTER DELETE ON images
    BEGIN
        DELETE FROM image_keys WHERE image_rowid = old.rowid;
    END;
    """,
}


def version_of(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def migrate(conn: sqlite3.Connection) -> None:
    """Bring a database to SCHEMA_VERSION; refuse one written by a newer picfind."""
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if version > SCHEMA_VERSION:
        raise StoreError(
            f"index schema version {version} is newer than this picfind ({SCHEMA_VERSION}); "
            "upgrade picfind"
        )
    for step in range(version + 1, SCHEMA_VERSION + 1):
        # An existing index (version ≥ 1) records what was done, for ``picfind stats``.
        done = json.dumps({"from": version, "to": step, "at": int(time.time())})
        record = (
            f"INSERT OR REPLACE INTO meta (key, value) VALUES ('migrated', '{done}');"
            if version >= 1
            else ""
        )
        try:
            conn.executescript(
                "BEGIN IMMEDIATE;"
                + _MIGRATIONS[step]
                + record
                + f"PRAGMA user_version = {step}; COMMIT;"
            )
        except sqlite3.OperationalError:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            # Another process may have run the same step first; that is fine.
            if conn.execute("PRAGMA user_version").fetchone()[0] < step:
                raise
