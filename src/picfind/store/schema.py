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

Version 3 (read text, docs/ocr.md) adds ``texts`` and its FTS5 index ``text_fts``
(``TEXTS_STEP``); rows have no text until the OCR pass reads them.

Version 4 (``CAPTURE_STEP``) adds ``capture_changes``, one counter that triggers bump
whenever the capture facts of a stored row change in place (a backfill, a re-read), so
the NumPy copy of those facts (``store/facts.py``) knows when it is stale; rows added
after it was made are read on their own, and removed rows are masked by the segments.

Version 5 (``HASH_STEP``) is the content key's second kind (``picfind.hashing``): rows
written from it carry ``b3:``-prefixed BLAKE3 keys, older rows keep their bare BLAKE2b
keys (each key says its kind; no row is rewritten). ``images_size`` serves the look-up
by size that finds old-kind rows a file may match (its old key is computed only then).
The step exists so that an older picfind, which cannot recognise the new keys, refuses
the index instead of missing its moves.
"""

from __future__ import annotations

import json
import sqlite3
import time

from picfind.errors import StoreError

SCHEMA_VERSION = 5

TEXTS_STEP = """
    -- Text read in photos (the OCR pass, docs/ocr.md). Keyed by the image's rowid:
    -- new content is a new row, so a changed file has no text until it is read again.
    CREATE TABLE IF NOT EXISTS texts (
        image_rowid  INTEGER PRIMARY KEY,
        content_hash TEXT NOT NULL,   -- the content the text was read from
        version      TEXT NOT NULL,   -- the reader's version (a new one reads again)
        text         TEXT NOT NULL,   -- plain lines, '' when the photo shows none
        record       TEXT,            -- ReadText.to_dict() as JSON: lines, boxes (NULL: failed)
        failure      TEXT             -- why reading failed (not retried by the same version)
    );
    -- picfind.textnorm's words and parts of the text (rowid = image rowid); phrases,
    -- prefixes; terms arrive folded, remove_diacritics only guards hand-written input.
    CREATE VIRTUAL TABLE IF NOT EXISTS text_fts USING fts5(
        words, parts,
        tokenize = "unicode61 remove_diacritics 2 tokenchars ':.,/-'",
        prefix = '3 4'
    );
    CREATE TRIGGER IF NOT EXISTS images_texts_removed AFTER DELETE ON images
    BEGIN
        DELETE FROM texts WHERE image_rowid = old.rowid;
    END;
    CREATE TRIGGER IF NOT EXISTS texts_fts_removed AFTER DELETE ON texts
    BEGIN
        DELETE FROM text_fts WHERE rowid = old.image_rowid;
    END;
"""
"""The step that adds read text (independent of any other step: it only creates its own
tables and triggers, ``IF NOT EXISTS``, so it may be renumbered among others)."""

CAPTURE_STEP = """
    CREATE TABLE IF NOT EXISTS capture_changes (
        id  INTEGER PRIMARY KEY CHECK (id = 1),
        seq INTEGER NOT NULL
    );
    INSERT OR IGNORE INTO capture_changes (id, seq) VALUES (1, 0);
    -- An in-place update of what date and hemisphere filters read (every metadata update
    -- writes meta_version with the whole record).
    CREATE TRIGGER IF NOT EXISTS images_capture_changed
    AFTER UPDATE OF taken_day, taken_md, lat, meta_version ON images
    BEGIN
        UPDATE capture_changes SET seq = seq + 1;
    END;
    -- Place or camera keys of a row still stored (not the cascade of its removal) …
    CREATE TRIGGER IF NOT EXISTS image_keys_removed_changed AFTER DELETE ON image_keys
    WHEN EXISTS (SELECT 1 FROM images WHERE rowid = old.image_rowid)
    BEGIN
        UPDATE capture_changes SET seq = seq + 1;
    END;
    -- … or added to a row older than the newest (the newest row's keys arrive with it,
    -- and rows added since the copy was made are read anyway).
    CREATE TRIGGER IF NOT EXISTS image_keys_added_changed AFTER INSERT ON image_keys
    WHEN new.image_rowid < (SELECT max(rowid) FROM images)
    BEGIN
        UPDATE capture_changes SET seq = seq + 1;
    END;
"""
"""The step that lets a copy of the capture facts tell it is stale (``store/facts.py``)."""

HASH_STEP = """
    CREATE INDEX IF NOT EXISTS images_size ON images (size);
    INSERT OR REPLACE INTO meta (key, value) VALUES ('content_hash',
        '{"current": "blake3-128", "prefix": "b3:", "unprefixed": "blake2b-128"}');
"""
"""The step of the content key's second kind (see the module docstring)."""

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
    3: TEXTS_STEP,
    4: CAPTURE_STEP,
    5: HASH_STEP,
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
