"""The embedded index's SQLite schema, versioned with step-by-step migrations.

SQLite is the durable truth; the NumPy arrays in ``cache/`` are derived from it
and rebuilt when stale. ``removed`` logs deleted rowids so a cache can tell what
left without rereading every row.
"""

from __future__ import annotations

import sqlite3

from picfind.errors import StoreError

SCHEMA_VERSION = 1

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
}


def migrate(conn: sqlite3.Connection) -> None:
    """Bring a database to SCHEMA_VERSION; refuse one written by a newer picfind."""
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if version > SCHEMA_VERSION:
        raise StoreError(
            f"index schema version {version} is newer than this picfind ({SCHEMA_VERSION}); "
            "upgrade picfind"
        )
    for step in range(version + 1, SCHEMA_VERSION + 1):
        try:
            conn.executescript(
                "BEGIN IMMEDIATE;" + _MIGRATIONS[step] + f"PRAGMA user_version = {step}; COMMIT;"
            )
        except sqlite3.OperationalError:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            # Another process may have run the same step first; that is fine.
            if conn.execute("PRAGMA user_version").fetchone()[0] < step:
                raise
