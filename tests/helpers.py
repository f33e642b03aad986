"""Small helpers shared by tests that watch an index from outside."""

from __future__ import annotations

import sqlite3
from pathlib import Path


def committed(db: Path) -> int:
    """Rows committed so far, through a read-only connection (0 before the table exists)."""
    if not db.exists():
        return 0
    try:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)
        try:
            return conn.execute("SELECT count(*) FROM images").fetchone()[0]
        finally:
            conn.close()
    except sqlite3.OperationalError:  # no table yet, or the file is being created
        return 0
